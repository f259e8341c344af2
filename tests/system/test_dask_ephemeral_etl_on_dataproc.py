"""The example DAG on real Dataproc. Needs a Google Cloud project and credentials.

Run with ``DASK_DATAPROC_SYSTEM_TEST_PROJECT=my-project`` (and optionally ``..._REGION``) on a
machine with Application Default Credentials or ``AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT``; it creates a
real cluster (a few cents), runs the job and deletes the cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.devtools import airflow_environment, dags_test, migrate_db

PROJECT = os.environ.get("DASK_DATAPROC_SYSTEM_TEST_PROJECT")
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not PROJECT, reason="set DASK_DATAPROC_SYSTEM_TEST_PROJECT to run on real Dataproc"),
]


def test_dask_ephemeral_etl_runs_on_real_dataproc(tmp_path):
    env = airflow_environment(
        airflow_home=tmp_path,
        dags_folder=REPO / "dags",
        emulator_host=None,
        storage_url=None,
        project_id=PROJECT,
        region=os.environ.get("DASK_DATAPROC_SYSTEM_TEST_REGION", "europe-west1"),
    )
    migrate_db(env)

    run = dags_test("dask_ephemeral_etl", env=env, conf={"sample_rows": 100_000})

    assert run.succeeded, run.output[-5000:]
    assert run.job_summaries()[0]["rows"] == 100_000
