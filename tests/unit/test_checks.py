"""The pure checks the sensors, their triggers and the hook's waits share: verdicts from plain data, no cluster."""

from __future__ import annotations

import pytest

from airflow_dask_provider import driver
from airflow_dask_provider.checks import (
    FAILED,
    SUCCESS,
    WAITING,
    busy_reason,
    cluster_state_of,
    cluster_verdict,
    idle_cluster_verdict,
    idleness_verdict,
    job_failure,
    job_verdict,
    quiet_since,
)

from .operators.conftest import cluster, job

QUIET = {"busy": False, "idle_since": None, "source": "metrics", "pending_tasks": 0, "active_jobs": 0}
BUSY = {"busy": True, "idle_since": None, "source": "check_idle", "pending_tasks": 0, "active_jobs": 0}


# -- clusters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "target", "failure", "verdict"),
    [
        (cluster("RUNNING"), ["RUNNING"], ["ERROR"], (SUCCESS, "RUNNING", "Cluster c is RUNNING")),
        (cluster("ERROR", detail="quota"), ["RUNNING"], ["ERROR"], (FAILED, "ERROR", "Cluster c is ERROR: quota")),
        (cluster("ERROR"), ["RUNNING"], ["ERROR"], (FAILED, "ERROR", "Cluster c is ERROR")),
        (cluster("ERROR"), ["ERROR"], [], (SUCCESS, "ERROR", "Cluster c is ERROR")),
        (None, ["DELETED"], [], (SUCCESS, "DELETED", "Cluster c is DELETED")),
        (None, ["RUNNING"], ["ERROR", "DELETED"], (FAILED, "DELETED", "Cluster c is DELETED")),
        (
            cluster("CREATING"),
            ["RUNNING", "UPDATING"],
            ["ERROR"],
            (WAITING, "CREATING", "Cluster c is CREATING; waiting for RUNNING or UPDATING"),
        ),
    ],
)
def test_cluster_verdict_for_each_state(info, target, failure, verdict):
    found = cluster_verdict(info, cluster_name="c", target_states=target, failure_states=failure)

    assert (found.status, found.state, found.message) == verdict
    assert found.done is (verdict[0] != WAITING)


def test_a_failed_cluster_verdict_carries_dataprocs_detail():
    assert (
        cluster_verdict(
            cluster("ERROR", detail="quota"), cluster_name="c", target_states=["RUNNING"], failure_states=["ERROR"]
        ).detail
        == "quota"
    )


def test_a_cluster_that_does_not_exist_is_deleted():
    assert (cluster_state_of(None), cluster_state_of(cluster("STOPPED"))) == ("DELETED", "STOPPED")


# -- jobs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "detail", "verdict"),
    [
        ("DONE", "", (SUCCESS, "DONE", "Job j is DONE")),
        ("ERROR", "Google says no", (FAILED, "ERROR", "Job j is ERROR: Google says no")),
        ("CANCELLED", "", (FAILED, "CANCELLED", "Job j is CANCELLED")),
        ("RUNNING", "", (WAITING, "RUNNING", "Dask job j is RUNNING")),
        ("PENDING", "", (WAITING, "PENDING", "Dask job j is PENDING")),
    ],
)
def test_job_verdict_for_each_state(state, detail, verdict):
    import dataclasses

    found = job_verdict(dataclasses.replace(job(state), detail=detail), job_id="j")

    assert (found.status, found.state, found.message) == verdict
    assert found.done is (verdict[0] != WAITING)


def test_a_job_that_does_not_exist_fails_the_wait():
    found = job_verdict(None, job_id="j")

    assert (found.status, found.state, found.message) == (FAILED, "DELETED", "Job j does not exist (deleted?)")


def test_a_failed_jobs_error_leads_with_its_cause_and_leaves_out_the_driver_marker():
    output = "Reading rows\n" + driver.ERROR_MARKER + "ValueError: boom\n"

    error = job_failure(job("ERROR"), output)

    assert str(error).splitlines()[:2] == ["ValueError: boom", "Dask job j ended in state ERROR"]
    assert error.cause == "ValueError: boom" and "Reading rows" in error.driver_tail
    assert driver.ERROR_MARKER not in error.driver_tail


# -- idle clusters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "verdict"),
    [
        (None, (SUCCESS, "DELETED", "Cluster c does not exist")),
        (cluster("ERROR", detail="boom"), (FAILED, "ERROR", "Cluster c is in ERROR: boom")),
        (cluster("CREATING"), (WAITING, "CREATING", "Cluster c is CREATING; waiting for its Dask scheduler")),
    ],
)
def test_idle_cluster_verdict_before_asking_the_scheduler(info, verdict):
    found = idle_cluster_verdict(info, cluster_name="c")

    assert (found.status, found.state, found.message) == verdict


def test_a_serving_cluster_without_a_dashboard_cannot_be_watched():
    found = idle_cluster_verdict(cluster(dashboard_url=None), cluster_name="c")

    assert (found.status, found.state) == (FAILED, "RUNNING")
    assert "Component Gateway" in found.message and found.detail == found.message


@pytest.mark.parametrize("state", ["RUNNING", "UPDATING"])
def test_the_scheduler_of_a_serving_cluster_with_a_dashboard_is_asked(state):
    assert idle_cluster_verdict(cluster(state), cluster_name="c") is None


def look(idleness, observed=None, now=1000.0, quiet_period=600):
    return idleness_verdict(
        idleness, cluster_name="c", state="RUNNING", quiet_period=quiet_period, observed_quiet_since=observed, now=now
    )


def test_a_cluster_idle_for_the_quiet_period_is_done_with_the_facts():
    verdict, observed = look({**QUIET, "idle_since": 300.0, "source": "check_idle"})

    assert (verdict.status, verdict.state, verdict.message) == (SUCCESS, "RUNNING", "Cluster c has been idle for 700s")
    assert verdict.facts == {"idle_since": 300.0, "idle_seconds": 700.0, "source": "check_idle"}
    assert observed is None  # the scheduler says since when: nothing to carry


def test_a_cluster_idle_for_less_than_the_quiet_period_is_waited_for():
    verdict, _ = look({**QUIET, "idle_since": 940.0, "source": "check_idle"})

    assert (verdict.status, verdict.message) == (WAITING, "Cluster c has been idle for 60s of 600s")


def test_a_busy_cluster_is_waited_for_and_its_quiet_time_restarts():
    verdict, observed = look({**BUSY, "active_jobs": 2}, observed=100.0)

    assert (verdict.status, verdict.message) == (WAITING, "Cluster c is busy (2 active Dataproc jobs)")
    assert observed is None


def test_with_the_metrics_fallback_the_first_quiet_look_starts_the_quiet_time():
    verdict, observed = look(QUIET, observed=None, now=1000.0)
    assert (verdict.status, observed) == (WAITING, 1000.0)

    verdict, observed = look(QUIET, observed=observed, now=1600.0)
    assert (verdict.status, verdict.facts["idle_since"], observed) == (SUCCESS, 1000.0, 1000.0)


def test_quiet_time_counts_from_the_schedulers_idle_since_when_it_says_it():
    assert quiet_since({"busy": False, "idle_since": 50.0}, observed=80.0, now=100.0) == 50.0
    assert quiet_since({"busy": True, "idle_since": None}, observed=80.0, now=100.0) is None


def test_without_idle_since_quiet_time_counts_from_the_first_quiet_look():
    assert quiet_since({"busy": False, "idle_since": None}, observed=None, now=100.0) == 100.0
    assert quiet_since({"busy": False, "idle_since": None}, observed=80.0, now=100.0) == 80.0


@pytest.mark.parametrize(
    ("idleness", "reason"),
    [
        ({**BUSY, "active_jobs": 1}, "1 active Dataproc jobs"),
        ({**BUSY, "source": "metrics", "pending_tasks": 5}, "5 Dask tasks not done"),
        (BUSY, "Dask tasks processing or queued"),
    ],
)
def test_busy_reason_names_what_keeps_the_cluster_busy(idleness, reason):
    assert busy_reason(idleness) == reason
