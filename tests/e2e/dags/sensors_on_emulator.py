"""The sensors with real Airflow: one waits for a cluster, one for a job started outside the provider.

``start_job`` submits a job through the hook and returns at once, as another system would;
``wait_for_job`` (deferred) follows it to the end, copying its output into its log; ``cluster_idle``
(deferred) then reports the cluster's Dask scheduler idle, and ``scheduler_state`` reads the scheduler
itself through the hook's ``dask_scheduler``. ``create_policy`` creates a Dataproc
autoscaling policy beside them. The operator guides show these tasks (``[START howto_...]`` markers).
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_dask_provider.bundled import job_script
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator
from airflow_dask_provider.operators.autoscaling_policy import DaskDataprocCreateAutoscalingPolicyOperator
from airflow_dask_provider.sensors.dataproc import DaskDataprocClusterSensor, DaskDataprocJobSensor
from airflow_dask_provider.sensors.idle import DaskDataprocIdleSensor

WHERE = {"project_id": os.environ.get("GCP_PROJECT_ID", "local-project"), "region": "europe-west1"}
CLUSTER = "dask-sensors"
NODES = "dask-nodes@local-project.iam.gserviceaccount.com"
#: The job's main file and what it imports.
JOB_FILES = ("csv_to_parquet.py", "dask_job.py")

with DAG(dag_id="dask_sensors_on_emulator", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    create = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name=CLUSTER, deferrable=False, service_account=NODES, **WHERE
    )
    # [START howto_sensor_cluster]
    running = DaskDataprocClusterSensor(
        task_id="cluster_running", cluster_name=CLUSTER, deferrable=True, timeout=600, **WHERE
    )
    # [END howto_sensor_cluster]

    # [START howto_hook_dataproc]
    @task
    def start_job(ti=None) -> str:
        from airflow_dask_provider.hooks import DaskDataprocHook

        hook = DaskDataprocHook()
        bucket = hook.get_cluster_info(**WHERE, cluster_name=CLUSTER).config_bucket
        main, helpers = (hook.stage_file(local_path=job_script(name), bucket=bucket) for name in JOB_FILES)
        job = hook.submit_dask_job(
            **WHERE,
            cluster_name=CLUSTER,
            job_id="external-" + hashlib.sha256(ti.run_id.encode()).hexdigest()[:12],
            main_python_file_uri=main,
            python_file_uris=[helpers],
            args=["--sample-rows=200000", f"--output=gs://{bucket}/sensors/parquet"],
        )
        return job.job_id

    # [END howto_hook_dataproc]

    job_id = start_job()
    # [START howto_sensor_job]
    wait = DaskDataprocJobSensor(
        task_id="wait_for_job", job_id=job_id, deferrable=True, progress_interval=1, timeout=600, **WHERE
    )
    # [END howto_sensor_job]
    # [START howto_sensor_idle]
    idle = DaskDataprocIdleSensor(
        task_id="cluster_idle",
        cluster_name=CLUSTER,
        quiet_period="3s",
        action="report",  # "delete" (the default) deletes the cluster once it has been idle that long
        poke_interval=1,
        deferrable=True,
        timeout=600,
        **WHERE,
    )
    # [END howto_sensor_idle]

    # [START howto_hook_dask_scheduler]
    @task
    def scheduler_state() -> dict:
        from airflow_dask_provider.hooks import DaskDataprocHook

        hook = DaskDataprocHook()
        cluster = hook.get_cluster_info(**WHERE, cluster_name=CLUSTER)
        scheduler = hook.dask_scheduler  # a DaskSchedulerHook: the scheduler through Component Gateway
        progress = scheduler.get_progress(dashboard_url=cluster.dashboard_url)
        idleness = scheduler.get_cluster_idleness(**WHERE, cluster_name=CLUSTER, dashboard_url=cluster.dashboard_url)
        return {"workers": progress.workers, "pending_tasks": progress.total - progress.done, "busy": idleness.busy}

    # [END howto_hook_dask_scheduler]

    state = scheduler_state()
    delete = DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=CLUSTER, deferrable=True, **WHERE)
    # [START howto_operator_create_autoscaling_policy]
    create_policy = DaskDataprocCreateAutoscalingPolicyOperator(
        task_id="create_policy",
        policy_id="dask-yarn",
        worker_max_instances=10,
        secondary_max_instances=20,
        scale_up_factor=0.5,
        cooldown_period="4m",
        **WHERE,
    )
    # [END howto_operator_create_autoscaling_policy]

    create >> running >> job_id
    wait >> idle >> state >> delete.as_teardown(setups=create)
