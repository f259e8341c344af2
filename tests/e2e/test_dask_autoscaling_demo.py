"""The autoscaling example DAG, end to end on the emulator, its tasks run by the real Airflow CLI.

``airflow dags test`` runs a DAG's tasks one at a time, so the autoscale companion could never run
beside the job there. This test runs the same DAG run the way a scheduler would: it triggers a run,
then ``airflow tasks test``s each task of that run, the job and the companion at the same time.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_dask_provider.scaling.timeline import read_csv
from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import DagTestRun, airflow

from .conftest import REPO, environment

DAG_ID = "dask_autoscaling_demo"
PARAMS = {"phases": 2, "tasks_per_phase": 60, "task_seconds": 0.4, "quiet_seconds": 12, "seed": 7}
BOUNDS = (0, 4)


def run_task(task_id: str, run_id: str, env: dict[str, str]) -> str:
    result = airflow("tasks", "test", DAG_ID, task_id, run_id, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{task_id} failed:\n{output[-5000:]}"
    return output


def bursty_summary(output: str) -> dict:
    [summary] = [s for s in DagTestRun(dag_id=DAG_ID, output=output, states={}).job_summaries() if s["job"] == "bursty"]
    return summary


@pytest.fixture(scope="module")
def demo_run(airflow_home, emulator, tmp_path_factory):
    """One run of the DAG: create; the job and the companion in parallel; delete."""
    env = environment(airflow_home, emulator, REPO / "dags")
    timeline_dir = tmp_path_factory.mktemp("timeline")
    run_id = f"e2e_autoscaling_{uuid.uuid4().hex[:8]}"
    for args in (
        ("dags", "reserialize"),
        ("dags", "trigger", DAG_ID, "-r", run_id, "-c", json.dumps({**PARAMS, "timeline_dir": str(timeline_dir)})),
    ):
        result = airflow(*args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    outputs = {"create_cluster": run_task("create_cluster", run_id, env)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = {task: pool.submit(run_task, task, run_id, env) for task in ("bursty_job", "autoscale")}
        outputs.update({task: future.result() for task, future in parallel.items()})
    outputs["delete_cluster"] = run_task("delete_cluster", run_id, env)
    return outputs, timeline_dir


@pytest.fixture(scope="module")
def fixed_size_result(demo_run, emulator):
    """The same job, with the same arguments, on a cluster fixed at the maximum size (2 + 4 workers)."""
    import time

    clusters, jobs = emulator.cluster_client(), emulator.job_client()
    where = {"project_id": "local-project", "region": "europe-west1"}
    config = {"worker_config": {"num_instances": 2}, "secondary_worker_config": {"num_instances": BOUNDS[1]}}
    clusters.create_cluster(**where, cluster={"cluster_name": "fixed-size", "config": config}).result(timeout=180)
    try:
        args = ["--min-workers=6", *(f"--{key.replace('_', '-')}={value}" for key, value in PARAMS.items())]
        job = jobs.submit_job(
            **where,
            job={
                "placement": {"cluster_name": "fixed-size"},
                "pyspark_job": {"main_python_file_uri": str(REPO / "jobs" / "bursty.py"), "args": args},
            },
        )
        while not job.done:
            time.sleep(1)
            job = jobs.get_job(**where, job_id=job.reference.job_id)
        assert job.status.state.name == "DONE", job.status.details
        output = emulator.local_path(job.driver_output_resource_uri + ".000000000").read_text()
    finally:
        clusters.delete_cluster(**where, cluster_name="fixed-size").result(timeout=120)
    return bursty_summary(output)


@pytest.fixture(scope="module")
def timeline(demo_run):
    _, timeline_dir = demo_run
    return read_csv(timeline_dir / "scaling_timeline.csv")


def test_the_secondary_group_grows_to_at_least_two_during_the_burst_and_back_to_zero_after(timeline):
    secondary = [row.secondary_workers for row in timeline]
    peak = secondary.index(max(secondary))

    assert secondary[0] == 0
    assert max(secondary) >= 2
    assert 0 in secondary[peak:]
    assert secondary[-1] == 0


def test_scaling_never_leaves_the_bounds(timeline):
    assert all(BOUNDS[0] <= row.secondary_workers <= BOUNDS[1] for row in timeline)
    assert all(BOUNDS[0] <= row.secondary_requested <= BOUNDS[1] for row in timeline)


def test_decisions_and_the_timeline_paths_are_logged(demo_run):
    outputs, timeline_dir = demo_run
    log = outputs["autoscale"]

    assert "Scaling decision: grow secondary workers 0 ->" in log
    assert "Scaling decision: shrink secondary workers" in log
    assert "Retiring Dask workers" in log
    assert (
        f"Scaling timeline: {timeline_dir / 'scaling_timeline.csv'} and {timeline_dir / 'scaling_timeline.png'}" in log
    )
    assert (timeline_dir / "scaling_timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_the_result_equals_a_run_on_a_fixed_size_cluster(demo_run, fixed_size_result):
    outputs, _ = demo_run
    scaled = bursty_summary(outputs["bursty_job"])

    assert scaled["correct"] is True
    assert (scaled["result"], scaled["per_phase"]) == (fixed_size_result["result"], fixed_size_result["per_phase"])
    assert scaled["workers_used"] > 2  # secondary workers did some of the work


def test_no_task_result_was_lost_or_recomputed_when_workers_left(demo_run):
    outputs, _ = demo_run
    scaled = bursty_summary(outputs["bursty_job"])

    assert scaled["executions"] == scaled["tasks"] == PARAMS["phases"] * PARAMS["tasks_per_phase"]


def test_cluster_is_gone_and_no_dask_process_is_left(demo_run, fixed_size_result, emulator):
    clusters = emulator.cluster_client()

    assert [c.cluster_name for c in clusters.list_clusters(project_id="local-project", region="europe-west1")] == []
    assert dask_processes(parent=emulator.pid, wait=10) == []
