"""Two DAGs whose runs can be made to meet on one cluster: the issue 20 fault tests run two of their
runs at once. ``cluster_name`` (a param) empty leaves the name to the provider; the job holds the
cluster until ``release_file`` exists or for ``seconds``, or with neither, forever (the maximum-life
fault test).

``concurrent_runs`` never shares a cluster of another run; ``concurrent_runs_shared`` does
(``share_cluster=True``).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)

WHERE = {"project_id": os.environ.get("GCP_PROJECT_ID", "local-project"), "region": "europe-west1"}
NODES = "dask-nodes@local-project.iam.gserviceaccount.com"
PARAMS = {
    "cluster_name": Param("", type="string", description="Empty: derived by the provider."),
    "release_file": Param("", type="string"),
    "seconds": Param(0, type="number"),
    "idle_ttl": Param("2h", type="string"),
}

for dag_id, share in (("concurrent_runs", False), ("concurrent_runs_shared", True)):
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, params=PARAMS):
        create = DaskDataprocCreateClusterOperator(
            task_id="create",
            cluster_name="{{ params.cluster_name }}",
            share_cluster=share,
            num_workers=2,
            idle_delete_ttl="{{ params.idle_ttl }}",
            service_account=NODES,
            **WHERE,
        )
        hold = DaskDataprocSubmitJobOperator(
            task_id="hold",
            cluster_name="{{ params.cluster_name }}",
            main="jobs/hold_cluster.py",
            args=["--until-file={{ params.release_file }}", "--seconds={{ params.seconds }}"],
            progress_interval=0,
            **WHERE,
        )
        delete = DaskDataprocDeleteClusterOperator(
            task_id="delete", cluster_name="{{ params.cluster_name }}", report_cost=False, **WHERE
        )
        create >> hold >> delete.as_teardown(setups=create)
