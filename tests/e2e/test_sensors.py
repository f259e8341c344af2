"""The cluster and job sensors, deferred, in a real ``airflow dags test`` run on the emulator."""

from __future__ import annotations

import pytest

from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import dags_test, extra_link, xcom_value

from .conftest import REPO, environment

DAG_ID = "dask_sensors_on_emulator"


@pytest.fixture(scope="module")
def sensor_run(airflow_home, emulator):
    env = environment(airflow_home, emulator, REPO / "tests" / "e2e" / "dags")
    return dags_test(DAG_ID, env=env), env


def test_both_sensors_succeed(sensor_run):
    run, _ = sensor_run

    assert run.states == {
        "create": "success",
        "cluster_running": "success",
        "start_job": "success",
        "wait_for_job": "success",
        "cluster_idle": "success",
        "scheduler_state": "success",
        "delete": "success",
        "create_policy": "success",
    }, run.output[-5000:]


def test_the_idle_sensor_reports_the_cluster_idle_and_leaves_it(sensor_run):
    run, env = sensor_run
    report = xcom_value(DAG_ID, "cluster_idle", "return_value", env=env)

    assert (report["action"], report["deleted"]) == ("report", False), run.output[-3000:]


def test_the_scheduler_hook_reads_the_workers_of_the_idle_cluster(sensor_run):
    run, env = sensor_run
    state = xcom_value(DAG_ID, "scheduler_state", "return_value", env=env)

    assert state == {"workers": 2, "pending_tasks": 0, "busy": False}, (state, run.output[-3000:])


def test_the_job_sensor_copies_the_output_of_a_job_it_did_not_start(sensor_run):
    run, _ = sensor_run
    messages = [message for _, message in run.log_records()]

    assert any(m.startswith("[driver] ") and '"rows": 200000' in m for m in messages), run.output[-3000:]
    assert [summary["rows"] for summary in run.job_summaries()] == [200000]


def test_the_sensors_show_the_dashboard_link(sensor_run):
    _, env = sensor_run

    for task_id in ("cluster_running", "wait_for_job"):
        assert extra_link(DAG_ID, task_id, "Dask Dashboard", env=env).endswith("/gateway/default/dask/status")
    assert "/dataproc/jobs/external-" in extra_link(DAG_ID, "wait_for_job", "Dataproc Job", env=env)


def test_nothing_is_left_running(sensor_run, emulator):
    assert list(emulator.cluster_client().list_clusters(project_id="local-project", region="europe-west1")) == []
    assert dask_processes(parent=emulator.pid) == []
