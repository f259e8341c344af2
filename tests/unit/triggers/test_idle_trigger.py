"""The idle trigger without a network: serialization, one event per run, quiet time, deadline."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from airflow_dask_provider.hooks.dask_scheduler import DaskIdleness, DaskSchedulerHook
from airflow_dask_provider.triggers import base as triggers
from airflow_dask_provider.triggers.idle import DaskDataprocIdleTrigger

from ..operators.conftest import cluster

LOCATION = {"project_id": "p", "region": "r", "gcp_conn_id": "gcp", "impersonation_chain": None}
FAST = {"poll_initial": 0.001, "poll_maximum": 0.002}


def idle_trigger(**kwargs) -> DaskDataprocIdleTrigger:
    values = {**LOCATION, **FAST, "deadline": time.time() + 60, "cluster_name": "c", "quiet_period": 600}
    return DaskDataprocIdleTrigger(**{**values, **kwargs})


@pytest.fixture(autouse=True)
def quiet_log(mocker):
    mocker.patch.object(
        triggers.DaskDataprocBaseTrigger, "log", new_callable=mocker.PropertyMock, return_value=mocker.MagicMock()
    )


@pytest.fixture
def looks(mocker):
    """The idleness each look returns, in order (the last one repeats)."""
    answers: list[DaskIdleness] = []

    def next_look(**kwargs):
        return answers.pop(0) if len(answers) > 1 else answers[0]

    mocker.patch(
        "airflow_dask_provider.hooks.dask_scheduler.DaskSchedulerHook.get_cluster_idleness", side_effect=next_look
    )
    return answers


def run(trigger, mocker, *infos) -> list[dict]:
    trigger.hook = mocker.MagicMock()
    trigger.hook.dask_scheduler = DaskSchedulerHook(trigger.hook)
    trigger.hook.get_cluster_info.side_effect = list(infos) if len(infos) > 1 else None
    if len(infos) == 1:
        trigger.hook.get_cluster_info.return_value = infos[0]

    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_serialize_round_trips_every_argument():
    trigger = idle_trigger(consider_jobs=False, observed_quiet_since=123.0)

    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))

    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["quiet_period"] == 600 and kwargs["observed_quiet_since"] == 123.0


def test_a_cluster_idle_longer_than_the_quiet_period_ends_the_wait(looks, mocker):
    looks.append(DaskIdleness(busy=False, idle_since=time.time() - 700, source="check_idle"))

    [event] = run(idle_trigger(), mocker, cluster())

    assert (event["status"], event["state"], event["source"]) == ("success", "RUNNING", "check_idle")
    assert event["idle_seconds"] >= 700 and event["resource"]["cluster_uuid"] == "u"


def test_a_busy_cluster_is_watched_until_the_deadline(looks, mocker):
    looks.append(DaskIdleness(busy=True, idle_since=None, source="check_idle"))

    [event] = run(idle_trigger(deadline=time.time() + 0.05), mocker, cluster())

    assert event["status"] == "timeout"


def test_a_cluster_that_is_gone_ends_the_wait_as_deleted(mocker):
    [event] = run(idle_trigger(), mocker, None)

    assert (event["status"], event["state"]) == ("success", "DELETED")


def test_a_cluster_in_error_fails_the_wait(mocker):
    [event] = run(idle_trigger(), mocker, cluster("ERROR", detail="boom"))

    assert (event["status"], event["state"]) == ("failed", "ERROR")
    assert "boom" in event["message"]


def test_with_the_metrics_fallback_the_quiet_time_carried_over_counts(looks, mocker):
    looks.append(DaskIdleness(busy=False, idle_since=None, source="metrics"))

    [event] = run(idle_trigger(observed_quiet_since=time.time() - 700), mocker, cluster())

    assert (event["status"], event["source"]) == ("success", "metrics")
    assert event["idle_seconds"] >= 700


def test_with_the_metrics_fallback_a_busy_look_restarts_the_quiet_time(looks, mocker):
    looks.append(DaskIdleness(busy=True, idle_since=None, source="metrics", pending_tasks=2))
    trigger = idle_trigger(observed_quiet_since=time.time() - 500, deadline=time.time() + 0.05)

    [event] = run(trigger, mocker, cluster())

    assert event["status"] == "timeout"
    assert trigger.observed_quiet_since is None


def test_a_cluster_without_a_dashboard_cannot_be_watched(mocker):
    [event] = run(idle_trigger(), mocker, cluster(dashboard_url=None))

    assert (event["status"], event["state"]) == ("failed", "RUNNING")
    assert "Component Gateway" in event["message"]
