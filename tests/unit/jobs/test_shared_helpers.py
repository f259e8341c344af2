"""What every job script shares: copies kept identical, the runtime rule, and no Airflow import."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from .conftest import JOBS

JOB_SCRIPTS = ["csv_to_parquet", "word_count", "parquet_analytics", "ml_training", "graph_analytics"]
SHARED = [
    "JobFailure", "scheduler_address", "choose_runtime", "connect", "cluster_client", "wait_for_workers",
    "check_output_apart", "frame_checksum", "_positive_int", "_non_negative_int", "_positive_float",
    "add_cluster_arguments", "run_job",
]  # fmt: skip
BLOCK_READING = ["resolve_input", "byte_blocks", "read_lines_block"]


def job(name: str):
    return importlib.import_module(f"airflow_dask_provider.jobs.{name}")


@pytest.mark.parametrize("name", JOB_SCRIPTS[1:])
def test_shared_helpers_are_identical_copies_of_csv_to_parquets(name):
    for helper in SHARED:
        assert inspect.getsource(getattr(job(name), helper)) == inspect.getsource(
            getattr(job("csv_to_parquet"), helper)
        ), f"{name}.{helper} drifted from csv_to_parquet.{helper}"


def test_block_reading_helpers_are_identical_in_word_count():
    for helper in BLOCK_READING:
        assert inspect.getsource(getattr(job("word_count"), helper)) == inspect.getsource(
            getattr(job("csv_to_parquet"), helper)
        )


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
    assert job("word_count").choose_runtime(runtime, flag, environ, yarn_config) == expected


def test_yarn_runtime_without_dask_yarn_fails_naming_the_way_out(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask_yarn", None)  # as if not installed
    args = job("word_count").build_parser().parse_args(["--input=x", "--output=y", "--runtime=yarn"])

    with pytest.raises(job("word_count").JobFailure, match="pass --runtime standalone"):
        with job("word_count").cluster_client(args):
            pass


@pytest.mark.parametrize("blocksize", [1, 7, 10, 11, 64, 10_000])
def test_blocks_hold_every_line_once_whatever_the_blocksize(tmp_path, blocksize):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"".join(f"line {n}\n".encode() for n in range(40)) + b"no newline at the end")
    module = job("word_count")

    blocks = module.byte_blocks([str(path)], blocksize)
    joined = b"".join(module.read_lines_block(url, offset, length) for url, offset, length in blocks)

    assert joined == path.read_bytes()


def test_a_compressed_file_is_one_block(tmp_path):
    import gzip

    path = tmp_path / "lines.txt.gz"
    path.write_bytes(gzip.compress(b"a b\nc\n"))
    module = job("word_count")

    [(url, offset, length)] = module.byte_blocks([str(path)], 2)
    assert module.read_lines_block(url, offset, length) == b"a b\nc\n"
