"""Issue 4 acceptance: the idle sensor deletes a cluster whose Dask scheduler has been idle for the
quiet period, and leaves one that is busy with a client's computation though no Dataproc job runs.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred
from google.api_core.exceptions import NotFound

from airflow_dask_provider.sensors.idle import DaskDataprocIdleSensor
from dask_dataproc_emulator.testing import dask_processes

from .conftest import PROJECT, REGION, SINGLE_NODE, WHERE, create_cluster, dask_client, delete_cluster


@pytest.fixture
def provider_env(running, monkeypatch):
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", running.grpc_target)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", running.storage_url)


def sensor(name: str, **kwargs) -> DaskDataprocIdleSensor:
    return DaskDataprocIdleSensor(task_id="idle", cluster_name=name, project_id=PROJECT, region=REGION, **kwargs)


def run_trigger(trigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first())


def compute(running, cluster, seconds: float) -> None:
    """Run a few tasks on the cluster from a client, as a notebook would, then disconnect."""
    with dask_client(running, cluster) as client:
        client.gather(client.map(time.sleep, [seconds] * 2, pure=False))


def processes_of(running, name: str):
    return [p for p in dask_processes(parent=running.pid, wait=20) if p.resource.endswith(f"/clusters/{name}")]


def test_a_cluster_idle_for_the_quiet_period_is_deleted(running, clusters, provider_env, context):
    cluster = create_cluster(clusters, "idle-sensed", SINGLE_NODE)
    compute(running, cluster, 0.5)  # the scheduler's idle time starts now
    watcher = sensor("idle-sensed", quiet_period=6, poke_interval=1, deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:  # idle for less than the quiet period yet
        watcher.execute(context)
    event = run_trigger(deferred.value.trigger)
    result = watcher.execute_complete(context, event)

    assert (event["status"], event["source"]) == ("success", "check_idle")
    assert result["deleted"] is True and result["idle_seconds"] >= 6
    with pytest.raises(NotFound):
        for _ in range(240):
            clusters.get_cluster(**WHERE, cluster_name="idle-sensed")
            time.sleep(0.5)
    assert processes_of(running, "idle-sensed") == []


def test_a_cluster_busy_with_a_clients_computation_is_not_deleted(running, clusters, jobs, provider_env, context):
    cluster = create_cluster(clusters, "busy-client", SINGLE_NODE)
    try:
        with dask_client(running, cluster) as client:
            work = client.submit(time.sleep, 25, pure=False)  # a notebook's long computation, no Dataproc job
            while not any(client.processing().values()):  # it has reached the scheduler
                time.sleep(0.1)
            watcher = sensor("busy-client", quiet_period=3, poke_interval=1, timeout=12, deferrable=False)

            with pytest.raises(AirflowSensorTimeout):
                watcher.execute(context)

            assert list(jobs.list_jobs(request={**WHERE, "cluster_name": "busy-client"})) == []
            assert clusters.get_cluster(**WHERE, cluster_name="busy-client").status.state.name == "RUNNING"
            work.result(timeout=60)  # the computation was never interrupted
    finally:
        delete_cluster(clusters, "busy-client")
    assert processes_of(running, "busy-client") == []
