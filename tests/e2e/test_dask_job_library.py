"""The job library's example DAG, end to end: ``airflow dags test dask_job_library`` on the emulator."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import dags_test

from .conftest import REPO, environment


@pytest.fixture(scope="module")
def word_count_run(airflow_home, emulator):
    env = environment(airflow_home, emulator, REPO / "dags")
    return dags_test("dask_job_library", env=env, conf={"job": "word_count", "rows": 20_000, "seed": 5})


def test_every_task_succeeds(word_count_run):
    assert word_count_run.states == {
        "create_cluster": "success",
        "generate_input": "success",
        "run_job": "success",
        "delete_cluster": "success",
    }, word_count_run.output[-5000:]


def test_the_job_counted_the_generated_text(word_count_run, emulator):
    generated, counted = word_count_run.job_summaries()
    output = Path(counted["output"])

    assert (generated["job"], generated["kind"], generated["rows"]) == ("generate", "text", 20_000)
    assert counted["job"] == "word_count"
    assert output.is_relative_to(emulator.data_dir / "gcs")
    assert int(pd.read_parquet(output)["count"].sum()) == counted["words"] > 20_000


def test_no_cluster_or_dask_process_is_left(word_count_run, emulator):
    assert dask_processes(parent=emulator.pid) == []
