"""Run any job of the Dask job library on an ephemeral Dataproc cluster, on data generated for it.

Four tasks: create a Dask cluster, generate the chosen job's input on it (``jobs/generate.py``),
run the job (``jobs/<job>.py``), delete the cluster. The delete task is a teardown: it runs whatever
happened upstream, so no cluster outlives the run. Choose the job, the size and the seed in the
trigger form (params ``job``, ``rows``, ``seed``); every job takes ``--input`` and ``--output`` and
has sensible defaults for the rest, so the same two tasks serve all of them.

Runs on real Dataproc with a Google Cloud connection (the nodes need ``xgboost-cpu`` for
``ml_training`` and ``gcsfs`` for gs:// paths), and offline when ``DATAPROC_EMULATOR_HOST`` points at
``dask-dataproc-emulator``. Set ``GCP_PROJECT_ID`` and ``GCP_REGION`` (or the params) to choose where.
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

#: Each job of the library and the kind of input ``generate.py`` writes for it.
JOB_INPUTS = {
    "word_count": "text",
    "csv_to_parquet": "csv",
    "parquet_analytics": "events",
    "ml_training": "features",
    "graph_analytics": "edges",
}
JOB_SCRIPTS = {job: job_script(f"{job}.py") for job in JOB_INPUTS}


WHERE = {"project_id": "{{ params.project_id }}", "region": "{{ params.region }}"}
BASE = (
    "{{ params.output_uri or ('gs://' ~ ti.xcom_pull(task_ids='create_cluster')['config_bucket']"
    " ~ '/dask_job_library/' ~ (run_id | short_hash)) }}/{{ params.job }}"
)

with DAG(
    dag_id="dask_job_library",
    description="Any job of the Dask job library, on generated data, on an ephemeral Dataproc cluster",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["dask", "dataproc", "example"],
    user_defined_filters=FILTERS,
    user_defined_macros={"job_inputs": JOB_INPUTS, "job_scripts": JOB_SCRIPTS},
    params={
        "job": Param("word_count", enum=list(JOB_INPUTS), title="Job", description="The job to run."),
        "rows": Param(
            100_000,
            type="integer",
            minimum=1,
            maximum=100_000_000,
            title="Rows",
            description="Size of the generated input: lines, rows or edges.",
        ),
        "seed": Param(0, type="integer", minimum=0, title="Seed of the generated input"),
        **location_params(),
        "output_uri": Param(
            "",
            type="string",
            title="Output prefix",
            description="gs:// prefix for JOB/input and JOB/output. Empty: a folder in the cluster's staging bucket.",
        ),
    },
) as dag:
    create_cluster = DaskDataprocCreateClusterOperator(
        task_id="create_cluster",
        service_account=node_service_account(),
        num_workers=2,
        idle_delete_ttl="2h",
        labels={"example": "dask-job-library"},
        **WHERE,
    )
    # [START howto_operator_submit_job_library]
    generate_input = DaskDataprocSubmitJobOperator(
        task_id="generate_input",
        main=job_script("generate.py"),
        # generate.py imports csv_to_parquet.py and dask_job.py: the operator ships them with it.
        args=[
            "{{ job_inputs[params.job] }}",
            f"--output={BASE}/input",
            "--rows={{ params.rows }}",
            "--seed={{ params.seed }}",
        ],
        **WHERE,
    )
    run_job = DaskDataprocSubmitJobOperator(
        task_id="run_job",
        main="{{ job_scripts[params.job] }}",
        args=[f"--input={BASE}/input", f"--output={BASE}/output"],
        **WHERE,
    )
    # [END howto_operator_submit_job_library]
    delete_cluster = DaskDataprocDeleteClusterOperator(
        task_id="delete_cluster",
        **WHERE,
    )

    create_cluster >> generate_input >> run_job >> delete_cluster.as_teardown(setups=create_cluster)
