"""The emulator speaks Dataproc: the Google provider's operators run against it unchanged."""

from __future__ import annotations

import textwrap

from tests.devtools import dags_test

from .conftest import REPO, environment

JOB = """
import sys
from distributed import Client

with Client() as client:  # DASK_SCHEDULER_ADDRESS, as on a Dataproc master
    total = client.submit(sum, range(101)).result()
    workers = len(client.scheduler_info()["workers"])
with open(sys.argv[1], "w") as out:
    out.write(f"{total} {workers}")
print("total", total)
"""


def test_google_create_submit_delete_run_on_the_emulator(airflow_home, emulator):
    job = emulator.data_dir / "gcs" / "google-ops" / "jobs" / "sum.py"
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(textwrap.dedent(JOB))
    env = {
        **environment(airflow_home, emulator, REPO / "tests" / "e2e" / "dags"),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": '{"conn_type": "google_cloud_platform", "extra": {"project": "local-project"}}',
    }

    run = dags_test("google_dataproc_on_emulator", env=env)

    assert run.states == {"create_cluster": "success", "submit_job": "success", "delete_cluster": "success"}, (
        run.output[-5000:]
    )
    assert (emulator.data_dir / "gcs" / "google-ops" / "out.txt").read_text() == "5050 2"
