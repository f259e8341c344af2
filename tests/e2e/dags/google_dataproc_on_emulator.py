"""The Google provider's own Dataproc operators, unchanged, against the emulator.

Only their client construction is pointed at it: ``DataprocHook.get_cluster_client`` and
``get_job_client`` return clients whose channel goes to ``DATAPROC_EMULATOR_HOST``. Everything else,
requests, long-running operations and polling, is the Google provider's own code.
"""

from __future__ import annotations

import os
from datetime import datetime

import grpc
from airflow.providers.common.compat.sdk import DAG
from airflow.providers.google.cloud.hooks.dataproc import DataprocHook
from airflow.providers.google.cloud.operators.dataproc import (
    DataprocCreateClusterOperator,
    DataprocDeleteClusterOperator,
    DataprocSubmitJobOperator,
)
from google.cloud import dataproc_v1


def emulator_client(client_class):
    def build(self, region=None):
        transport = client_class.get_transport_class("grpc")(
            channel=grpc.insecure_channel(os.environ["DATAPROC_EMULATOR_HOST"])
        )
        return client_class(transport=transport)

    return build


DataprocHook.get_cluster_client = emulator_client(dataproc_v1.ClusterControllerClient)
DataprocHook.get_job_client = emulator_client(dataproc_v1.JobControllerClient)

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
