"""Scale a Dask cluster's secondary workers to a bursty job's load, on an ephemeral Dataproc cluster.

Four tasks: create a cluster of 2 primary and no secondary workers, then in parallel run the bursty
job (``jobs/bursty.py``: bursts of many short tasks separated by quiet periods) and the autoscale
companion, which grows the secondary group (0 to 4 workers) while tasks queue up and retires Dask
workers, then removes their nodes, once the burst is over; finally delete the cluster, as a teardown.
The companion logs each decision with its reason and writes the scaling timeline (workers and
queued tasks against time) as CSV and PNG; the task log and its XCom give their paths.

Runs on real Dataproc with a Google Cloud connection, and offline when ``DATAPROC_EMULATOR_HOST``
points at ``dask-dataproc-emulator``. Set ``GCP_PROJECT_ID`` and ``GCP_REGION`` (or the trigger
form's params) to choose where.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_dask_provider.bundled import job_script
from airflow_dask_provider.operators.cluster import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
)
from airflow_dask_provider.operators.job import DaskDataprocSubmitJobOperator
from airflow_dask_provider.operators.scaling import DaskDataprocAutoscaleOperator
from airflow_dask_provider.templating import FILTERS, location_params, node_service_account

WHERE = {"project_id": "{{ params.project_id }}", "region": "{{ params.region }}"}

with DAG(
    dag_id="dask_autoscaling_demo",
    description="Dask-aware scaling of secondary workers for a bursty Dask job",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["dask", "dataproc", "example", "autoscaling"],
    user_defined_filters=FILTERS,
    params={
        **location_params(),
        "phases": Param(2, type="integer", minimum=1, maximum=20, title="Bursts"),
        "tasks_per_phase": Param(60, type="integer", minimum=1, maximum=100_000, title="Tasks per burst"),
        "task_seconds": Param(0.4, type="number", minimum=0, maximum=600, title="Seconds per task"),
        "quiet_seconds": Param(12, type="number", minimum=0, maximum=3600, title="Quiet seconds after a burst"),
        "seed": Param(7, type="integer", minimum=0, title="Seed"),
        "timeline_dir": Param(
            "", type="string", title="Timeline folder", description="Empty: a temporary folder on the worker."
        ),
    },
) as dag:
    # [START howto_autoscale_cluster_and_job]
    create_cluster = DaskDataprocCreateClusterOperator(
        task_id="create_cluster",
        service_account=node_service_account(),
        num_workers=2,
        num_secondary_workers=0,
        idle_delete_ttl="2h",
        labels={"example": "dask-autoscaling-demo"},
        **WHERE,
    )
    bursty_job = DaskDataprocSubmitJobOperator(
        task_id="bursty_job",
        main=job_script("bursty.py"),
        args=[
            "--min-workers=2",
            "--phases={{ params.phases }}",
            "--tasks-per-phase={{ params.tasks_per_phase }}",
            "--task-seconds={{ params.task_seconds }}",
            "--quiet-seconds={{ params.quiet_seconds }}",
            "--seed={{ params.seed }}",
        ],
        **WHERE,
    )
    # [END howto_autoscale_cluster_and_job]
    # [START howto_operator_autoscale]
    autoscale = DaskDataprocAutoscaleOperator(
        task_id="autoscale",
        job_task_id="bursty_job",
        min_secondary_workers=0,
        max_secondary_workers=4,
        poke_interval="1s",
        wait_count=3,
        cooldown_period="5s",
        scale_down_delay="4s",
        job_start_timeout="5m",
        timeline_dir="{{ params.timeline_dir or '' }}",
        **WHERE,
    )
    # [END howto_operator_autoscale]
    delete_cluster = DaskDataprocDeleteClusterOperator(
        task_id="delete_cluster",
        **WHERE,
    )

    # [START howto_autoscale_dependencies]
    create_cluster >> [bursty_job, autoscale] >> delete_cluster.as_teardown(setups=create_cluster)
    # [END howto_autoscale_dependencies]
