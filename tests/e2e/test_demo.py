"""``make demo`` (``scripts/demo.py``) beside another emulator: it judges only its own processes and folder."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import psutil
import pytest

from dask_dataproc_emulator.testing import dask_processes, run_emulator

from .conftest import REPO

DEMO = REPO / "scripts" / "demo.py"
WHERE = {"project_id": "local-project", "region": "europe-west1"}
#: A single-node cluster: one scheduler and one worker.
SINGLE_NODE = {"software_config": {"properties": {"dataproc:dataproc.allow.zero.workers": "true"}}}


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the demo as ``make demo`` does, with the test's interpreter."""
    return subprocess.run([sys.executable, str(DEMO), *args], capture_output=True, text=True, timeout=900)


def demo_module():
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def other_emulator(tmp_path_factory):
    """Another emulator on the machine, as ``make emulator`` runs it, with a RUNNING cluster."""
    with run_emulator(tmp_path_factory.mktemp("clone") / ".emulator") as emulator:
        operation = emulator.cluster_client().create_cluster(
            **WHERE, cluster={"cluster_name": "theirs", "config": SINGLE_NODE}
        )
        operation.result(timeout=180)
        yield emulator


@pytest.fixture(scope="module")
def demo_run(other_emulator, tmp_path_factory):
    theirs = dask_processes(parent=other_emulator.pid)
    workdir = tmp_path_factory.mktemp("clone") / ".demo"
    return demo("--workdir", str(workdir)), theirs


def test_the_demo_succeeds_beside_another_emulator_with_a_running_cluster(demo_run):
    result, _ = demo_run

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "Emulator stopped; no Dask process of the demo left running." in result.stdout


def test_the_other_emulators_cluster_keeps_running_with_its_dask_processes(demo_run, other_emulator):
    _, theirs = demo_run

    cluster = other_emulator.cluster_client().get_cluster(**WHERE, cluster_name="theirs")

    assert cluster.status.state.name == "RUNNING"
    assert len(theirs) >= 2  # the scheduler and the worker
    assert all(psutil.pid_exists(process.pid) for process in theirs)
    assert {p.pid for p in theirs} <= {p.pid for p in dask_processes(parent=other_emulator.pid)}


def test_the_demo_leaves_a_folder_it_did_not_make_alone(tmp_path):
    workdir = tmp_path / ".demo"
    (workdir / "emulator").mkdir(parents=True)
    (workdir / "emulator" / "kept.txt").write_text("someone's data")

    result = demo("--workdir", str(workdir))

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{workdir} was not made by the demo" in result.stderr
    assert (workdir / "emulator" / "kept.txt").read_text() == "someone's data"


def test_the_demo_replaces_its_own_previous_folder(tmp_path):
    fresh_workdir = demo_module().fresh_workdir
    workdir = tmp_path / ".demo"
    assert fresh_workdir(workdir)
    (workdir / "airflow").mkdir()

    assert fresh_workdir(workdir)
    assert [path.name for path in workdir.iterdir()] == [demo_module().MARKER]


def test_make_emulator_keeps_its_data_outside_the_demos_folder():
    [data_dir] = re.findall(r"dask-dataproc-emulator .*--data-dir (\S+)", (REPO / "Makefile").read_text())

    assert data_dir == ".emulator"
