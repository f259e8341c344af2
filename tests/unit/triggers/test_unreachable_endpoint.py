"""Triggers and an endpoint that does not answer: one error event naming it; deletions get the teardown budget."""

from __future__ import annotations

from airflow_dask_provider.exceptions import EndpointUnreachableError
from airflow_dask_provider.hooks import bounded

from .test_triggers import cluster_trigger, events_of, job_trigger, with_hook

UNREACHABLE = EndpointUnreachableError("127.0.0.1:9", "get_job", 61.0, ConnectionRefusedError("refused"))


def test_an_unreachable_endpoint_ends_a_job_wait_with_an_error_event_naming_it(mocker):
    trigger, hook = with_hook(job_trigger(), mocker)
    hook.get_job_info.side_effect = UNREACHABLE

    [event] = events_of(trigger)

    assert event["status"] == "error"
    assert "EndpointUnreachableError" in event["message"]
    assert "127.0.0.1:9" in event["message"] and "get_job" in event["message"]


def test_a_wait_for_a_deletion_calls_with_the_teardown_budget(mocker):
    seen = []
    trigger, hook = with_hook(cluster_trigger(target_states=["DELETED"], failure_states=[]), mocker)
    hook.get_cluster_info.side_effect = lambda **where: seen.append(bounded._TEARDOWN.get())

    [event] = events_of(trigger)

    assert event["status"] == "success" and seen == [True]
    assert bounded._TEARDOWN.get() is False


def test_a_wait_for_a_running_cluster_calls_with_the_normal_budget(mocker):
    seen = []
    trigger, hook = with_hook(cluster_trigger(failure_states=["DELETED"]), mocker)
    hook.get_cluster_info.side_effect = lambda **where: seen.append(bounded._TEARDOWN.get()) or None

    events_of(trigger)

    assert seen and not any(seen)
