"""The Google provider's own workflow template operators, unchanged, against the emulator.

Only their client construction is pointed at it, by ``point_google_dataproc_hooks``: the clients of
``DataprocHook`` and ``DataprocAsyncHook`` (through which the deferrable operator's trigger polls the
operation) go to ``DATAPROC_EMULATOR_HOST``. Everything else, requests, long-running operations,
deferral and polling, is the Google provider's own code.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG
from airflow.providers.google.cloud.operators.dataproc import (
    DataprocCreateWorkflowTemplateOperator,
    DataprocInstantiateInlineWorkflowTemplateOperator,
    DataprocInstantiateWorkflowTemplateOperator,
)

from dask_dataproc_emulator.testing import point_google_dataproc_hooks

point_google_dataproc_hooks()  # their clients go to DATAPROC_EMULATOR_HOST

PROJECT, REGION, BUCKET, TEMPLATE_ID = "local-project", "europe-west1", "wf-ops", "sum-and-report"
STEP = f"gs://{BUCKET}/jobs/step.py"
MANAGED = {
    "managed_cluster": {
        "cluster_name": "wf-managed",
        "config": {"worker_config": {"num_instances": 2}, "config_bucket": BUCKET},
    }
}


def steps(out: str) -> list[dict]:
    """Two pyspark steps: "report" runs after "count" and reads what "count" wrote."""
    count, report = f"gs://{BUCKET}/out/{out}/count.txt", f"gs://{BUCKET}/out/{out}/report.txt"
    return [
        {"step_id": "count", "pyspark_job": {"main_python_file_uri": STEP, "args": ["count", count]}},
        {
            "step_id": "report",
            "prerequisite_step_ids": ["count"],
            "pyspark_job": {"main_python_file_uri": STEP, "args": ["report", report, count]},
        },
    ]


def outputs(out: str) -> dict[str, str]:
    """Parameters sending both steps' outputs to ``out/``."""
    return {
        "COUNT_OUT": f"gs://{BUCKET}/out/{out}/count.txt",
        "REPORT_OUT": f"gs://{BUCKET}/out/{out}/report.txt",
    }


with DAG("google_workflow_templates_on_emulator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    create = DataprocCreateWorkflowTemplateOperator(
        task_id="create_template",
        project_id=PROJECT,
        region=REGION,
        template={
            "id": TEMPLATE_ID,
            "placement": MANAGED,
            "jobs": steps("template"),
            "parameters": [
                {
                    "name": "COUNT_OUT",
                    "fields": ["jobs['count'].pysparkJob.args[1]", "jobs['report'].pysparkJob.args[2]"],
                },
                {"name": "REPORT_OUT", "fields": ["jobs['report'].pysparkJob.args[1]"]},
            ],
        },
    )
    instantiate = DataprocInstantiateWorkflowTemplateOperator(
        task_id="instantiate",
        project_id=PROJECT,
        region=REGION,
        template_id=TEMPLATE_ID,
        parameters=outputs("instantiated"),
    )
    instantiate_deferred = DataprocInstantiateWorkflowTemplateOperator(
        task_id="instantiate_deferred",
        project_id=PROJECT,
        region=REGION,
        template_id=TEMPLATE_ID,
        version=1,
        parameters=outputs("deferred"),
        deferrable=True,
        polling_interval_seconds=1,
    )
    inline = DataprocInstantiateInlineWorkflowTemplateOperator(
        task_id="instantiate_inline",
        project_id=PROJECT,
        region=REGION,
        template={"placement": MANAGED, "jobs": steps("inline")},
    )
    create >> instantiate >> instantiate_deferred >> inline
