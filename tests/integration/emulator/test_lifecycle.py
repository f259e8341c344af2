"""The emulator deletes clusters by their lifecycle config, as Dataproc does, with a time scale.

At ``time_scale=120`` Dataproc's shortest TTL, 10 minutes, passes in 5 real seconds.
"""

from __future__ import annotations

import time

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import dask_processes, run_emulator

from .conftest import PROJECT, REGION, SINGLE_NODE, WHERE, submit, wait_for_job, write_script

SCALE = 120
TEN_MINUTES = {"seconds": 600}


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """An emulator whose clusters' clocks run 120 times faster."""
    with run_emulator(tmp_path_factory.mktemp("fast-emulator"), time_scale=SCALE) as emulator:
        yield emulator
    assert dask_processes(parent=emulator.pid) == []


def create(emulator, name: str, lifecycle: dict) -> dataproc_v1.Cluster:
    config = {**SINGLE_NODE, "lifecycle_config": lifecycle}
    return (
        emulator.cluster_client()
        .create_cluster(project_id=PROJECT, region=REGION, cluster={"cluster_name": name, "config": config})
        .result(timeout=180)
    )


def wait_until_gone(emulator, name: str, timeout: float = 120) -> float:
    """Return the time.time() at which the cluster was first seen gone."""
    clusters = emulator.cluster_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            clusters.get_cluster(**WHERE, cluster_name=name)
        except NotFound:
            return time.time()
        time.sleep(0.25)
    raise AssertionError(f"cluster {name} still exists after {timeout}s")


def processes_of(emulator, name: str):
    return [p for p in dask_processes(parent=emulator.pid, wait=20) if p.resource.endswith(f"/clusters/{name}")]


def test_an_idle_cluster_is_deleted_after_its_idle_ttl(fast):
    cluster = create(fast, "idle", {"idle_delete_ttl": TEN_MINUTES})
    idle_start = cluster.config.lifecycle_config.idle_start_time.timestamp()

    gone = wait_until_gone(fast, "idle")

    assert gone - idle_start >= 600 / SCALE
    assert "clusters/idle: idle for" in fast.log_file.read_text()
    assert processes_of(fast, "idle") == []


def test_a_running_job_keeps_the_cluster_and_idle_time_starts_when_it_ends(fast, tmp_path):
    # 20 minutes, 10 s here: the job must reach the idle cluster within its TTL (5 s was too short
    # on a machine busy with four test processes, and the cluster went before the job came).
    create(fast, "working", {"idle_delete_ttl": {"seconds": 1200}})
    script = write_script(tmp_path, "import time\ntime.sleep(20)\n")
    jobs = fast.job_client()
    job = submit(jobs, script, cluster="working")

    running = fast.cluster_client().get_cluster(**WHERE, cluster_name="working")
    assert "idle_start_time" not in running.config.lifecycle_config
    time.sleep(14)  # longer than the scaled TTL: the job keeps the cluster
    assert fast.cluster_client().get_cluster(**WHERE, cluster_name="working").status.state.name == "RUNNING"

    done = wait_for_job(jobs, job.reference.job_id, timeout=120)
    idle = fast.cluster_client().get_cluster(**WHERE, cluster_name="working").config.lifecycle_config
    gone = wait_until_gone(fast, "working")

    assert done.status.state.name == "DONE"
    assert idle.idle_start_time.timestamp() >= done.status.state_start_time.timestamp() - 1
    assert gone - idle.idle_start_time.timestamp() >= 1200 / SCALE
    assert processes_of(fast, "working") == []


def test_a_busy_cluster_is_deleted_at_its_maximum_age(fast, tmp_path):
    create(fast, "aging", {"auto_delete_ttl": {"seconds": 1200}})
    jobs = fast.job_client()
    job = submit(jobs, write_script(tmp_path, "import time\ntime.sleep(120)\n"), cluster="aging")

    wait_until_gone(fast, "aging")

    ended = wait_for_job(jobs, job.reference.job_id, timeout=60)
    assert ended.status.state.name == "ERROR" and "cluster deleted" in ended.status.details
    assert processes_of(fast, "aging") == []


def test_the_scheduler_serves_its_idle_signal_beside_the_dashboard(running, shared_cluster):
    import requests

    dashboard = shared_cluster.config.endpoint_config.http_ports["Dask Dashboard"]

    answer = requests.get(dashboard.rstrip("/") + "/api/v1/check_idle", timeout=10).json()

    assert set(answer) == {"idle_since"}
