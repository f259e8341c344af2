"""Issue 4 acceptance, deferred: the job fails; the teardown deletes the cluster, logs its cost, and
the DAG run is marked failed. Ends with no cluster and no Dask process left.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import dags_test, xcom_value

from .conftest import REPO, environment

DAG_ID = "dask_ephemeral_etl"


def newest_run_state(env) -> str:
    with closing(sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")) as connection:
        return connection.execute(
            "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()[0]


@pytest.fixture(scope="module")
def failed_run(airflow_home, emulator):
    env = {**environment(airflow_home, emulator, REPO / "dags"), "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    return dags_test(DAG_ID, env=env, conf={"input_uri": "gs://nowhere/missing-*.csv"}), env


def test_the_job_fails_and_the_teardown_still_deletes_the_cluster(failed_run):
    run, _ = failed_run

    assert run.states == {"create_cluster": "success", "csv_to_parquet": "failed", "delete_cluster": "success"}, (
        run.output[-5000:]
    )


def test_the_dag_run_is_marked_failed(failed_run):
    _, env = failed_run

    assert newest_run_state(env) == "failed"


def test_the_deferred_teardown_logs_and_returns_the_cost(failed_run):
    run, env = failed_run

    cost = xcom_value(DAG_ID, "delete_cluster", "return_value", env=env)["cost"]

    assert "Cost of cluster dask-ephemeral-etl-" in run.output
    assert cost["node_hours"]["n2-standard-4 standard"] > 0


def test_no_cluster_and_no_dask_process_is_left(failed_run, emulator):
    clusters = emulator.cluster_client().list_clusters(project_id="local-project", region="europe-west1")

    assert [c.cluster_name for c in clusters] == []
    assert dask_processes(parent=emulator.pid, wait=30) == []
