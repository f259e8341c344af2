"""A job script runs as the module of its name and uploads its code, so tasks name its functions."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import JOBS

dask_job = importlib.import_module("airflow_dask_provider.jobs.dask_job")

#: A job script in miniature: it prints where its function lives and how many bytes a task of it pickles to.
PROBE = """\
import sys

import dask_job


def add_one(x):
    return x + 1


def main(argv=None):
    from distributed.protocol.pickle import dumps

    print(add_one.__module__, len(dumps(add_one)), " ".join(path.name for path in dask_job._CODE_FILES))
    return 0


if __name__ == "__main__":
    sys.exit(dask_job.main_by_name(__file__, main))
"""


def write_probe(folder: Path, name: str = "probe_job") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dask_job.py").write_bytes((JOBS / "dask_job.py").read_bytes())
    script = folder / f"{name}.py"
    script.write_text(PROBE)
    return script


def run(command: list[str], **env: str) -> list[str]:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_job_script_runs_as_the_module_of_its_name_and_its_functions_pickle_by_name(tmp_path):
    script = write_probe(tmp_path / "job")

    module, size, *uploads = run([sys.executable, str(script)])
    driver = f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    by_driver, *_ = run([sys.executable, "-c", driver], PYTHONPATH=str(script.parent))  # beside it, as py_files

    assert module == "probe_job"
    assert uploads == ["dask_job.py", "probe_job.py"]  # the shared module first: the job's module imports it
    assert int(size) < 200  # a reference: module and name
    assert by_driver == "probe_job"  # run by a driver (runpy), as on Dataproc and the emulator, too


def test_a_script_whose_name_another_module_takes_runs_as_it_is_with_its_functions_by_value(tmp_path):
    script = write_probe(tmp_path / "job")
    other = tmp_path / "other"
    other.mkdir()
    (other / "probe_job.py").write_text("VALUE = 'another module of the same name'\n")

    # The other folder comes first on the path, the script's own folder after it.
    driver = f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    module, size, *uploads = run([sys.executable, "-c", driver], PYTHONPATH=f"{other}:{script.parent}")

    assert module == "__main__"  # left as it was: nothing to upload, its functions travel by value
    assert uploads == []
    assert int(size) > 200


def probe_module(tmp_path: Path, body: str) -> tuple[str, Path]:
    """Write a module of a name no process has imported yet; return its name and path."""
    name = f"uploaded_probe_{uuid.uuid4().hex[:12]}"
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return name, path


def test_uploaded_code_reaches_the_scheduler_every_worker_and_a_worker_that_joins_later(tmp_path, dask_cluster):
    from distributed import Client

    name, path = probe_module(tmp_path, "VALUE = 42\n\ndef triple(x):\n    return 3 * x\n")

    def value() -> int:
        return importlib.import_module(name).VALUE

    with Client(dask_cluster) as client, dask_job.code_on_cluster(client, [path]):
        on_workers = client.run(value)
        spec = importlib.util.spec_from_file_location(name, path)  # the driver imports it from its own file
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        try:
            tripled = client.submit(module.triple, 5).result(timeout=60)
            dask_cluster.scale(3)
            client.wait_for_workers(3, timeout=120)
            joined = client.run(value)
        finally:
            sys.modules.pop(name, None)
            dask_cluster.scale(2)
            client.wait_for_workers(2, timeout=120)

    assert list(on_workers.values()) == [42, 42]
    assert tripled == 15
    assert list(joined.values()) == [42, 42, 42]


def test_the_next_upload_of_a_file_replaces_the_first(tmp_path, dask_cluster):
    from distributed import Client

    name, path = probe_module(tmp_path, "VALUE = 1\n")

    def value() -> int:
        return importlib.import_module(name).VALUE

    with Client(dask_cluster) as client:
        dask_job.upload_code(client, [path])
        path.write_text("VALUE = 2\n")
        dask_job.upload_code(client, [path])

        assert list(client.run(value).values()) == [2, 2]
        assert client.run_on_scheduler(value) == 2
        plugins = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.worker_plugins))
        dask_job.forget_code(client, [path])
    assert plugins.count(f"dask-job-code-{path.name}") == 1


def test_the_upload_lasts_as_long_as_the_job_also_when_the_job_fails(tmp_path, dask_cluster):
    from distributed import Client

    _, path = probe_module(tmp_path, "VALUE = 7\n")
    plugin = f"dask-job-code-{path.name}"

    def registered(dask_scheduler) -> tuple[bool, bool]:
        return plugin in dask_scheduler.worker_plugins, plugin in dask_scheduler.plugins

    with Client(dask_cluster) as client:
        with pytest.raises(RuntimeError, match="the job failed"):
            with dask_job.code_on_cluster(client, [path]):
                during = client.run_on_scheduler(registered)
                raise RuntimeError("the job failed")
        after = client.run_on_scheduler(registered)

    assert during == (True, True)
    assert after == (False, False)  # a worker that joins now gets nothing of the job


def test_code_that_cannot_be_imported_on_the_cluster_fails_the_job_naming_the_file(tmp_path, dask_cluster):
    from distributed import Client

    _, path = probe_module(tmp_path, "import no_module_of_this_name\n")

    with Client(dask_cluster) as client:
        with pytest.raises(dask_job.JobFailure, match=rf"cannot load {path.name} on the Dask cluster: .*no_module_of"):
            dask_job.upload_code(client, [path])


def test_a_job_whose_second_file_fails_to_load_leaves_no_plugin_of_the_first(tmp_path, dask_cluster):
    from distributed import Client

    _, good = probe_module(tmp_path, "VALUE = 1\n")
    _, bad = probe_module(tmp_path, "import no_module_of_this_name\n")

    def ours(dask_scheduler) -> list[str]:
        names = [*dask_scheduler.plugins, *dask_scheduler.worker_plugins]
        return [name for name in names if name.endswith((good.name, bad.name))]

    with Client(dask_cluster) as client:
        with pytest.raises(dask_job.JobFailure, match=bad.name):
            with dask_job.code_on_cluster(client, [good, bad]):
                pass
        left = client.run_on_scheduler(ours)

    assert left == []
