"""A job that runs until the Dataproc endpoint goes away: the emulator is killed while ``submit`` waits.

tests/e2e/test_fault_endpoint_unreachable.py kills the emulator once the job RUNS; ``submit`` must fail
naming the endpoint, and the ``delete`` teardown must end too, both within their bounded waits.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)

WHERE = {"project_id": os.environ.get("GCP_PROJECT_ID", "local-project"), "region": "europe-west1"}
CLUSTER = "dask-unreachable"
NODES = "dask-nodes@local-project.iam.gserviceaccount.com"

with DAG(dag_id="dask_unreachable_emulator", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    create = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name=CLUSTER, deferrable=False, service_account=NODES, **WHERE
    )
    submit = DaskDataprocSubmitJobOperator(
        task_id="submit",
        cluster_name=CLUSTER,
        main="long_running_job.py",
        check_versions=False,
        progress_interval=0,
        deferrable=False,
        **WHERE,
    )
    delete = DaskDataprocDeleteClusterOperator(
        task_id="delete", cluster_name=CLUSTER, deferrable=False, report_cost=False, **WHERE
    )
    create >> submit >> delete.as_teardown(setups=create)
