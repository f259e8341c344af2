"""The emulator speaks Dataproc: the Google provider's operators run against it unchanged."""

from __future__ import annotations

import textwrap

from google.cloud import dataproc_v1

from tests.devtools import dags_test, xcom_value

from .conftest import REPO, environment

JOB = """
import sys
from distributed import Client

with Client() as client:  # DASK_SCHEDULER_ADDRESS, as on a Dataproc master
    total = client.submit(sum, range(101)).result()
    workers = len(client.scheduler_info()["workers"])
with open(sys.argv[1], "w") as out:
    out.write(f"{total} {workers}")
print("total", total)
"""


State = dataproc_v1.ClusterStatus.State


def google_environment(airflow_home, emulator) -> dict[str, str]:
    """The DAGs' environment, with the job script in the emulator's ``gs://google-ops/jobs/sum.py``."""
    job = emulator.data_dir / "gcs" / "google-ops" / "jobs" / "sum.py"
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(textwrap.dedent(JOB))
    return {
        **environment(airflow_home, emulator, REPO / "tests" / "e2e" / "dags"),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": '{"conn_type": "google_cloud_platform", "extra": {"project": "local-project"}}',
    }


def test_google_create_submit_delete_run_on_the_emulator(airflow_home, emulator):
    env = google_environment(airflow_home, emulator)

    run = dags_test("google_dataproc_on_emulator", env=env)

    assert run.states == {"create_cluster": "success", "submit_job": "success", "delete_cluster": "success"}, (
        run.output[-5000:]
    )
    assert (emulator.data_dir / "gcs" / "google-ops" / "out.txt").read_text() == "5050 2"


def test_google_stop_start_update_sensor_and_deferrable_operators_run_on_the_emulator(airflow_home, emulator):
    env = google_environment(airflow_home, emulator)
    dag_id = "google_dataproc_stop_start_on_emulator"

    run = dags_test(dag_id, env=env)

    tasks = [
        "create_cluster",
        "scale_down",
        "stop_cluster",
        "start_cluster",
        "submit_async",
        "wait_for_job",
        "submit_deferred",
        "delete_cluster",
    ]
    assert run.states == dict.fromkeys(tasks, "success"), run.output[-5000:]
    assert run.deferred_tasks() == {"create_cluster", "submit_deferred", "delete_cluster"}  # triggers ran in line
    stopped = xcom_value(dag_id, "stop_cluster", "return_value", env=env)
    started = xcom_value(dag_id, "start_cluster", "return_value", env=env)
    assert stopped["status"]["state"] == State.STOPPED
    history = [status["state"] for status in started["status_history"]] + [started["status"]["state"]]
    assert history[-4:] == [State.STOPPING, State.STOPPED, State.STARTING, State.RUNNING]
    assert started["config"]["worker_config"]["num_instances"] == 2  # the scale-down, kept across the stop
    # Both jobs ran on the started cluster, with the two workers left by the scale-down.
    gcs = emulator.data_dir / "gcs" / "google-ops"
    assert (gcs / "out-async.txt").read_text() == "5050 2"
    assert (gcs / "out-deferred.txt").read_text() == "5050 2"
    assert xcom_value(dag_id, "submit_async", "return_value", env=env)
    assert emulator.cluster_client().list_clusters(project_id="local-project", region="europe-west1").clusters == []
