"""A sensor poking and its trigger polling read the same data through the same check: the same verdict and words."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.hooks.dask_scheduler import DaskIdleness
from airflow_dask_provider.sensors.base import DaskDataprocBaseSensor
from airflow_dask_provider.sensors.dataproc import DaskDataprocClusterSensor
from airflow_dask_provider.sensors.idle import DaskDataprocIdleSensor
from airflow_dask_provider.triggers.base import DaskDataprocBaseTrigger
from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger
from airflow_dask_provider.triggers.idle import DaskDataprocIdleTrigger

from ...recording_log import RecordingLog
from ..operators.conftest import cluster

WHERE = {"project_id": "p", "region": "r"}
SOON = {"poll_initial": 0.001, "poll_maximum": 0.002}
BUSY = DaskIdleness(busy=True, idle_since=None, source="check_idle")
PENDING = DaskIdleness(busy=True, idle_since=None, source="metrics", pending_tasks=3)
FIRST_QUIET_LOOK = DaskIdleness(busy=False, idle_since=None, source="metrics")


@pytest.fixture
def hook(mocker):
    fake = mocker.MagicMock()
    mocker.patch.object(DaskDataprocBaseSensor, "hook", new_callable=mocker.PropertyMock, return_value=fake)
    return fake


@pytest.fixture
def logs(mocker) -> dict[str, RecordingLog]:
    recorded = {"sensor": RecordingLog(), "trigger": RecordingLog()}
    for kind, base in (("sensor", DaskDataprocBaseSensor), ("trigger", DaskDataprocBaseTrigger)):
        mocker.patch.object(base, "log", new_callable=mocker.PropertyMock, return_value=recorded[kind])
    return recorded


def first_event(trigger, hook) -> dict:
    trigger.hook = hook

    async def collect():
        return [event.payload async for event in trigger.run()]

    [event] = asyncio.run(collect())
    return event


@pytest.mark.parametrize("state", ["CREATING", "STOPPED", "DELETING"])
def test_a_cluster_not_yet_in_a_target_state_is_waited_for_in_the_same_words(hook, logs, context, state):
    hook.get_cluster_info.return_value = cluster(state)
    sensor = DaskDataprocClusterSensor(task_id="s", cluster_name="c", target_states=["RUNNING", "UPDATING"], **WHERE)
    trigger = DaskDataprocClusterTrigger(
        **WHERE,
        **SOON,
        cluster_name="c",
        target_states=sensor.target_states,
        failure_states=sensor.failure_states,
        deadline=time.time() + 0.05,
    )

    assert sensor.poke(context).is_done is False
    event = first_event(trigger, hook)

    assert event["status"] == "timeout"
    assert (
        logs["sensor"].lines[-1] == logs["trigger"].lines[0] == f"Cluster c is {state}; waiting for RUNNING or UPDATING"
    )


@pytest.mark.parametrize(
    ("idleness", "line"),
    [
        (BUSY, "Cluster c is busy (Dask tasks processing or queued)"),
        (PENDING, "Cluster c is busy (3 Dask tasks not done)"),
        (FIRST_QUIET_LOOK, "Cluster c has been idle for 0s of 600s"),
    ],
)
def test_a_cluster_not_idle_long_enough_is_waited_for_in_the_same_words(hook, logs, context, mocker, idleness, line):
    hook.dask_scheduler.get_cluster_idleness.return_value = idleness
    hook.get_cluster_info.return_value = cluster()
    sensor = DaskDataprocIdleSensor(task_id="s", cluster_name="c", quiet_period=600, **WHERE)
    trigger = DaskDataprocIdleTrigger(**WHERE, **SOON, cluster_name="c", quiet_period=600, deadline=time.time() + 0.05)

    assert sensor.poke(context).is_done is False
    event = first_event(trigger, hook)

    assert event["status"] == "timeout"
    assert logs["sensor"].lines[-1] == logs["trigger"].lines[0] == line


@pytest.mark.parametrize(
    "info", [cluster("ERROR", detail="boom"), cluster(dashboard_url=None)], ids=["error", "no-dashboard"]
)
def test_a_cluster_that_cannot_be_watched_fails_both_for_the_same_reason(hook, logs, context, info):
    hook.get_cluster_info.return_value = info
    sensor = DaskDataprocIdleSensor(task_id="s", cluster_name="c", quiet_period=600, **WHERE)
    trigger = DaskDataprocIdleTrigger(**WHERE, **SOON, cluster_name="c", quiet_period=600, deadline=time.time() + 60)

    with pytest.raises(ClusterError) as failed:
        sensor.poke(context)
    event = first_event(trigger, hook)

    assert (event["status"], event["state"]) == ("failed", failed.value.state)
    assert failed.value.detail in event["message"]
