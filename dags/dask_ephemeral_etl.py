"""Convert CSV to Parquet with Dask on an ephemeral Dataproc cluster.

Three tasks: create a Dask cluster, run ``jobs/csv_to_parquet.py`` on it, delete the cluster. The
delete task is a teardown: it runs whatever happened upstream, so no cluster outlives the run.

Runs on real Dataproc with a Google Cloud connection, and offline when ``DATAPROC_EMULATOR_HOST``
points at ``dask-dataproc-emulator``. Set ``GCP_PROJECT_ID`` and ``GCP_REGION`` (or the trigger
form's params) to choose where.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_dask_provider.bundled import job_script
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from airflow_dask_provider.templating import FILTERS, location_params, node_service_account

WHERE = {"project_id": "{{ params.project_id }}", "region": "{{ params.region }}"}
OUTPUT = (
    "{{ params.output_uri or ('gs://' ~ ti.xcom_pull(task_ids='create_cluster')['config_bucket']"
    " ~ '/dask_ephemeral_etl/' ~ (run_id | short_hash) ~ '/parquet') }}"
)

with DAG(
    dag_id="dask_ephemeral_etl",
    description="CSV to Parquet with Dask on an ephemeral Dataproc cluster",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["dask", "dataproc", "example"],
    user_defined_filters=FILTERS,
    params={
        **location_params(),
        "input_uri": Param(
            "",
            type="string",
            title="Input CSV",
            description="gs:// URI or glob of CSV files. Empty: generate sample data on the cluster.",
        ),
        "output_uri": Param(
            "",
            type="string",
            title="Output Parquet",
            description="gs:// URI of the Parquet dataset. Empty: a folder in the cluster's staging bucket.",
        ),
        "sample_rows": Param(1_000_000, type="integer", minimum=1, maximum=100_000_000, title="Sample rows"),
    },
) as dag:
    # [START readme_example]
    # [START howto_operator_create_cluster]
    create_cluster = DaskDataprocCreateClusterOperator(
        task_id="create_cluster",
        service_account=node_service_account(),
        num_workers=2,
        idle_delete_ttl="2h",
        labels={"example": "dask-ephemeral-etl"},
        **WHERE,
    )
    # [END howto_operator_create_cluster]
    # [START howto_operator_submit_job]
    csv_to_parquet = DaskDataprocSubmitJobOperator(
        task_id="csv_to_parquet",
        main=job_script("csv_to_parquet.py"),
        # A bundled job carries what it imports (dask_job.py): no py_files needed.
        args=[
            "--input={{ params.input_uri }}",
            "--output=" + OUTPUT,
            "--sample-rows={{ params.sample_rows }}",
        ],
        **WHERE,
    )
    # [END howto_operator_submit_job]
    # [START howto_operator_delete_cluster]
    delete_cluster = DaskDataprocDeleteClusterOperator(
        task_id="delete_cluster",
        **WHERE,
    )

    create_cluster >> csv_to_parquet >> delete_cluster.as_teardown(setups=create_cluster)
    # [END howto_operator_delete_cluster]
    # [END readme_example]
