"""A bundled job submitted with ``job_script(...)`` alone: the operator adds the bundled scripts it imports."""

from __future__ import annotations

import json
from types import SimpleNamespace

from airflow_dask_provider.bundled import job_script
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import DaskDataprocSubmitJobOperator

from .conftest import CLUSTER, WHERE, task_instance, uri


def run_alone(script: str, *args: str, tmp_path) -> dict:
    """Run a bundled job with no ``py_files``; return its summary line."""
    task_id = f"alone_{script.removesuffix('.py')}"
    operator = DaskDataprocSubmitJobOperator(
        task_id=task_id, cluster_name=CLUSTER, main=job_script(script), args=list(args), **WHERE
    )
    context = {"ti": task_instance(task_id), "dag": SimpleNamespace(fileloc=str(tmp_path / "dag.py"))}
    result = operator.execute(context)
    output, _ = DaskDataprocHook().read_driver_output(driver_output_uri=result["driver_output_uri"])
    summaries = [json.loads(line) for line in output.splitlines() if line.startswith('{"job"')]
    assert len(summaries) == 1, output[-3000:]
    return summaries[0]


def test_a_library_job_submitted_with_job_script_alone_succeeds(job_cluster, tmp_path):
    generated = run_alone(
        "generate.py", "text", f"--output={uri('alone/text')}", "--rows=2000", "--seed=1", tmp_path=tmp_path
    )
    counted = run_alone(
        "word_count.py", f"--input={uri('alone/text')}", f"--output={uri('alone/words')}", tmp_path=tmp_path
    )

    assert (generated["job"], generated["rows"]) == ("generate", 2000)
    assert counted["job"] == "word_count" and counted["words"] > 2000
