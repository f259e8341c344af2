"""The Google provider's own Dataproc operators, unchanged, against the emulator.

Only their client construction is pointed at it, by ``point_google_dataproc_hooks``: the clients of
``DataprocHook`` and ``DataprocAsyncHook`` (which the deferrable operators' triggers use) go to
``DATAPROC_EMULATOR_HOST``. Everything else, requests, long-running operations and polling, is the
Google provider's own code.

Two DAGs: ``google_dataproc_on_emulator`` creates, runs a job and deletes; ``google_dataproc_stop_start_on_emulator``
creates deferrably, scales down with a graceful decommission timeout, stops and starts the cluster,
submits a job asynchronously and waits with ``DataprocJobSensor``, runs a deferred job, and deletes
deferrably.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG
from airflow.providers.google.cloud.operators.dataproc import (
    DataprocCreateClusterOperator,
    DataprocDeleteClusterOperator,
    DataprocStartClusterOperator,
    DataprocStopClusterOperator,
    DataprocSubmitJobOperator,
    DataprocUpdateClusterOperator,
)
from airflow.providers.google.cloud.sensors.dataproc import DataprocJobSensor

from dask_dataproc_emulator.testing import point_google_dataproc_hooks

point_google_dataproc_hooks()  # their clients go to DATAPROC_EMULATOR_HOST

PROJECT, REGION, CLUSTER = "local-project", "europe-west1", "google-operators"

with DAG("google_dataproc_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    create = DataprocCreateClusterOperator(
        task_id="create_cluster",
        project_id=PROJECT,
        region=REGION,
        cluster_name=CLUSTER,
        cluster_config={"worker_config": {"num_instances": 2}, "config_bucket": "google-ops"},
    )
    submit = DataprocSubmitJobOperator(
        task_id="submit_job",
        project_id=PROJECT,
        region=REGION,
        job={
            "placement": {"cluster_name": CLUSTER},
            "pyspark_job": {"main_python_file_uri": "gs://google-ops/jobs/sum.py", "args": ["gs://google-ops/out.txt"]},
        },
    )
    delete = DataprocDeleteClusterOperator(
        task_id="delete_cluster", project_id=PROJECT, region=REGION, cluster_name=CLUSTER
    )
    create >> submit >> delete.as_teardown(setups=create)


STOP_START_CLUSTER = "google-stop-start"
WHERE = {"project_id": PROJECT, "region": REGION}


def sum_job(output: str) -> dict:
    """The job that writes ``TOTAL WORKERS`` to ``gs://google-ops/{output}``."""
    return {
        "placement": {"cluster_name": STOP_START_CLUSTER},
        "pyspark_job": {"main_python_file_uri": "gs://google-ops/jobs/sum.py", "args": [f"gs://google-ops/{output}"]},
    }


with DAG(
    "google_dataproc_stop_start_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as stop_start_dag:
    create = DataprocCreateClusterOperator(
        task_id="create_cluster",
        **WHERE,
        cluster_name=STOP_START_CLUSTER,
        cluster_config={"worker_config": {"num_instances": 3}, "config_bucket": "google-ops"},
        deferrable=True,
        polling_interval_seconds=1,
    )
    scale_down = DataprocUpdateClusterOperator(
        task_id="scale_down",
        **WHERE,
        cluster_name=STOP_START_CLUSTER,
        cluster={"config": {"worker_config": {"num_instances": 2}}},
        update_mask={"paths": ["config.worker_config.num_instances"]},
        graceful_decommission_timeout={"seconds": 30},
    )
    stop = DataprocStopClusterOperator(task_id="stop_cluster", **WHERE, cluster_name=STOP_START_CLUSTER)
    start = DataprocStartClusterOperator(task_id="start_cluster", **WHERE, cluster_name=STOP_START_CLUSTER)
    submit_async = DataprocSubmitJobOperator(
        task_id="submit_async", **WHERE, job=sum_job("out-async.txt"), asynchronous=True
    )
    wait_for_job = DataprocJobSensor(
        task_id="wait_for_job", **WHERE, dataproc_job_id=submit_async.output, poke_interval=1, timeout=300
    )
    submit_deferred = DataprocSubmitJobOperator(
        task_id="submit_deferred",
        **WHERE,
        job=sum_job("out-deferred.txt"),
        deferrable=True,
        polling_interval_seconds=1,
    )
    delete = DataprocDeleteClusterOperator(
        task_id="delete_cluster",
        **WHERE,
        cluster_name=STOP_START_CLUSTER,
        deferrable=True,
        polling_interval_seconds=1,
    )
    (
        create
        >> scale_down
        >> stop
        >> start
        >> submit_async
        >> wait_for_job
        >> submit_deferred
        >> delete.as_teardown(setups=create)
    )
