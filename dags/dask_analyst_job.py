"""Run a job of the Dask job library from the trigger form, on a cluster of its own, within quotas.

For analysts, who do not write DAGs: open ``dask_analyst_job`` in the Airflow UI, press Trigger, pick
the job, the input and output, the workers and how many of them may be preemptible, and go. The
tasks:

1. ``validate_request`` checks the request again (the form is not the only way in: the REST API
   and the CLI skip it): every value against the DAG's own schema, and the user's quotas of live
   clusters and secondary workers (``[dask_dataproc] max_clusters_per_user`` and
   ``max_secondary_workers_per_user``, 3 each by default). A refusal names the field, the value and
   what is allowed, or the limit, the use and the clusters that count. No cluster is created.
2. ``create_cluster`` creates the Dask cluster, labelled ``owner=<the user who triggered the run>``.
   Its **Dask Dashboard** button opens the cluster's dashboard while the job runs.
3. ``needs_sample_input`` and ``generate_input``: with no input given, sample data for the job is
   generated on the cluster (``jobs/generate.py``), so a first try needs no data at all.
4. ``run_job`` runs the job (``jobs/<job>.py``) with ``--input`` and ``--output``.
5. ``delete_cluster`` deletes the cluster as a teardown, whatever happened.

Runs on real Dataproc with a Google Cloud connection, and offline when ``DATAPROC_EMULATOR_HOST``
points at ``dask-dataproc-emulator`` (``docker compose up`` or ``make local-airflow`` start both).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_dask_provider.bundled import job_script
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from airflow_dask_provider.templating import FILTERS, node_service_account

#: The jobs of the job library (docs/operators/jobs.md; ``dask_job_library`` runs the same): what
#: the form shows, and the sample input ``generate.py`` writes for each.
JOBS = {
    "word_count": ("Word count: count the words of text files", "text"),
    "csv_to_parquet": ("CSV to Parquet: convert CSV files to a Parquet dataset", "csv"),
    "parquet_analytics": ("Parquet analytics: revenue per country and month, top users", "events"),
    "ml_training": ("ML training: gradient-boosted trees (XGBoost) on a features dataset", "features"),
    "graph_analytics": ("Graph analytics: PageRank of an edge list", "edges"),
}
JOB_SCRIPTS = {job: job_script(f"{job}.py") for job in JOBS}
SAMPLE_KINDS = {job: kind for job, (_, kind) in JOBS.items()}
#: A gs:// URI of a bucket, with or without a path; empty (or no value) means "choose for me".
GCS_URI = r"^(gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?)?$"


WHERE = {"project_id": "{{ params.project_id }}", "region": "{{ params.region }}"}
PLAN = "ti.xcom_pull(task_ids='validate_request')"
BASE = (
    "'gs://' ~ ti.xcom_pull(task_ids='create_cluster')['config_bucket']"
    " ~ '/dask_analyst_job/' ~ (run_id | short_hash) ~ '/' ~ params.job"
)
INPUT = "{{ params.input_uri or (" + BASE + " ~ '/input') }}"
OUTPUT = "{{ params.output_uri or (" + BASE + " ~ '/output') }}"

with DAG(
    dag_id="dask_analyst_job",
    description="Run a Dask job from the trigger form on a cluster of its own, within your quotas",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["dask", "dataproc", "analyst"],
    default_args={"owner": "data-platform"},
    user_defined_filters=FILTERS,
    user_defined_macros={"job_scripts": JOB_SCRIPTS, "sample_kinds": SAMPLE_KINDS},
    params={
        "job": Param(
            "word_count",
            type="string",
            enum=list(JOBS),
            values_display={job: title for job, (title, _) in JOBS.items()},
            title="Job",
            description="The Dask job to run. Each reads --input and writes --output.",
        ),
        "input_uri": Param(
            None,
            type=["null", "string"],
            pattern=GCS_URI,
            title="Input data",
            description="gs:// URI of the job's input (a folder, a file or a glob). "
            "Empty: sample data is generated on the cluster first.",
        ),
        "output_uri": Param(
            None,
            type=["null", "string"],
            pattern=GCS_URI,
            title="Output folder",
            description="gs:// URI of the folder the job writes; it is replaced. "
            "Empty: a folder in the cluster's staging bucket, shown in the run_job log.",
        ),
        # [START howto_analyst_form_workers]
        "num_workers": Param(
            2,
            type="integer",
            minimum=2,
            maximum=10,
            title="Workers",
            description="Machines running Dask workers, 2 to 10 (n2-standard-4: 3 vCPUs and 14 GB for Dask each).",
        ),
        "preemptible_share": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=1,
            title="Share of preemptible workers",
            description="0 to 1. Preemptible workers cost much less but may be taken away. At least 2 workers "
            "stay standard. Example: 0.5 of 6 workers is 3 preemptible. Your quota of preemptible "
            "workers over all your clusters is 3 unless an administrator changed it.",
        ),
        # [END howto_analyst_form_workers]
        "idle_ttl_minutes": Param(
            120,
            type="integer",
            minimum=10,
            maximum=1440,
            title="Delete the cluster when idle for (minutes)",
            description="10 to 1440. A safety net: the cluster is deleted at the end of the run anyway, "
            "and by Dataproc after this long without a running job if the run is stuck.",
        ),
        "sample_rows": Param(
            200_000,
            type="integer",
            minimum=1000,
            maximum=100_000_000,
            title="Sample size",
            description="Rows (lines, edges) of the sample data generated when Input data is empty.",
            section="Sample data",
        ),
        "project_id": Param(
            os.environ.get("GCP_PROJECT_ID", "local-project"),
            type="string",
            minLength=1,
            title="Project",
            section="Where to run",
        ),
        "region": Param(
            os.environ.get("GCP_REGION", "europe-west1"),
            type="string",
            minLength=1,
            title="Region",
            section="Where to run",
        ),
    },
) as dag:
    # [START howto_analyst_validate_request]
    @task(task_id="validate_request")
    def validate_request(**context) -> dict:
        """Refuse an out-of-schema or over-quota request before any cluster exists."""
        from airflow_dask_provider.analyst import plan_request
        from airflow_dask_provider.labels import derived_cluster_name

        # The run's cluster: the name the operators below derive, as they are given none.
        return plan_request(context, cluster_name=derived_cluster_name(context))

    # [END howto_analyst_validate_request]

    @task.short_circuit(task_id="needs_sample_input", ignore_downstream_trigger_rules=False)
    def needs_sample_input(params: dict | None = None) -> bool:
        """Go on to generate_input only when no input was given."""
        return not (params or {}).get("input_uri")

    validate = validate_request()
    # [START howto_analyst_create_cluster]
    create_cluster = DaskDataprocCreateClusterOperator(
        task_id="create_cluster",
        service_account=node_service_account(),
        num_workers="{{ " + PLAN + "['num_workers'] }}",
        num_secondary_workers="{{ " + PLAN + "['num_secondary_workers'] }}",
        idle_delete_ttl="{{ params.idle_ttl_minutes }}m",
        labels={"example": "dask-analyst-job"},
        enforce_quotas=False,  # validate_request has just checked them: one cluster listing per run
        **WHERE,
    )
    # [END howto_analyst_create_cluster]
    generate_input = DaskDataprocSubmitJobOperator(
        task_id="generate_input",
        main=job_script("generate.py"),
        # generate.py imports csv_to_parquet.py and dask_job.py: the operator ships them with it.
        args=["{{ sample_kinds[params.job] }}", "--output=" + INPUT, "--rows={{ params.sample_rows }}"],
        **WHERE,
    )
    run_job = DaskDataprocSubmitJobOperator(
        task_id="run_job",
        main="{{ job_scripts[params.job] }}",
        args=["--input=" + INPUT, "--output=" + OUTPUT],
        trigger_rule="none_failed",
        **WHERE,
    )
    delete_cluster = DaskDataprocDeleteClusterOperator(
        task_id="delete_cluster",
        **WHERE,
    )

    # run_job follows generate_input even when it is skipped (trigger rule none_failed).
    validate >> create_cluster >> needs_sample_input() >> generate_input >> run_job
    run_job >> delete_cluster.as_teardown(setups=create_cluster)
