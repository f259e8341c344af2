"""The idle sensor with a mocked hook: when it acts, what it deletes, how it defers."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

from airflow_dask_provider.exceptions import ClusterError, ClusterSpecError
from airflow_dask_provider.hooks.dask_scheduler import DaskIdleness
from airflow_dask_provider.sensors import base
from airflow_dask_provider.sensors.idle import DaskDataprocIdleSensor
from airflow_dask_provider.triggers.base import event
from airflow_dask_provider.triggers.idle import DaskDataprocIdleTrigger

from ..operators.conftest import cluster

WHERE = {"project_id": "p", "region": "r"}


def sensor(**kwargs) -> DaskDataprocIdleSensor:
    values = {"task_id": "idle", "cluster_name": "c", "quiet_period": "10m", **WHERE}
    return DaskDataprocIdleSensor(**{**values, **kwargs})


def idle_for(seconds: float) -> DaskIdleness:
    return DaskIdleness(busy=False, idle_since=time.time() - seconds, source="check_idle")


BUSY = DaskIdleness(busy=True, idle_since=None, source="check_idle")


@pytest.fixture
def hook(mocker):
    fake = mocker.MagicMock()
    fake.get_cluster_info.return_value = cluster()
    fake.delete_dask_cluster.return_value = True
    mocker.patch.object(base.DaskDataprocBaseSensor, "hook", new_callable=mocker.PropertyMock, return_value=fake)
    return fake


@pytest.fixture
def idleness(hook):
    hook.dask_scheduler.get_cluster_idleness.return_value = BUSY
    return hook.dask_scheduler.get_cluster_idleness


def test_bad_arguments_fail_when_the_dag_is_parsed():
    with pytest.raises(ClusterSpecError, match="action"):
        sensor(action="stop")
    with pytest.raises(ClusterSpecError, match="quiet_period"):
        sensor(quiet_period="soon")


def test_a_busy_cluster_is_not_done(hook, idleness, context):
    assert not sensor().poke(context)
    hook.delete_dask_cluster.assert_not_called()


def test_a_cluster_idle_for_less_than_the_quiet_period_is_not_done(hook, idleness, context):
    idleness.return_value = idle_for(60)

    assert not sensor().poke(context)


def test_a_cluster_idle_for_the_quiet_period_is_deleted_by_its_uuid(hook, idleness, context):
    idleness.return_value = idle_for(700)

    result = sensor(deferrable=True).execute(context)

    hook.delete_dask_cluster.assert_called_once_with(**WHERE, cluster_name="c", cluster_uuid="u")
    assert result["deleted"] is True and result["action"] == "delete"
    assert result["idle_seconds"] >= 700 and result["source"] == "check_idle"


def test_report_mode_leaves_the_cluster(hook, idleness, context):
    idleness.return_value = idle_for(700)

    result = sensor(action="report", deferrable=True).execute(context)

    hook.delete_dask_cluster.assert_not_called()
    assert (result["action"], result["deleted"]) == ("report", False)


def test_a_cluster_that_is_gone_ends_the_sensor_without_deleting(hook, idleness, context):
    hook.get_cluster_info.return_value = None

    result = sensor(deferrable=True).execute(context)

    assert result["deleted"] is False
    hook.delete_dask_cluster.assert_not_called()


def test_a_cluster_in_error_fails_the_sensor(hook, idleness, context):
    hook.get_cluster_info.return_value = cluster("ERROR", detail="boom")

    with pytest.raises(ClusterError, match="boom"):
        sensor().poke(context)


def test_a_cluster_without_a_dashboard_fails_the_sensor(hook, idleness, context):
    hook.get_cluster_info.return_value = cluster(dashboard_url=None)

    with pytest.raises(ClusterError, match="Component Gateway"):
        sensor().poke(context)


def test_a_cluster_still_starting_is_waited_for(hook, idleness, context):
    hook.get_cluster_info.return_value = cluster("CREATING")

    assert not sensor().poke(context)
    idleness.assert_not_called()


def test_deferrable_sensor_defers_with_a_serializable_trigger(hook, idleness, context):
    with pytest.raises(TaskDeferred) as info:
        sensor(deferrable=True, poke_interval=30).execute(context)

    trigger = info.value.trigger
    assert isinstance(trigger, DaskDataprocIdleTrigger)
    assert (trigger.cluster_name, trigger.quiet_period, trigger.poll_maximum) == ("c", 600, 30)
    assert info.value.method_name == "execute_complete"


def test_after_the_trigger_it_looks_again_before_deleting(hook, idleness, context):
    idleness.return_value = idle_for(700)
    done = event(
        "success", state="RUNNING", message="idle", resource=cluster().as_dict(), idle_since=1, source="check_idle"
    )

    result = sensor(deferrable=True).execute_complete(context, done)

    assert result["deleted"] is True
    idleness.assert_called_once()


def test_a_cluster_busy_again_when_the_trigger_fired_is_not_deleted(hook, idleness, context):
    done = event(
        "success", state="RUNNING", message="idle", resource=cluster().as_dict(), idle_since=1, source="check_idle"
    )

    with pytest.raises(TaskDeferred):
        sensor(deferrable=True).execute_complete(context, done)
    hook.delete_dask_cluster.assert_not_called()


def test_the_trigger_deadline_is_a_sensor_timeout(hook, context):
    with pytest.raises(AirflowSensorTimeout):
        sensor(deferrable=True).execute_complete(context, event("timeout", state="RUNNING", message="late"))


def test_poke_mode_acts_once_idle(hook, idleness, context):
    idleness.side_effect = [BUSY, idle_for(700)]

    result = sensor(poke_interval=0, timeout=30).execute(context)

    assert result["deleted"] is True
    assert idleness.call_count == 2


def test_a_cluster_replaced_by_a_new_one_of_the_same_name_is_left_alone(hook, idleness, context):
    from airflow_dask_provider.exceptions import ClusterReplacedError

    idleness.return_value = idle_for(700)
    hook.delete_dask_cluster.side_effect = ClusterReplacedError("c", "u")

    assert sensor(deferrable=True).execute(context)["deleted"] is False
