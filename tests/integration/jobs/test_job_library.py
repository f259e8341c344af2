"""Every job of the library on the emulator's Dask cluster, checked against its single-process reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from airflow_dask_provider.exceptions import JobError
from airflow_dask_provider.jobs import generate

from .conftest import CLUSTER, WHERE, uri

SEED = 3


@pytest.fixture(scope="module")
def inputs(emulator):
    """Small inputs of every job, written once into the emulator's Cloud Storage folder."""

    def path(name: str) -> str:
        return str(emulator.local_path(uri(f"input/{name}")))

    generate.write_text(path("text"), rows=6_000, seed=SEED, rows_per_file=2_000)
    with open(path("text") + "/unicode.txt", "w", encoding="utf-8") as stream:
        stream.write("Über naïve café—Straße, don't x_y ÉCOLE 12³ Tränen!\nÜBER über\n")
    generate.write_csv(path("csv"), rows=20_000, seed=SEED, files=2, rows_per_partition=5_000)
    generate.write_events(path("events"), rows=200_000, seed=SEED, rows_per_file=25_000)
    generate.write_features(path("features"), rows=20_000, seed=SEED, rows_per_file=5_000)
    generate.write_edges(path("edges"), rows=40_000, nodes=4_000, seed=SEED, rows_per_file=10_000)
    return path


def read_output(gcs, name: str) -> pd.DataFrame:
    return pd.read_parquet(gcs(f"output/{name}"), dtype_backend="pyarrow")


def test_word_count_equals_the_single_process_count(submit, inputs, gcs, reference):
    summary = submit(
        "word_count.py", f"--input={uri('input/text')}", f"--output={uri('output/words')}", "--blocksize=64KiB"
    )

    expected = reference.word_count(inputs("text"))
    written = read_output(gcs, "words")
    pd.testing.assert_frame_equal(written, expected)
    assert summary["checksum"] == f"{reference.frame_checksum(expected):016x}"
    assert summary["rows"] == len(expected)
    assert summary["words"] == int(expected["count"].sum())
    assert summary["top"] == [[word, int(count)] for word, count in expected.head(10).itertuples(index=False)]
    assert summary["partitions"] == 1 and summary["workers"] == 2
    assert {"über", "naïve", "straße", "tränen", "12³"} <= set(written["word"])


def test_a_job_sends_its_code_once_and_the_scheduler_and_workers_import_it_by_name(submit, inputs):
    """The job's functions reach the cluster as its uploaded module, not by value in every task."""
    from pathlib import Path

    from distributed import Client

    from airflow_dask_provider.hooks import DaskDataprocHook

    submit("word_count.py", f"--input={uri('input/text')}", f"--output={uri('output/words-by-name')}")
    cluster = DaskDataprocHook().get_cluster_client(WHERE["region"]).get_cluster(**WHERE, cluster_name=CLUSTER)
    metadata = cluster.config.gce_cluster_config.metadata

    def imported() -> dict[str, str]:  # defined here, so it travels by value to processes without the tests
        import sys

        return {name: sys.modules[name].__file__ for name in ("dask_job", "word_count") if name in sys.modules}

    address = f"tls://{metadata['dask-scheduler-host']}:{metadata['dask-scheduler-port']}"
    security = DaskDataprocHook().dask_scheduler.get_security(tls_credential_uri=metadata["dask-tls-uri"])
    with Client(address, security=security, timeout=30) as client:
        on_workers = list(client.run(imported).values())
        on_scheduler = client.run_on_scheduler(imported)
        plugins = client.run_on_scheduler(
            lambda dask_scheduler: [*dask_scheduler.plugins, *dask_scheduler.worker_plugins]
        )

    assert len(on_workers) == 2
    for files in [*on_workers, on_scheduler]:
        # dask_job.py, one of the job's py_files, is taken off the scheduler and workers as the job ends
        assert sorted(files) == ["word_count"]
        # uploaded into the process's own directory, beside nothing of the repository
        assert Path(files["word_count"]).parent != Path(__file__).parents[3] / "jobs"
    assert [name for name in plugins if name.startswith("dask-job-code-")] == []  # removed as the job ended


def test_csv_to_parquet_equals_the_pandas_conversion(submit, inputs, gcs, reference, tmp_path):
    summary = submit(
        "csv_to_parquet.py",
        f"--input={uri('input/csv')}",
        f"--output={uri('output/csv')}",
        "--blocksize=200KiB",
        "--checksum",
    )

    reference.csv_to_parquet(inputs("csv"), tmp_path / "pandas")
    expected = reference.read_back(tmp_path / "pandas").sort_values("event_id", ignore_index=True)
    written = read_output(gcs, "csv").sort_values("event_id", ignore_index=True)
    pd.testing.assert_frame_equal(written, expected)
    assert summary["checksum"] == f"{reference.frame_checksum(expected):016x}"
    assert summary["rows"] == 20_000
    assert summary["partitions"] > 2  # the files were split into blocks


def test_parquet_analytics_equals_pandas_and_prunes_partitions(submit, inputs, gcs, reference):
    countries, since, until = ["US", "DE", "JP"], "2024-03-01", "2024-11-01"
    summary = submit(
        "parquet_analytics.py",
        f"--input={uri('input/events')}",
        f"--output={uri('output/report')}",
        f"--countries={','.join(countries)}",
        f"--since={since}",
        f"--until={until}",
        "--top=20",
        "--blocksize=1MiB",
    )

    report, best, rows = reference.parquet_analytics(
        inputs("events"), countries=countries, since=since, until=until, top=20
    )
    pd.testing.assert_frame_equal(pd.read_parquet(gcs("output/report/by_country_month")), report)
    pd.testing.assert_frame_equal(pd.read_parquet(gcs("output/report/top_users")), best)
    assert summary["checksum"] == f"{reference.frame_checksum(report):016x}"
    assert summary["top_users_checksum"] == f"{reference.frame_checksum(best):016x}"
    assert summary["rows"] == rows
    assert summary["files"] == len(countries) * 8  # only the files of those countries were read
    assert 1 < summary["partitions"] < summary["files"]  # small files are read several to a task
    assert set(report["country"]) == set(countries)


def test_ml_training_matches_single_process_xgboost(submit, inputs, gcs, reference):
    summary = submit(
        "ml_training.py", f"--input={uri('input/features')}", f"--output={uri('output/model')}", "--rounds=10"
    )

    expected = reference.ml_training(inputs("features"), rounds=10)
    assert (summary["train_rows"], summary["test_rows"]) == (expected["train_rows"], expected["test_rows"])
    # Two workers sketch their own histogram bins: close to one process, not equal to it.
    assert summary["logloss"] == pytest.approx(expected["logloss"], abs=0.02)
    assert summary["error"] == pytest.approx(expected["error"], abs=0.02)
    assert summary["auc"] == pytest.approx(expected["auc"], abs=0.01)
    assert expected["auc"] > 0.8
    metrics = json.loads(gcs("output/model/metrics.json").read_text())
    assert len(metrics["history"]["auc"]) == 10


def test_ml_training_writes_a_model_xgboost_loads(inputs, gcs, submit):
    import xgboost

    submit("ml_training.py", f"--input={uri('input/features')}", f"--output={uri('output/model2')}", "--rounds=3")

    booster = xgboost.Booster(model_file=str(gcs("output/model2/model.json")))
    assert booster.num_boosted_rounds() == 3


def test_graph_pagerank_equals_networkx(submit, inputs, gcs, reference):
    summary = submit(
        "graph_analytics.py", f"--input={uri('input/edges')}", f"--output={uri('output/ranks')}", "--tol=1e-10"
    )

    expected = reference.pagerank(inputs("edges"), tol=1e-10)
    written = pd.read_parquet(gcs("output/ranks"))
    np.testing.assert_array_equal(written["node"].to_numpy(), expected["node"].to_numpy())
    np.testing.assert_allclose(written["rank"].to_numpy(), expected["rank"].to_numpy(), rtol=0, atol=1e-12)
    assert summary["converged"] and summary["nodes"] == len(expected)
    assert summary["rows"] == 40_000
    assert [node for node, _ in summary["top"]] == list(expected.nlargest(10, "rank")["node"])


def test_a_failing_job_fails_the_task_with_its_message(submit, inputs):
    with pytest.raises(JobError) as caught:
        submit("word_count.py", f"--input={uri('input/no-such-folder')}", f"--output={uri('output/none')}")

    assert caught.value.state == "ERROR"
    assert "no text files found at --input" in str(caught.value)
