"""Every hour, delete the Dask clusters this provider created that outlived their use.

A cluster is deleted when it is in ERROR or past its ``expiry`` label; the rest are kept, and the
task log shows a table of every cluster with what was done and why. It looks in the projects and
regions of ``[dask_dataproc] reaper_projects`` and ``reaper_regions`` in Airflow's configuration.
Trigger it with ``{"dry_run": true}`` to see what it would delete.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_dask_provider.operators.reaper import DaskDataprocReapClustersOperator

# [START howto_operator_reap_clusters]
with DAG(
    dag_id="dask_orphan_reaper",
    description="Delete this provider's Dataproc clusters that are past their expiry or in ERROR",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["dask", "dataproc", "maintenance"],
    params={"dry_run": Param(False, type="boolean", title="Dry run", description="Only log what would be deleted.")},
) as dag:
    DaskDataprocReapClustersOperator(task_id="reap_clusters", dry_run="{{ params.dry_run }}")
# [END howto_operator_reap_clusters]
