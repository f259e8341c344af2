"""What every job script shares (``jobs/dask_job.py``): one module, shipped beside the script, the runtime rule."""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from .conftest import JOBS

REPO = JOBS.parent

JOB_SCRIPTS = ["csv_to_parquet", "word_count", "parquet_analytics", "ml_training", "graph_analytics"]
#: What ``dask_job.py`` holds for every job; no job script defines its own.
SHARED = [
    "JobFailure",
    "scheduler_address",
    "choose_runtime",
    "connect",
    "cluster_client",
    "wait_for_workers",
    "check_output_apart",
    "frame_checksum",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "byte_size",
    "add_cluster_arguments",
    "run_job",
    "resolve_input",
    "byte_blocks",
    "read_lines_block",
    "import_dask",
    "require_libraries",
    "require_on_workers",
    "main_by_name",
    "upload_code",
]


def job(name: str):
    return importlib.import_module(f"airflow_dask_provider.jobs.{name}")


dask_job = job("dask_job")


@pytest.mark.parametrize("name", JOB_SCRIPTS)
def test_job_scripts_use_the_shared_module_and_define_none_of_its_helpers(name):
    tree = ast.parse((JOBS / f"{name}.py").read_text())
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}

    assert job(name).dask_job is dask_job
    assert defined.isdisjoint(SHARED), f"{name}.py defines {sorted(defined & set(SHARED))} again"


def test_a_job_script_run_as_a_file_finds_the_module_beside_it_and_only_there(tmp_path):
    """As on Dataproc: the driver runs the main file with its py_files beside it on ``sys.path``."""
    alone, beside = tmp_path / "alone", tmp_path / "beside"
    for folder, files in ((alone, ["word_count.py"]), (beside, ["word_count.py", "dask_job.py"])):
        folder.mkdir()
        for name in files:
            (folder / name).write_bytes((JOBS / name).read_bytes())
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}

    def help_of(folder: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(folder / "word_count.py"), "--help"]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    assert "No module named 'dask_job'" in help_of(alone).stderr
    assert "--scheduler-address" in help_of(beside).stdout


def unpickle_elsewhere(blob: bytes) -> subprocess.CompletedProcess[bytes]:
    """Load ``blob`` in a fresh interpreter that cannot import a top-level ``dask_job``, as a worker."""
    code = "import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); print(f.__name__)"
    return subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, cwd="/", timeout=120)


def test_tasks_calling_the_shared_module_reach_workers_that_lack_it(monkeypatch):
    """The driver imports ``dask_job`` from beside the script; cluster_client makes it travel by value."""
    import cloudpickle

    spec = importlib.util.spec_from_file_location("dask_job", JOBS / "dask_job.py")
    top_level = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "dask_job", top_level)
    spec.loader.exec_module(top_level)

    assert b"No module named 'dask_job'" in unpickle_elsewhere(cloudpickle.dumps(top_level.frame_checksum)).stderr

    monkeypatch.setitem(sys.modules, "dask_yarn", None)  # cluster_client fails after registering
    args = job("word_count").build_parser().parse_args(["--input=x", "--output=y", "--runtime=yarn"])
    with pytest.raises(top_level.JobFailure):
        with top_level.cluster_client(args):
            pass
    try:
        blob = cloudpickle.dumps(top_level.frame_checksum)
    finally:
        cloudpickle.unregister_pickle_by_value(top_level)
    loaded = unpickle_elsewhere(blob)

    assert (loaded.returncode, loaded.stdout.strip()) == (0, b"frame_checksum"), loaded.stderr
    assert os.environ["PATH"].encode() not in blob, "the driver's environment must not travel with the tasks"


@pytest.mark.parametrize("script", [f"{name}.py" for name in JOB_SCRIPTS] + ["generate.py"])
def test_job_script_imports_neither_airflow_nor_the_provider(script):
    tree = ast.parse((JOBS / script).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("airflow", "airflow_dask_provider")}


@pytest.mark.parametrize("name", JOB_SCRIPTS)
def test_every_job_takes_input_output_and_the_cluster_options(name):
    parser = job(name).build_parser()
    options = {option for action in parser._actions for option in action.option_strings}

    assert {"--input", "--output", "--scheduler-address", "--runtime", "--connect-timeout"} <= options


@pytest.mark.parametrize("name", ["csv_to_parquet", "word_count", "parquet_analytics"])
@pytest.mark.parametrize("size", ["0", "-1MiB", "big", ""])
def test_a_blocksize_that_is_not_a_positive_size_is_refused_naming_it(name, size, capsys):
    with pytest.raises(SystemExit) as exited:
        job(name).build_parser().parse_args(["--input=in", "--output=out", f"--blocksize={size}"])

    assert exited.value.code == 2
    assert f"argument --blocksize: not a positive size such as 64MiB: {size!r}" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["csv_to_parquet", "word_count", "parquet_analytics"])
def test_a_blocksize_is_kept_as_given(name):
    assert job(name).build_parser().parse_args(["--input=in", "--output=out", "--blocksize=1MiB"]).blocksize == "1MiB"


@pytest.mark.parametrize(
    ("runtime", "flag", "environ", "yarn_config", "expected"),
    [
        ("auto", None, {}, None, "standalone"),
        ("auto", None, {}, {"environment": "python:///opt/conda/bin/python"}, "yarn"),
        ("auto", "tcp://flag:1", {}, {"environment": "x"}, "standalone"),
        ("auto", None, {"DASK_SCHEDULER_ADDRESS": "tcp://env:2"}, {"environment": "x"}, "standalone"),
        ("yarn", "tcp://flag:1", {}, None, "yarn"),
        ("standalone", None, {}, {"environment": "x"}, "standalone"),
    ],
)
def test_runtime_auto_follows_the_address_then_the_dask_config(runtime, flag, environ, yarn_config, expected):
    assert dask_job.choose_runtime(runtime, flag, environ, yarn_config) == expected


def yarn_runtime_versions() -> dict[str, str]:
    """Return the versions of the checked libraries that the yarn runtime installs (``YARN_LOCK``)."""
    listed = subprocess.run(
        [
            "bash",
            "-c",
            'source "$1" && printf "%s\\n" "${YARN_LOCK[@]}"',
            "bash",
            str(REPO / "init_actions" / "dask.sh"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    pins = dict(pin.split("==") for pin in listed)
    return {name: pins[name] for name in dask_job.MINIMUM_VERSIONS}


def test_the_libraries_here_are_new_enough_for_the_jobs():
    dask_job.require_libraries("word_count")  # returns: the test environment is a supported one


def test_older_libraries_stop_a_job_naming_each_with_its_version_and_the_runtime_to_use():
    versions = yarn_runtime_versions()
    with pytest.raises(SystemExit) as exited:
        dask_job.require_libraries("word_count", installed=versions.__getitem__)

    message = str(exited.value.code)
    assert message.startswith("word_count: error: dask 2022.1.1 is too old (needs 2024.8.0 or newer); ")
    for name, found in versions.items():
        too_old = Version(found) < Version(dask_job.MINIMUM_VERSIONS[name])
        named = f"{name} {found} is too old (needs {dask_job.MINIMUM_VERSIONS[name]} or newer)" in message
        assert named == too_old, name  # the lock's pyarrow 14.0.2 is new enough; its dask and pandas are not
    assert {"dask", "distributed", "pandas"} <= {name for name in versions if f"{name} " in message}
    assert "standalone Dask runtime" in message


def test_only_the_libraries_that_are_too_old_or_missing_are_named():
    from importlib.metadata import PackageNotFoundError

    def installed(name: str) -> str:
        if name == "pyarrow":
            raise PackageNotFoundError(name)
        return {"pandas": "1.5.3"}.get(name, "2026.1.0")

    with pytest.raises(SystemExit) as exited:
        dask_job.require_libraries("parquet_analytics", installed=installed)

    problems = str(exited.value.code).split(" in ")[0].removeprefix("parquet_analytics: error: ").split("; ")
    assert problems == [
        "pandas 1.5.3 is too old (needs 2.0.0 or newer)",
        "pyarrow is not installed (needs 14.0.1 or newer)",
    ]


def lower_bounds(lines: list[str]) -> dict[str, Version]:
    """Return the ``>=`` (or ``==``) version of each requirement among ``lines``, by project name."""
    requirements = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    return {
        req.name: Version(spec.version)
        for req in requirements
        for spec in req.specifier
        if spec.operator in (">=", "==")
    }


def test_the_jobs_check_and_are_tested_at_the_lower_bounds_the_provider_declares():
    """The jobs run without the provider installed, so they carry its lower bounds; the lower-bounds run installs them."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    sections = [config["options"]["install_requires"], *config["options.extras_require"].values()]
    declared = lower_bounds([line for section in sections for line in section.splitlines()])
    tested = lower_bounds((REPO / "constraints" / "jobs-lower-bounds.in").read_text().splitlines())
    checked = {name: Version(version) for name, version in dask_job.MINIMUM_VERSIONS.items()}

    assert {"dask", "distributed", "pyarrow", "fsspec", "xgboost-cpu"} <= set(declared) & set(tested)
    assert {name: tested[name] for name in declared if name in tested} == {
        name: declared[name] for name in declared if name in tested
    }
    assert {name: tested[name] for name in checked} == checked


def run_script_after(setup: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the job script ``name`` as a file with ``args``, in a fresh interpreter that first runs ``setup``."""
    script = JOBS / f"{name}.py"
    code = (
        f"import runpy, sys; {setup}; sys.argv = [{script.name!r}, *{list(args)!r}]; "
        f"sys.path.insert(0, {str(JOBS)!r}); runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", JOB_SCRIPTS)
def test_a_job_in_an_older_environment_stops_before_its_own_code_with_status_1(name):
    """As in the yarn runtime: the script, run as a file, fails at once naming what it lacks."""
    ran = run_script_after(
        "import importlib.metadata as m; "
        "m.version = lambda name: '1.4.0' if name == 'pandas' else m.distribution(name).version",
        name,
        "--help",
    )

    assert ran.returncode == 1
    assert ran.stdout == ""
    assert ran.stderr.strip().startswith(f"{name}: error: pandas 1.4.0 is too old (needs 2.0.0 or newer) in ")


def test_workers_that_cannot_import_a_module_are_named_before_any_work(dask_cluster):
    from distributed import Client

    with Client(dask_cluster) as client:
        dask_job.require_on_workers(client, "xgboost", "unused")  # every worker has it: returns
        with pytest.raises(dask_job.JobFailure) as failed:
            dask_job.require_on_workers(client, "no_module_of_this_name", "install it")
        workers = sorted(client.scheduler_info()["workers"])

    assert str(failed.value) == (
        f"2 of 2 Dask worker(s) cannot import no_module_of_this_name ({', '.join(workers)}): install it"
    )


def test_ml_training_without_xgboost_fails_at_once_naming_how_to_install_it(tmp_path):
    ran = run_script_after(
        "sys.modules['xgboost'] = None", "ml_training", "--input", str(tmp_path), "--output", str(tmp_path / "out")
    )

    assert ran.returncode == 1
    assert ran.stdout == ""
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("ml_training: error: cannot import xgboost.dask here (")
    assert last.endswith(
        "install xgboost-cpu 2.1.1 or newer on the driver and the workers: on Dataproc with the "
        "initialization action's dask-pip-packages metadata, elsewhere with pip install "
        "'airflow-dask-provider[jobs]'"
    )


def test_yarn_runtime_without_dask_yarn_fails_naming_the_way_out(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask_yarn", None)  # as if not installed
    args = job("word_count").build_parser().parse_args(["--input=x", "--output=y", "--runtime=yarn"])

    with pytest.raises(dask_job.JobFailure, match="pass --runtime standalone"):
        with dask_job.cluster_client(args):
            pass


@pytest.mark.parametrize("blocksize", [1, 7, 10, 11, 64, 10_000])
def test_blocks_hold_every_line_once_whatever_the_blocksize(tmp_path, blocksize):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"".join(f"line {n}\n".encode() for n in range(40)) + b"no newline at the end")
    module = dask_job

    blocks = module.byte_blocks([str(path)], blocksize)
    joined = b"".join(module.read_lines_block(url, offset, length) for url, offset, length in blocks)

    assert joined == path.read_bytes()


def test_a_compressed_file_is_one_block(tmp_path):
    import gzip

    path = tmp_path / "lines.txt.gz"
    path.write_bytes(gzip.compress(b"a b\nc\n"))
    module = dask_job

    [(url, offset, length)] = module.byte_blocks([str(path)], 2)
    assert module.read_lines_block(url, offset, length) == b"a b\nc\n"
