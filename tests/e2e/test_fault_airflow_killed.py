"""Issue 4 acceptance: the Airflow task running the job is killed with SIGKILL mid-job and Airflow
never comes back. The job runs to its end, the cluster becomes idle, and the emulator's enforcement of
``idle_delete_ttl`` deletes it: no cluster and no Dask process is left.

The example DAG asks for a 2-hour idle TTL; the emulator runs the clusters' clocks 240 times faster,
so it passes in 30 real seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from google.api_core.exceptions import NotFound

from dask_dataproc_emulator.processes import tail
from dask_dataproc_emulator.testing import dask_processes, run_emulator
from tests.devtools import airflow_environment, migrate_db

from .conftest import REPO

WHERE = {"project_id": "local-project", "region": "europe-west1"}
SCALE = 240
#: Rows of the job: long enough to be caught RUNNING, about 10 s on this project's 2-core machine.
ROWS = 4_000_000


@pytest.fixture(scope="module")
def fast_emulator(tmp_path_factory):
    with run_emulator(tmp_path_factory.mktemp("emulator"), time_scale=SCALE) as running:
        yield running
    assert dask_processes(parent=running.pid) == []


def active_job(emulator):
    from google.cloud.dataproc_v1 import ListJobsRequest

    jobs = emulator.job_client().list_jobs(
        request={**WHERE, "job_state_matcher": ListJobsRequest.JobStateMatcher.ACTIVE}
    )
    return next((job for job in jobs if job.status.state.name == "RUNNING"), None)


@pytest.fixture(scope="module")
def killed_run(fast_emulator, tmp_path_factory):
    """Run the example DAG, SIGKILL the whole Airflow process group once its job RUNS; never resume."""
    home = tmp_path_factory.mktemp("airflow-killed")
    env = airflow_environment(
        airflow_home=home,
        dags_folder=REPO / "dags",
        emulator_host=fast_emulator.grpc_target,
        storage_url=fast_emulator.storage_url,
    )
    migrate_db(env)
    log_path = home / "dags-test.log"
    with log_path.open("wb") as log:
        airflow = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow",
                "dags",
                "test",
                "dask_ephemeral_etl",
                "-c",
                json.dumps({"sample_rows": ROWS}),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while (job := active_job(fast_emulator)) is None:
            assert airflow.poll() is None, f"Airflow ended before the job ran:\n{tail(log_path, 40)}"
            assert time.monotonic() < deadline, f"the job never ran:\n{tail(log_path, 40)}"
            time.sleep(0.3)
        os.killpg(airflow.pid, signal.SIGKILL)
        airflow.wait(timeout=30)
    finally:
        if airflow.poll() is None:
            os.killpg(airflow.pid, signal.SIGKILL)
            airflow.wait()
    [cluster] = fast_emulator.cluster_client().list_clusters(**WHERE)
    return {
        "job_id": job.reference.job_id,
        "cluster": cluster,
        "returncode": airflow.returncode,
        "airflow_left": airflow_processes(home),
    }


def airflow_processes(home) -> list[int]:
    """Return the live processes that run with this Airflow home."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and process.environ().get("AIRFLOW_HOME") == str(home):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_airflow_died_while_the_job_ran_and_left_the_cluster_running(killed_run):
    assert killed_run["returncode"] == -signal.SIGKILL
    assert killed_run["airflow_left"] == []  # the whole of Airflow died, the task included
    assert killed_run["cluster"].status.state.name == "RUNNING"
    assert killed_run["cluster"].config.lifecycle_config.idle_delete_ttl.total_seconds() == 7200


def test_the_idle_ttl_deletes_the_cluster_once_the_orphaned_job_has_ended(killed_run, fast_emulator):
    name = killed_run["cluster"].cluster_name
    clusters = fast_emulator.cluster_client()
    deadline = time.monotonic() + 600
    while True:
        try:
            clusters.get_cluster(**WHERE, cluster_name=name)
        except NotFound:
            break
        assert time.monotonic() < deadline, f"cluster {name} was never deleted:\n{tail(fast_emulator.log_file, 20)}"
        time.sleep(1)
    job = fast_emulator.job_client().get_job(**WHERE, job_id=killed_run["job_id"])

    assert job.status.state.name == "DONE"  # the job Airflow left ran to its end; idle time started then
    assert f"clusters/{name}: idle for" in fast_emulator.log_file.read_text()


def test_no_cluster_and_no_dask_process_is_left(killed_run, fast_emulator):
    test_the_idle_ttl_deletes_the_cluster_once_the_orphaned_job_has_ended(killed_run, fast_emulator)

    assert list(fast_emulator.cluster_client().list_clusters(**WHERE)) == []
    assert dask_processes(parent=fast_emulator.pid, wait=30) == []
