"""The create operator and a cluster of its name that is STOPPED or STOPPING: started, waited for, used."""

from __future__ import annotations

import pytest

from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator
from airflow_dask_provider.triggers.dataproc import event
from tests.recording_log import RecordingLog

from .conftest import cluster, deferred


def create(**kwargs) -> DaskDataprocCreateClusterOperator:
    values = {"task_id": "create", "cluster_name": "c", "project_id": "p", "region": "r", **kwargs}
    return DaskDataprocCreateClusterOperator(**values)


@pytest.fixture
def log(mocker):
    """What the create operator logs (Airflow 3 logs past caplog)."""
    recorded = RecordingLog()
    mocker.patch.object(
        DaskDataprocCreateClusterOperator, "log", new_callable=mocker.PropertyMock, return_value=recorded
    )
    return recorded


def test_a_stopped_cluster_is_started_waited_for_and_used(hook, context, log):
    hook.get_cluster_info.return_value = cluster("STOPPED")
    hook.start_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster(scheduler_address="tls://c-m:9999")

    result = create(timeout=300).execute(context)

    assert (result["state"], result["scheduler_address"]) == ("RUNNING", "tls://c-m:9999")
    kwargs = hook.start_dask_cluster.call_args.kwargs
    assert (kwargs["cluster_name"], kwargs["cluster_uuid"]) == ("c", "u")
    assert hook.wait_for_cluster.call_args.kwargs["timeout"] == 300
    hook.create_dask_cluster.assert_not_called()
    assert "Cluster c is STOPPED; starting it and waiting up to 300s for it to be RUNNING" in log.lines
    assert any("is RUNNING (started from STOPPED)" in line for line in log.lines)


def test_a_stopping_cluster_is_waited_for_then_started(hook, context):
    hook.get_cluster_info.return_value = cluster("STOPPING")
    hook.start_dask_cluster.return_value = True
    hook.wait_for_cluster.side_effect = [cluster("STOPPED"), cluster()]

    assert create().execute(context)["state"] == "RUNNING"
    hook.start_dask_cluster.assert_called_once()


def test_a_cluster_stopped_again_while_starting_fails_naming_it(hook, context):
    hook.get_cluster_info.return_value = cluster("STOPPED")
    hook.start_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster("STOPPED")

    with pytest.raises(ClusterError, match="Cluster c is in state STOPPED: it was stopped again") as raised:
        create().execute(context)
    assert raised.value.state == "STOPPED"
    hook.start_dask_cluster.assert_called_once()


def test_another_runs_stopped_cluster_is_not_started_without_share_cluster(hook, context):
    hook.get_cluster_info.return_value = cluster("STOPPED", labels={"airflow-run-key": "someone-else"})

    with pytest.raises(ClusterError, match="Cluster c is in state STOPPED: it belongs to"):
        create().execute(context)
    hook.start_dask_cluster.assert_not_called()


def test_a_stopped_cluster_deleted_before_the_start_is_created_anew(hook, context):
    hook.get_cluster_info.return_value = cluster("STOPPED")
    hook.start_dask_cluster.return_value = False
    hook.create_dask_cluster.return_value = True
    hook.wait_for_cluster.return_value = cluster()

    create().execute(context)

    hook.create_dask_cluster.assert_called_once()


def test_the_start_request_id_is_stable_and_not_the_creates(context):
    operator = create()

    assert operator._request_id(context, "start") == operator._request_id(context, "start")
    assert operator._request_id(context, "start") != operator._request_id(context)


def test_deferrable_starts_then_defers_until_running(hook, context):
    hook.get_cluster_info.return_value = cluster("STOPPED")
    hook.start_dask_cluster.return_value = True

    defer = deferred(lambda: create(deferrable=True).execute(context))

    hook.start_dask_cluster.assert_called_once()
    assert defer.method_name == "execute_complete_started"
    assert defer.trigger.target_states == ["RUNNING"]
    assert "STOPPED" in defer.trigger.failure_states
    assert defer.trigger.delete_on_kill is False
    hook.wait_for_cluster.assert_not_called()


def test_deferrable_resumes_with_the_started_cluster(hook, context):
    info = cluster(dashboard_url="https://gw/new/gateway/default/dask/status")
    payload = event("success", state="RUNNING", message="", resource=info.as_dict())

    result = create(deferrable=True).execute_complete_started(context, payload)

    assert result == info.as_dict()
    assert context["ti"].pushed["dask_dashboard_url"] == info.dashboard_url


def test_deferrable_fails_when_the_started_cluster_is_stopped_again(hook, context):
    payload = event("failed", state="STOPPED", message="", resource=cluster("STOPPED").as_dict())

    with pytest.raises(ClusterError, match="it was stopped again"):
        create(deferrable=True).execute_complete_started(context, payload)
    hook.start_dask_cluster.assert_not_called()


def test_deferrable_waits_for_a_stopping_cluster_then_starts_it(hook, context):
    hook.get_cluster_info.return_value = cluster("STOPPING")
    hook.start_dask_cluster.return_value = True

    defer = deferred(lambda: create(deferrable=True).execute(context))
    assert (defer.method_name, defer.trigger.target_states) == ("execute_complete", ["RUNNING"])
    hook.start_dask_cluster.assert_not_called()
    payload = event("failed", state="STOPPED", message="", resource=cluster("STOPPED").as_dict())

    defer = deferred(lambda: create(deferrable=True).execute_complete(context, payload))

    hook.start_dask_cluster.assert_called_once()
    assert defer.method_name == "execute_complete_started"


def test_deferrable_keeps_knowing_it_started_the_cluster_across_a_second_wait(hook, context):
    """Started, then found STOPPING: the next wait still resumes as the task that started it, so a
    cluster stopped again fails the task as in classic mode instead of being started a second time."""
    stopping = event("failed", state="STOPPING", message="", resource=cluster("STOPPING").as_dict())

    defer = deferred(lambda: create(deferrable=True).execute_complete_started(context, stopping))

    assert (defer.method_name, defer.trigger.target_states) == ("execute_complete_started", ["RUNNING"])
    stopped = event("failed", state="STOPPED", message="", resource=cluster("STOPPED").as_dict())
    with pytest.raises(ClusterError, match="it was stopped again"):
        create(deferrable=True).execute_complete_started(context, stopped)
    hook.start_dask_cluster.assert_not_called()
