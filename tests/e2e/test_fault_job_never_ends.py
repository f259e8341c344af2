"""Issue 20 acceptance: Airflow is SIGKILLed while a job that never ends runs, and never comes back.

The idle TTL cannot fire (a job is running) and nobody cancels the job, so only the cluster's maximum
life can end it: every cluster gets ``auto_delete_ttl`` from ``[dask_dataproc] default_auto_delete_ttl``
(8 hours). The emulator runs the clusters' clocks 500 times faster, so it passes in under a minute.
The cluster asks for the longest idle TTL, so that only the maximum life can delete it.
"""

from __future__ import annotations

import time

import pytest
from google.api_core.exceptions import NotFound

from dask_dataproc_emulator.processes import tail
from dask_dataproc_emulator.testing import dask_processes, run_emulator
from tests.devtools import DagTestProcess, airflow_environment, migrate_db

from .conftest import REPO

WHERE = {"project_id": "local-project", "region": "europe-west1"}
SCALE = 500
MAXIMUM_LIFE = 8 * 3600


@pytest.fixture(scope="module")
def fast_emulator(tmp_path_factory):
    with run_emulator(tmp_path_factory.mktemp("emulator"), time_scale=SCALE) as running:
        yield running
    assert dask_processes(parent=running.pid, wait=30) == []


@pytest.fixture(scope="module")
def orphan(fast_emulator, tmp_path_factory):
    """Start a run whose job never ends; SIGKILL all of Airflow once the job runs."""
    home = tmp_path_factory.mktemp("airflow-killed")
    env = airflow_environment(
        airflow_home=home,
        dags_folder=REPO / "tests" / "e2e" / "dags",
        emulator_host=fast_emulator.grpc_target,
        storage_url=fast_emulator.storage_url,
    )
    migrate_db(env)
    run = DagTestProcess("concurrent_runs", env=env, log_path=home / "run.log", conf={"idle_ttl": "14d"})
    jobs = fast_emulator.job_client()
    try:
        deadline = time.monotonic() + 300
        while not (running := [j for j in jobs.list_jobs(**WHERE) if j.status.state.name == "RUNNING"]):
            assert run.running(), f"the run ended before its job ran:\n{run.output()[-4000:]}"
            assert time.monotonic() < deadline, f"the job never ran:\n{run.output()[-4000:]}"
            time.sleep(0.3)
    finally:
        run.kill()
    [cluster] = fast_emulator.cluster_client().list_clusters(**WHERE)
    return {"cluster": cluster, "job_id": running[0].reference.job_id, "killed_at": time.monotonic()}


def test_the_orphaned_cluster_has_the_default_maximum_life(orphan):
    cluster = orphan["cluster"]

    assert cluster.status.state.name == "RUNNING"
    assert cluster.config.lifecycle_config.auto_delete_ttl.total_seconds() == MAXIMUM_LIFE


@pytest.fixture(scope="module")
def gone(orphan, fast_emulator):
    """Wait until the orphaned cluster is gone; return the job's state at the last look that found the
    cluster RUNNING (the emulator ends a job in ERROR as Dataproc does once its cluster is deleted)."""
    name = orphan["cluster"].cluster_name
    clusters, jobs = fast_emulator.cluster_client(), fast_emulator.job_client()
    state = None
    deadline = time.monotonic() + 300
    while True:
        try:
            cluster = clusters.get_cluster(**WHERE, cluster_name=name)
        except NotFound:
            return {"job_state_before": state}
        if cluster.status.state.name == "RUNNING":
            status = jobs.get_job(**WHERE, job_id=orphan["job_id"]).status
            state = status.state.name if status.state.name == "RUNNING" else f"{status.state.name}: {status.details}"
        assert time.monotonic() < deadline, f"cluster {name} was never deleted:\n{tail(fast_emulator.log_file, 20)}"
        time.sleep(1)


def test_the_maximum_life_deletes_the_cluster_whose_job_never_ends(orphan, gone, fast_emulator):
    name = orphan["cluster"].cluster_name

    # Airflow was gone; the job ran until the cluster went (a look during the deletion sees its end)
    assert gone["job_state_before"] in ("RUNNING", "ERROR: Job terminated: cluster deleted")
    log = fast_emulator.log_file.read_text()
    assert f"clusters/{name}: " in log and f"old, auto_delete_ttl {MAXIMUM_LIFE}s; deleting it" in log
    assert "idle for" not in log


def test_no_cluster_and_no_dask_process_is_left(gone, fast_emulator):
    assert list(fast_emulator.cluster_client().list_clusters(**WHERE)) == []
    assert dask_processes(parent=fast_emulator.pid, wait=30) == []
