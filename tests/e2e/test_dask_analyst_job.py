"""The analyst's DAG, end to end: ``airflow dags test dask_analyst_job`` on the emulator.

Accepted requests run the job on a cluster labelled with its owner; over-quota and out-of-schema
requests fail in ``validate_request`` and create no cluster.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import dags_test, newest_run_id, xcom_value

from .conftest import REPO, environment

DAG_ID = "dask_analyst_job"
AIRFLOW_2 = __import__("airflow").__version__.startswith("2.")
#: Who owns a run of ``airflow dags test``: Airflow 3 records the user "dag_test"; Airflow 2 records
#: none, so the DAG's owner.
TEST_RUN_OWNER = "data-platform" if AIRFLOW_2 else "dag_test"
REFUSED = {
    "validate_request": "failed",
    "create_cluster": "upstream_failed",
    "needs_sample_input": "upstream_failed",
    "generate_input": "upstream_failed",
    "run_job": "upstream_failed",
    "delete_cluster": "upstream_failed",
}


def clusters(emulator) -> list[str]:
    listed = emulator.cluster_client().list_clusters(project_id="local-project", region="europe-west1")
    return [cluster.cluster_name for cluster in listed]


@pytest.fixture(scope="module")
def env(airflow_home, emulator):
    return environment(airflow_home, emulator, REPO / "dags")


@pytest.fixture(scope="module")
def sample_run(env):
    return dags_test(DAG_ID, env=env, conf={"sample_rows": 5000})


def test_a_request_without_input_generates_sample_data_then_runs_the_job(sample_run):
    assert set(sample_run.states.values()) == {"success"}, sample_run.output[-5000:]
    generated, counted = sample_run.job_summaries()
    assert (generated["job"], generated["kind"], generated["rows"]) == ("generate", "text", 5000)
    assert counted["job"] == "word_count"
    assert counted["input"] == generated["output"]
    assert int(pd.read_parquet(counted["output"])["count"].sum()) == counted["words"]


def test_the_cluster_was_labelled_with_the_runs_owner_and_is_gone(sample_run, env, emulator):
    created = xcom_value(DAG_ID, "create_cluster", "return_value", env=env)

    assert created["labels"]["owner"] == TEST_RUN_OWNER
    assert created["labels"]["created-by"] == "airflow-dask-provider"
    assert clusters(emulator) == []
    assert dask_processes(parent=emulator.pid) == []


@pytest.fixture(scope="module")
def given_input_run(env, emulator):
    """word_count on text the analyst already has in a bucket; on Airflow 2, triggered by Alice in the UI."""
    text = emulator.local_path("gs://analyst-data/books")
    subprocess.run(
        [sys.executable, str(REPO / "jobs" / "generate.py"), "text", "--output", str(text), "--rows", "3000"],
        check=True,
        capture_output=True,
    )
    if AIRFLOW_2:  # what Airflow 2's UI writes when Alice presses Trigger (its DAG runs hold no user)
        code = (
            "from airflow.models.log import Log; from airflow.utils.session import create_session\n"
            f"with create_session() as s: s.add(Log(event='trigger', owner='Alice.Smith', dag_id={DAG_ID!r}))"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    conf = {"input_uri": "gs://analyst-data/books", "output_uri": "gs://analyst-data/word-counts"}
    return dags_test(DAG_ID, env=env, conf=conf)


def test_a_request_with_input_skips_the_sample_data(given_input_run, emulator):
    states = given_input_run.states

    assert states.pop("generate_input") == "skipped", given_input_run.output[-5000:]
    assert set(states.values()) == {"success"}
    [counted] = given_input_run.job_summaries()
    assert counted["output"] == str(emulator.local_path("gs://analyst-data/word-counts"))
    assert int(pd.read_parquet(counted["output"])["count"].sum()) == counted["words"]


def test_the_user_who_triggered_the_run_owns_the_cluster(given_input_run, env):
    """Airflow 3 records the user on the DAG run ("dag_test" for ``dags test``); Airflow 2 only in its log."""
    created = xcom_value(DAG_ID, "create_cluster", "return_value", env=env)

    assert created["labels"]["owner"] == ("alice-smith" if AIRFLOW_2 else "dag_test")


@pytest.mark.parametrize(
    ("conf", "config", "reason"),
    [
        (
            {"num_workers": 8, "preemptible_share": 0.5},
            {},
            "At most 3 secondary (preemptible) workers per user ([dask_dataproc] max_secondary_workers_per_user)",
        ),
        (
            {},
            {"AIRFLOW__DASK_DATAPROC__MAX_CLUSTERS_PER_USER": "0"},
            "At most 0 live Dask clusters per user ([dask_dataproc] max_clusters_per_user)",
        ),
        ({"workers": 4}, {}, "Invalid workers=4: is not a field of this request"),
    ],
    ids=["secondary-worker-quota", "cluster-quota-from-config", "unknown-field"],
)
def test_a_refused_request_creates_no_cluster_and_says_why(env, emulator, conf, config, reason):
    run = dags_test(DAG_ID, env={**env, **config}, conf=conf)

    assert run.states == REFUSED, run.output[-5000:]
    assert reason in run.output
    assert clusters(emulator) == []


def test_an_out_of_schema_value_is_refused_before_any_task_runs(env, emulator):
    """Airflow checks the conf against the Params when the run is created; validate_request checks again."""
    newest = newest_run_id(DAG_ID, env=env)

    run = dags_test(DAG_ID, env=env, conf={"num_workers": 11})

    assert "Invalid input for param num_workers: 11 is greater than the maximum of 10" in run.output
    assert newest_run_id(DAG_ID, env=env) == newest  # no run, so no task and no cluster
    assert clusters(emulator) == []
