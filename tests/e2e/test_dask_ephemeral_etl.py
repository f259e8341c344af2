"""The example DAG, end to end: ``airflow dags test dask_ephemeral_etl`` on the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import dags_test, xcom_value

from .conftest import REPO, environment


def cluster_names(emulator_env) -> list[str]:
    from airflow_dask_provider.hooks import DaskDataprocHook

    client = DaskDataprocHook().get_cluster_client("europe-west1")
    return [c.cluster_name for c in client.list_clusters(project_id="local-project", region="europe-west1")]


@pytest.fixture(scope="module")
def successful_run(airflow_home, emulator):
    env = environment(airflow_home, emulator, REPO / "dags")
    return dags_test("dask_ephemeral_etl", env=env, conf={"sample_rows": 50_000}), env


def test_every_task_succeeds(successful_run):
    run, _ = successful_run

    assert run.states == {"create_cluster": "success", "csv_to_parquet": "success", "delete_cluster": "success"}, (
        run.output[-5000:]
    )


def test_parquet_output_holds_every_row(successful_run, emulator):
    run, _ = successful_run
    [summary] = run.job_summaries()
    output = Path(summary["output"])  # the emulator hands jobs gs:// arguments as paths in its data dir

    frame = pd.read_parquet(output)

    assert output.is_relative_to(emulator.data_dir / "gcs")
    assert summary["rows"] == 50_000
    assert len(frame) == 50_000
    assert {"event_id", "amount", "country"} <= set(frame.columns)


def test_the_dashboard_link_was_logged(successful_run):
    run, _ = successful_run

    assert run.dashboard_urls
    assert run.dashboard_urls[0].endswith("/gateway/default/dask/status")


def test_cluster_is_gone_and_no_dask_process_is_left(successful_run, emulator, monkeypatch):
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)

    assert cluster_names(emulator) == []
    assert dask_processes(parent=emulator.pid) == []


def test_dashboard_and_console_links_stay_in_xcom_after_the_run(successful_run):
    """Runs before the teardown test below, whose run becomes the newest."""
    run, env = successful_run

    dashboard = xcom_value("dask_ephemeral_etl", "create_cluster", "dask_dashboard_url", env=env)
    cluster_page = xcom_value("dask_ephemeral_etl", "create_cluster", "dataproc_cluster_url", env=env)
    job_page = xcom_value("dask_ephemeral_etl", "csv_to_parquet", "dataproc_job_url", env=env)

    assert dashboard == run.dashboard_urls[0]
    assert cluster_page.startswith("https://console.cloud.google.com/dataproc/clusters/dask-ephemeral-etl-")
    assert job_page.startswith("https://console.cloud.google.com/dataproc/jobs/csv_to_parquet-")


def test_the_delete_task_logs_and_returns_the_clusters_cost(successful_run):
    """Issue 4: after deletion, node-hours by machine type and preemptibility and an estimated cost."""
    run, env = successful_run

    lines = [line for line in run.output.splitlines() if "Cost of cluster dask-ephemeral-etl-" in line]
    result = xcom_value("dask_ephemeral_etl", "delete_cluster", "return_value", env=env)

    assert lines, run.output[-3000:]
    assert "node-hours (n2-standard-4 standard: " in lines[0] and "estimated USD " in lines[0]
    cost = result["cost"]
    assert list(cost["node_hours"]) == ["n2-standard-4 standard"]  # master and 2 workers
    assert cost["node_hours"]["n2-standard-4 standard"] == pytest.approx(3 * cost["hours"], rel=0.01)
    assert cost["estimated_cost"] > 0 and cost["message"] in lines[0]


def key_lines(pem: str) -> list[str]:
    """Return the base64 lines of the private key in a credential's PEM text."""
    key = pem[pem.index("-----BEGIN PRIVATE KEY-----") :]
    return [line for line in key.splitlines()[1:] if line and not line.startswith("-----")]


def test_the_clusters_private_key_is_nowhere_but_on_its_nodes(successful_run, airflow_home, emulator):
    """Issue 18: no log, XCom value, label, metadata value or rendered field holds the key."""
    run, env = successful_run
    created = xcom_value("dask_ephemeral_etl", "create_cluster", "return_value", env=env)
    uri = created["tls_credential_uri"]
    # The emulator's nodes keep their copy of the credential in the cluster's directory.
    nodes_copy = emulator.data_dir / "clusters" / "local-project" / "europe-west1" / created["cluster_name"]
    lines = key_lines((nodes_copy / "tls" / "cluster.pem").read_text())
    places = {
        "the run's console": run.output,
        # XCom, rendered template fields, the serialized DAG, task instances: the whole metadata database.
        "the metadata database": (Path(airflow_home) / "airflow.db").read_bytes().decode("latin-1"),
        "the labels, metadata and scheduler address": json.dumps(created),
        "the emulator's log": emulator.log_file.read_text(),
    }
    for log_file in (Path(airflow_home) / "logs").rglob("*"):
        if log_file.is_file():
            places[str(log_file)] = log_file.read_text(errors="replace")

    assert len(lines) > 10 and created["scheduler_address"].startswith("tls://")
    assert uri.startswith(f"gs://{created['config_bucket']}/airflow-dask-provider/credentials/")
    assert any("Dask TLS credential is kept at " + uri in text for text in places.values())  # the URI is shown
    leaks = [where for where, text in places.items() if any(line in text for line in lines)]
    assert leaks == []
    assert not emulator.local_path(uri).exists()  # deleted with the cluster


def test_teardown_deletes_the_cluster_when_the_job_fails(successful_run, airflow_home, emulator, monkeypatch):
    _, env = successful_run
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", emulator.grpc_target)

    run = dags_test("dask_ephemeral_etl", env=env, conf={"input_uri": "gs://nowhere/missing-*.csv"})

    assert run.states["csv_to_parquet"] == "failed"
    assert run.states["delete_cluster"] == "success"
    assert cluster_names(emulator) == []
    assert "Dask job" in run.output and "ERROR" in run.output
