"""Deferrable mode: what each operator and sensor hands the triggerer, and how it resumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_dask_provider.exceptions import ClusterError, JobError, WaitTimeoutError
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from airflow_dask_provider.sensors.dataproc import DaskDataprocClusterSensor, DaskDataprocJobSensor
from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger, DaskDataprocJobTrigger, event

from .conftest import cluster, deferred, job

WHERE = {"project_id": "p", "region": "r"}


def create(**kwargs) -> DaskDataprocCreateClusterOperator:
    values = {"task_id": "create", "cluster_name": "c", "deferrable": True, **WHERE}
    return DaskDataprocCreateClusterOperator(**{**values, **kwargs})


def submit(**kwargs) -> DaskDataprocSubmitJobOperator:
    values = {"task_id": "run", "cluster_name": "c", "main": "gs://b/main.py", "deferrable": True, **WHERE}
    return DaskDataprocSubmitJobOperator(**{**values, **kwargs})


@pytest.fixture
def sensor_hook(mocker):
    fake = mocker.MagicMock()
    from airflow_dask_provider.sensors import base

    mocker.patch.object(base.DaskDataprocBaseSensor, "hook", new_callable=mocker.PropertyMock, return_value=fake)
    return fake


def test_deferrable_follows_airflows_default_deferrable():
    code = (
        "from airflow_dask_provider.operators import DaskDataprocSubmitJobOperator as S;"
        "print(S(task_id='t', cluster_name='c', main='gs://b/m.py', region='r').deferrable)"
    )
    for value in ("True", "False"):
        env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": value}
        output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert output.stdout.strip().splitlines()[-1] == value


def test_create_defers_after_asking_for_the_cluster(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    hook.project_id = "p"

    defer = deferred(lambda: create(timeout=600).execute(context))

    trigger = defer.trigger
    assert isinstance(trigger, DaskDataprocClusterTrigger)
    assert (trigger.cluster_name, trigger.target_states, trigger.delete_on_kill) == ("c", ["RUNNING"], True)
    assert "ERROR" in trigger.failure_states
    assert defer.method_name == "execute_complete_created"
    assert time.time() + 590 < trigger.deadline <= time.time() + 600
    assert defer.timeout > timedelta(seconds=600)
    hook.wait_for_cluster.assert_not_called()
    assert "dataproc_cluster_url" in context["ti"].pushed
    # Airflow 3 reads every link when the task defers: a key never pushed logs "[error] XCom not found".
    assert context["ti"].pushed["dask_dashboard_url"] == ""


def test_create_resumes_with_links_and_the_cluster(hook, context):
    info = cluster()
    payload = event("success", state="RUNNING", message="", resource=info.as_dict())

    result = create().execute_complete_created(context, payload)

    assert result == info.as_dict()
    assert context["ti"].pushed["dask_dashboard_url"] == info.dashboard_url


def test_create_deletes_a_cluster_that_failed_and_fails_once_it_is_gone(hook, context):
    payload = event("failed", state="ERROR", message="", resource=cluster("ERROR", detail="quota").as_dict())

    defer = deferred(lambda: create().execute_complete_created(context, payload))

    hook.delete_dask_cluster.assert_called_once()
    assert defer.trigger.target_states == ["DELETED"]
    with pytest.raises(ClusterError, match="ERROR"):
        create().execute_failed_cluster_deleted(context, event("success", state="DELETED", message=""))


@pytest.mark.parametrize("status", ["timeout", "error"])
def test_create_fails_on_a_timeout_or_error_event(hook, context, status):
    payload = event(status, state="CREATING", message="still CREATING at the deadline")

    with pytest.raises(ClusterError, match="still CREATING"):
        create().execute_complete_created(context, payload)


def test_a_cluster_being_deleted_is_waited_for_then_created(hook, context):
    hook.get_cluster_info.return_value = cluster("DELETING")

    defer = deferred(lambda: create().execute(context))
    assert (defer.trigger.target_states, defer.method_name) == (["DELETED"], "execute_complete")
    hook.create_dask_cluster.return_value = True

    defer = deferred(lambda: create().execute_complete(context, event("success", state="DELETED", message="")))

    hook.create_dask_cluster.assert_called_once()
    assert defer.method_name == "execute_complete_created"


def test_the_deadline_respects_execution_timeout(hook, context):
    hook.get_cluster_info.return_value = None
    hook.create_dask_cluster.return_value = True
    context["ti"].start_date = datetime.now(timezone.utc)

    defer = deferred(lambda: create(timeout=3600, execution_timeout=timedelta(minutes=10)).execute(context))

    assert defer.trigger.deadline <= time.time() + 600 - 30 + 1


def test_delete_defers_and_finishes(hook, context):
    hook.delete_dask_cluster.return_value = True
    operator = DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name="c", deferrable=True, **WHERE)

    defer = deferred(lambda: operator.execute(context))

    assert defer.trigger.target_states == ["DELETED"]
    assert operator.execute_complete(context, event("success", state="DELETED", message=""))["deleted"] is True
    with pytest.raises(ClusterError):
        operator.execute_complete(context, event("timeout", state="DELETING", message="still DELETING"))


def test_delete_of_a_missing_cluster_does_not_defer(hook, context):
    hook.delete_dask_cluster.return_value = False
    operator = DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name="c", deferrable=True, **WHERE)

    assert operator.execute(context)["deleted"] is False


def test_submit_defers_with_the_job_output_and_dashboard(hook, context):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)

    defer = deferred(lambda: submit(progress_interval=3).execute(context))

    trigger = defer.trigger
    assert isinstance(trigger, DaskDataprocJobTrigger)
    assert trigger.job_id == "j" and trigger.cancel_on_kill is True
    assert trigger.driver_output_uri == "gs://staging/out/driveroutput"
    assert trigger.dashboard_url == "https://gw/gateway/default/dask/status"
    assert trigger.progress_interval == 3
    assert {"dask_dashboard_url", "dataproc_job_url", "dataproc_cluster_url"} <= context["ti"].pushed.keys()
    hook.wait_for_dask_job.assert_not_called()


def test_submit_resumes_done_and_fails_with_the_driver_tail(hook, context):
    done = event("success", state="DONE", message="", resource=job("DONE").as_dict(), output_offset=10)
    assert submit().execute_complete(context, done)["state"] == "DONE"

    hook.driver_output_tail.return_value = "Traceback: KeyError 'amount'"
    failed = event("failed", state="ERROR", message="", resource=job("ERROR").as_dict(), output_offset=10)
    with pytest.raises(JobError, match="KeyError 'amount'"):
        submit().execute_complete(context, failed)


def test_submit_cancels_the_job_when_the_deadline_passes(hook, context):
    late = event("timeout", state="RUNNING", message="", resource=job("RUNNING").as_dict(), output_offset=0)

    with pytest.raises(WaitTimeoutError):
        submit(timeout=60).execute_complete(context, late)

    hook.cancel_dask_job.assert_called_once_with(project_id="p", region="r", job_id="j")


def test_submit_passes_its_no_worker_timeout_to_the_trigger(hook, context, monkeypatch):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("PENDING", submitted_now=True)
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__NO_WORKER_TIMEOUT", "2m")

    assert deferred(lambda: submit().execute(context)).trigger.no_worker_timeout == 120
    assert deferred(lambda: submit(no_worker_timeout="30s").execute(context)).trigger.no_worker_timeout == 30
    assert deferred(lambda: submit(no_worker_timeout=0).execute(context)).trigger.no_worker_timeout == 0


def test_submit_cancels_the_job_and_fails_on_a_no_workers_event(hook, context):
    from airflow_dask_provider.exceptions import NoWorkersError

    reason = "Cluster c has had no Dask worker for 301 s (no_worker_timeout is 300 s). Its workers may have crashed"
    lost = event("failed", state="NO_WORKERS", message=reason, resource=job("RUNNING").as_dict(), output_offset=0)

    with pytest.raises(NoWorkersError) as caught:
        submit().execute_complete(context, lost)

    assert str(caught.value) == f"Dask job j is cancelled. {reason}"
    assert isinstance(caught.value, JobError)
    hook.cancel_dask_job.assert_called_once_with(project_id="p", region="r", job_id="j")


def test_classic_submit_cancels_the_job_when_its_workers_are_lost(hook, context, mocker):
    from airflow_dask_provider.exceptions import NoWorkersError

    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("RUNNING", submitted_now=True)
    follower = mocker.patch("airflow_dask_provider.monitoring.JobLogFollower")
    follower.return_value.lost_workers.side_effect = [None, "Cluster c has had no Dask worker for 61 s"]

    def wait(**kwargs):
        while True:
            kwargs["on_poll"](job("RUNNING"))

    hook.wait_for_dask_job.side_effect = wait

    with pytest.raises(NoWorkersError, match="Cluster c has had no Dask worker for 61 s"):
        submit(deferrable=False, no_worker_timeout=60).execute(context)

    assert follower.call_args.kwargs["no_worker_timeout"] == 60
    follower.return_value.lost_workers.assert_called_with(cluster_name="c")
    hook.cancel_dask_job.assert_called_once_with(project_id="p", region="r", job_id="j")


def test_classic_submit_streams_output_while_waiting(hook, context, mocker):
    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("RUNNING", submitted_now=True)
    follower = mocker.patch("airflow_dask_provider.monitoring.JobLogFollower")
    follower.return_value.lost_workers.return_value = None

    def wait(**kwargs):
        kwargs["on_poll"](job("RUNNING"))
        kwargs["on_poll"](job("RUNNING"))
        return job("DONE")

    hook.wait_for_dask_job.side_effect = wait

    submit(deferrable=False).execute(context)

    assert follower.return_value.follow.call_count == 2
    follower.return_value.finish.assert_called_once()


# -- sensors --------------------------------------------------------------------------------------


def test_cluster_sensor_checks_its_states_at_parse_time():
    from airflow_dask_provider.exceptions import ClusterSpecError

    with pytest.raises(ClusterSpecError, match="target_states"):
        DaskDataprocClusterSensor(task_id="s", cluster_name="c", target_states=["UP"], **WHERE)


def test_cluster_sensor_pokes_until_the_state_and_fails_on_error(sensor_hook, context):
    sensor = DaskDataprocClusterSensor(task_id="s", cluster_name="c", deferrable=False, **WHERE)
    sensor_hook.get_cluster_info.return_value = cluster("CREATING")
    assert sensor.poke(context).is_done is False

    sensor_hook.get_cluster_info.return_value = cluster("RUNNING")
    assert sensor.poke(context).xcom_value["state"] == "RUNNING"
    assert context["ti"].pushed["dask_dashboard_url"].endswith("/status")

    sensor_hook.get_cluster_info.return_value = cluster("ERROR")
    with pytest.raises(ClusterError):
        sensor.poke(context)


def test_cluster_sensor_can_wait_for_deletion(sensor_hook, context):
    sensor = DaskDataprocClusterSensor(task_id="s", cluster_name="c", target_states=["DELETED"], **WHERE)
    sensor_hook.get_cluster_info.return_value = None

    assert sensor.poke(context).is_done is True
    assert context["ti"].pushed["dask_dashboard_url"] == ""  # no cluster, no dashboard: the link is empty


def test_deferrable_cluster_sensor(sensor_hook, context):
    sensor = DaskDataprocClusterSensor(task_id="s", cluster_name="c", deferrable=True, timeout=120, **WHERE)
    sensor_hook.get_cluster_info.return_value = cluster("CREATING")

    defer = deferred(lambda: sensor.execute(context))

    assert defer.trigger.target_states == ["RUNNING"] and defer.trigger.delete_on_kill is False
    assert defer.trigger.deadline <= time.time() + 120
    assert sensor.execute_complete(context, event("success", state="RUNNING", message="", resource=cluster().as_dict()))
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(context, event("timeout", state="CREATING", message="late"))


def test_deferrable_job_sensor_never_cancels_the_job(sensor_hook, context):
    sensor = DaskDataprocJobSensor(task_id="s", job_id="j", deferrable=True, **WHERE)
    sensor_hook.get_job_info.return_value = job("RUNNING")
    sensor_hook.get_cluster_info.return_value = cluster()

    defer = deferred(lambda: sensor.execute(context))

    assert defer.trigger.cancel_on_kill is False
    assert defer.trigger.dashboard_url == cluster().dashboard_url
    assert {"dataproc_job_url", "dataproc_cluster_url", "dask_dashboard_url"} <= context["ti"].pushed.keys()
    assert sensor.execute_complete(context, event("success", state="DONE", message="", resource=job().as_dict()))
    sensor_hook.driver_output_tail.return_value = "boom"
    with pytest.raises(JobError, match="CANCELLED"):
        sensor.execute_complete(
            context, event("failed", state="CANCELLED", message="", resource=job("CANCELLED").as_dict())
        )


def test_job_sensor_on_a_finished_job_does_not_defer(sensor_hook, context):
    sensor = DaskDataprocJobSensor(task_id="s", job_id="j", deferrable=True, **WHERE)
    sensor_hook.get_job_info.return_value = job("DONE")
    sensor_hook.get_cluster_info.return_value = None

    assert sensor.execute(context)["state"] == "DONE"


def test_job_sensor_fails_for_a_missing_job(sensor_hook, context):
    sensor = DaskDataprocJobSensor(task_id="s", job_id="nope", deferrable=True, **WHERE)
    sensor_hook.get_job_info.return_value = None

    with pytest.raises(JobError, match="NOT_FOUND"):
        sensor.execute(context)


def test_default_args_reach_operators_and_sensors():
    """Airflow applies default_args only to an __init__ the task class defines itself: keep one on each."""
    from airflow.providers.common.compat.sdk import DAG

    defaults = {"region": "europe-west1", "project_id": "p", "deferrable": True}
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1), default_args=defaults):
        tasks = [
            DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name="c"),
            DaskDataprocClusterSensor(task_id="cluster", cluster_name="c"),
            DaskDataprocJobSensor(task_id="job", job_id="j"),
        ]

    assert [(t.region, t.project_id, t.deferrable) for t in tasks] == [("europe-west1", "p", True)] * 3
