"""The triggers without a network: serialization, one event per run, deadlines, clean-up on kill."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from types import SimpleNamespace

import pytest

from airflow_dask_provider.triggers import base as triggers
from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger, DaskDataprocJobTrigger

from ...recording_log import RecordingLog
from ..operators.conftest import cluster, job

LOCATION = {"project_id": "p", "region": "r", "gcp_conn_id": "gcp", "impersonation_chain": ["a@x", "b@x"]}
FAST = {"poll_initial": 0.001, "poll_maximum": 0.002}
EVENT_KEYS = {"status", "state", "message", "resource"}


def cluster_trigger(**kwargs) -> DaskDataprocClusterTrigger:
    values = {**LOCATION, **FAST, "deadline": time.time() + 60, "cluster_name": "c", "target_states": ["RUNNING"]}
    return DaskDataprocClusterTrigger(**{**values, **kwargs})


def job_trigger(**kwargs) -> DaskDataprocJobTrigger:
    values = {**LOCATION, **FAST, "deadline": time.time() + 60, "job_id": "j", "progress_interval": 0}
    return DaskDataprocJobTrigger(**{**values, **kwargs})


@pytest.fixture
def trigger_log(mocker) -> RecordingLog:
    log = RecordingLog()
    mocker.patch.object(triggers.DaskDataprocBaseTrigger, "log", new_callable=mocker.PropertyMock, return_value=log)
    return log


def with_hook(trigger, mocker):
    trigger.hook = mocker.MagicMock()
    return trigger, trigger.hook


def events_of(trigger) -> list[dict]:
    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    "trigger",
    [
        cluster_trigger(target_states=["DELETED"], failure_states=[], delete_on_kill=True, deadline=1234.5),
        job_trigger(
            driver_output_uri="gs://b/out/driveroutput",
            dashboard_url="https://gw/gateway/default/dask/status",
            output_offset=42,
            progress_interval=3.0,
            no_worker_timeout=90.0,
            cancel_on_kill=False,
        ),
    ],
    ids=["cluster", "job"],
)
def test_serialize_round_trip_keeps_every_argument(trigger):
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")

    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))

    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == (path, kwargs)
    assert vars(rebuilt).keys() >= kwargs.keys()
    assert all(getattr(rebuilt, key) == value for key, value in kwargs.items())


def test_the_trigger_paths_are_registered_with_the_provider():
    from airflow_dask_provider import get_provider_info

    modules = {m for entry in get_provider_info()["triggers"] for m in entry["python-modules"]}

    assert {
        cluster_trigger().serialize()[0].rpartition(".")[0],
        job_trigger().serialize()[0].rpartition(".")[0],
    } <= modules


@pytest.mark.parametrize(
    ("states", "target", "status", "state"),
    [
        (["CREATING", "CREATING", "RUNNING"], ["RUNNING"], "success", "RUNNING"),
        (["CREATING", "ERROR"], ["RUNNING"], "failed", "ERROR"),
        (["CREATING", None], ["RUNNING"], "failed", "DELETED"),
        (["DELETING", "DELETING", None], ["DELETED"], "success", "DELETED"),
        (["STOPPED", "STOPPED", "RUNNING"], ["RUNNING"], "success", "RUNNING"),
    ],
)
def test_cluster_trigger_emits_one_event_for_each_end(mocker, states, target, status, state):
    trigger, hook = with_hook(
        cluster_trigger(target_states=target, failure_states=["ERROR", "DELETED"] if target != ["DELETED"] else []),
        mocker,
    )
    hook.get_cluster_info.side_effect = [cluster(s) if s else None for s in states]

    [event] = events_of(trigger)

    assert event.keys() == EVENT_KEYS
    assert (event["status"], event["state"]) == (status, state)
    assert hook.get_cluster_info.call_count == len(states)
    assert (event["resource"] is None) == (state == "DELETED")
    if event["resource"]:
        assert event["resource"]["cluster_name"] == "c"


def test_cluster_trigger_times_out_at_its_absolute_deadline(mocker):
    trigger, hook = with_hook(cluster_trigger(deadline=time.time() + 0.2), mocker)
    hook.get_cluster_info.return_value = cluster("CREATING")
    started = time.monotonic()

    [event] = events_of(trigger)

    assert (event["status"], event["state"]) == ("timeout", "CREATING")
    assert "CREATING" in event["message"] and "RUNNING" in event["message"]
    assert time.monotonic() - started < 5


def test_a_deadline_in_the_past_still_polls_once(mocker):
    trigger, hook = with_hook(cluster_trigger(deadline=time.time() - 1), mocker)
    hook.get_cluster_info.return_value = cluster("RUNNING")

    [event] = events_of(trigger)

    assert event["status"] == "success"


def test_an_api_error_becomes_the_one_error_event(mocker):
    trigger, hook = with_hook(cluster_trigger(), mocker)
    hook.get_cluster_info.side_effect = PermissionError("403 Forbidden: dataproc.clusters.get")

    [event] = events_of(trigger)

    assert event["status"] == "error"
    assert "PermissionError" in event["message"] and "dataproc.clusters.get" in event["message"]


def test_pauses_grow_between_polls_up_to_the_maximum(mocker):
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds):
        sleeps.append(seconds)
        await real_sleep(0)

    mocker.patch.object(triggers.asyncio, "sleep", record)
    mocker.patch("random.uniform", side_effect=lambda low, high: high)  # google-api-core's jitter, at its top
    trigger, hook = with_hook(cluster_trigger(poll_initial=1, poll_maximum=4), mocker)
    hook.get_cluster_info.side_effect = [cluster("CREATING")] * 6 + [cluster("RUNNING")]

    events_of(trigger)

    assert sleeps[0] <= 2 and max(sleeps) <= 4
    assert sleeps == sorted(sleeps) and sleeps[-1] == 4


@pytest.mark.parametrize(("final", "status"), [("DONE", "success"), ("ERROR", "failed"), ("CANCELLED", "failed")])
def test_job_trigger_emits_one_event_for_each_end(mocker, final, status):
    trigger, hook = with_hook(job_trigger(), mocker)
    hook.get_job_info.side_effect = [job("PENDING"), job("RUNNING"), job(final)]
    hook.read_driver_output.return_value = ("", 0)

    [event] = events_of(trigger)

    assert event.keys() == EVENT_KEYS | {"output_offset"}
    assert (event["status"], event["state"]) == (status, final)
    assert event["resource"]["job_id"] == "j"


@pytest.mark.parametrize("make", [cluster_trigger, job_trigger], ids=["cluster", "job"])
def test_the_hook_and_the_log_follower_are_built_off_the_event_loop(mocker, make):
    """Their first import takes seconds; the triggerer's loop (every trigger's) must not wait for it."""
    import threading

    built: dict[str, int] = {}

    def record(name):
        def build(*args, **kwargs):
            built[name] = threading.get_ident()
            return mocker.MagicMock(
                **{"get_cluster_info.return_value": cluster("RUNNING"), "get_job_info.return_value": job("DONE")}
            )

        return build

    mocker.patch("airflow_dask_provider.hooks.dataproc.DaskDataprocHook", side_effect=record("hook"))
    mocker.patch("airflow_dask_provider.monitoring.JobLogFollower", side_effect=record("follower"))
    trigger = make()
    loop_thread = threading.get_ident()  # asyncio.run runs the loop in this thread

    [event] = events_of(trigger)

    assert event["status"] in ("success", "failed")
    assert set(built) == ({"hook", "follower"} if make is job_trigger else {"hook"})
    assert loop_thread not in built.values()


def test_job_trigger_reports_a_job_that_does_not_exist(mocker):
    trigger, hook = with_hook(job_trigger(), mocker)
    hook.get_job_info.return_value = None

    [event] = events_of(trigger)

    assert (event["status"], event["state"], event["resource"]) == ("failed", "DELETED", None)


def test_job_trigger_times_out_and_leaves_the_job_to_the_operator(mocker):
    trigger, hook = with_hook(job_trigger(deadline=time.time() + 0.2), mocker)
    hook.get_job_info.return_value = job("RUNNING")
    hook.read_driver_output.return_value = ("", 0)

    [event] = events_of(trigger)

    assert (event["status"], event["state"]) == ("timeout", "RUNNING")
    hook.cancel_dask_job.assert_not_called()


def test_job_trigger_copies_driver_output_into_its_log_and_counts_the_offset(mocker, trigger_log):
    trigger, hook = with_hook(job_trigger(driver_output_uri="gs://b/o/driveroutput", output_offset=5), mocker)
    hook.get_job_info.side_effect = [job("RUNNING"), job("RUNNING"), job("DONE")]
    chunks = iter([("line one\nline t", 20), ("wo\n", 23), ("last, no newline", 39)])
    hook.read_driver_output.side_effect = lambda driver_output_uri, offset: next(chunks)

    [event] = events_of(trigger)

    driver = [line for line in trigger_log.lines if line.startswith("[driver] ")]
    assert driver == ["[driver] line one", "[driver] line two", "[driver] last, no newline"]
    assert hook.read_driver_output.call_args_list[0].kwargs["offset"] == 5
    assert event["output_offset"] == 39


def test_job_trigger_logs_dask_progress(mocker, trigger_log):
    from airflow_dask_provider.hooks.dask_scheduler import DaskProgress

    trigger, hook = with_hook(job_trigger(dashboard_url="https://gw/gateway/default/dask/status"), mocker)
    trigger.progress_interval = 0.0001
    hook.get_job_info.side_effect = [job("RUNNING"), job("RUNNING"), job("DONE")]
    hook.read_driver_output.return_value = ("", 0)
    hook.dask_scheduler.get_progress.return_value = DaskProgress(
        done=30, total=120, processing=2, erred=0, workers=2, memory_bytes=3 * 2**20
    )

    events_of(trigger)

    progress = [line for line in trigger_log.lines if line.startswith("Dask progress")]
    assert progress and progress[0] == (
        "Dask progress: 30/120 tasks done (25%), 2 processing, 0 erred; 2 workers; 3.0 MiB in memory"
    )


def test_job_trigger_fails_with_no_workers_once_the_cluster_has_had_none_for_the_timeout(mocker, trigger_log):
    from airflow_dask_provider.hooks.dask_scheduler import DaskProgress
    from airflow_dask_provider.monitoring import WorkerWatch

    dashboard = "https://gw/gateway/default/dask/status"
    trigger, hook = with_hook(job_trigger(dashboard_url=dashboard, no_worker_timeout=10), mocker)
    ticks = iter(range(0, 1000, 4))  # 4 s pass between two looks at the clock
    trigger.follower.clock = lambda: next(ticks)
    trigger.follower.workers = WorkerWatch(timeout=10, clock=trigger.follower.clock)
    hook.get_job_info.return_value = job("RUNNING")
    hook.read_driver_output.return_value = ("", 0)
    hook.dask_scheduler.get_progress.side_effect = [
        DaskProgress(done=1, total=9, processing=2, erred=0, workers=workers, memory_bytes=0)
        for workers in (2, 0, 0, 0)
    ]

    [event] = events_of(trigger)

    assert (event["status"], event["state"]) == ("failed", "NO_WORKERS")
    assert event["resource"]["state"] == "RUNNING"
    assert event["message"].startswith("Cluster c has had no Dask worker for ")
    assert "(no_worker_timeout is 10 s)" in event["message"] and dashboard in event["message"]
    assert hook.dask_scheduler.get_progress.call_count == 4
    hook.cancel_dask_job.assert_not_called()  # the operator cancels it


# -- clean-up when the task is killed -----------------------------------------------------------


def test_on_kill_deletes_the_cluster_being_created(mocker):
    trigger, hook = with_hook(cluster_trigger(delete_on_kill=True), mocker)

    asyncio.run(trigger.on_kill())

    hook.delete_dask_cluster.assert_called_once_with(project_id="p", region="r", cluster_name="c")


def test_on_kill_leaves_a_cluster_the_task_did_not_create(mocker):
    trigger, hook = with_hook(cluster_trigger(delete_on_kill=False), mocker)

    asyncio.run(trigger.on_kill())

    hook.delete_dask_cluster.assert_not_called()


@pytest.mark.parametrize(("cancel_on_kill", "calls"), [(True, 1), (False, 0)])
def test_on_kill_cancels_the_job_only_if_the_task_owns_it(mocker, cancel_on_kill, calls):
    trigger, hook = with_hook(job_trigger(cancel_on_kill=cancel_on_kill), mocker)

    asyncio.run(trigger.on_kill())

    assert hook.cancel_dask_job.call_count == calls


def test_a_failing_clean_up_is_logged_not_raised(mocker, trigger_log):
    trigger, hook = with_hook(job_trigger(), mocker)
    hook.cancel_dask_job.side_effect = RuntimeError("unavailable")

    asyncio.run(trigger.on_kill())

    assert "Clean-up after the task was killed failed" in trigger_log.lines


def cancel_while_waiting(trigger) -> None:
    """Run the trigger until it polls, then cancel it as a triggerer does."""

    async def scenario():
        task = asyncio.create_task(anext(trigger.run()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


@pytest.mark.parametrize(("task_state", "deleted"), [("deferred", False), ("failed", True), ("success", True)])
def test_before_airflow_3_3_a_cancelled_trigger_cleans_up_only_if_the_task_is_gone(mocker, task_state, deleted):
    mocker.patch.object(triggers, "AIRFLOW_V_3_3_PLUS", False)
    mocker.patch.object(triggers, "_task_state", return_value=task_state)
    trigger, hook = with_hook(cluster_trigger(delete_on_kill=True), mocker)
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    hook.get_cluster_info.return_value = cluster("CREATING")

    cancel_while_waiting(trigger)

    assert hook.delete_dask_cluster.called is deleted


def test_from_airflow_3_3_a_cancelled_trigger_leaves_clean_up_to_on_kill(mocker):
    mocker.patch.object(triggers, "AIRFLOW_V_3_3_PLUS", True)
    state = mocker.patch.object(triggers, "_task_state", return_value="failed")
    trigger, hook = with_hook(job_trigger(cancel_on_kill=True), mocker)
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    hook.get_job_info.return_value = job("RUNNING")
    hook.read_driver_output.return_value = ("", 0)

    cancel_while_waiting(trigger)

    hook.cancel_dask_job.assert_not_called()
    state.assert_not_called()


def test_when_the_task_state_cannot_be_read_nothing_is_cleaned_up(mocker):
    mocker.patch.object(triggers, "AIRFLOW_V_3_3_PLUS", False)
    mocker.patch.object(triggers, "_task_state", side_effect=ConnectionError("api server down"))
    trigger, hook = with_hook(job_trigger(cancel_on_kill=True), mocker)
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    hook.get_job_info.return_value = job("RUNNING")
    hook.read_driver_output.return_value = ("", 0)

    cancel_while_waiting(trigger)

    hook.cancel_dask_job.assert_not_called()


def test_event_statuses_are_checked():
    with pytest.raises(ValueError, match="status must be one of"):
        triggers.event("done", state="DONE", message="")
