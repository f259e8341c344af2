"""Issue 4 acceptance: the reaper DAG, run over one expired cluster, one cluster in ERROR and one fresh
cluster of the provider, deletes the first two and keeps the third (and a cluster that is not the
provider's). Ends with no cluster and no Dask process left.
"""

from __future__ import annotations

import time

import pytest
from google.api_core.exceptions import GoogleAPICallError, NotFound

from airflow_dask_provider.labels import expiry_value
from dask_dataproc_emulator.testing import dask_processes
from tests.devtools import dags_test, xcom_value

from .conftest import REPO, environment

PROJECT, REGION = "local-project", "europe-west1"
WHERE = {"project_id": PROJECT, "region": REGION}
SINGLE_NODE = {"software_config": {"properties": {"dataproc:dataproc.allow.zero.workers": "true"}}}
OURS = {"created-by": "airflow-dask-provider"}


def create(emulator, name: str, labels: dict[str, str], *, broken: bool = False) -> None:
    """Create a cluster; a broken one cannot make its directory and ends in ERROR, as a failed start does."""
    if broken:
        blocker = emulator.data_dir / "clusters" / PROJECT / REGION / name
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("not a directory")
    operation = emulator.cluster_client().create_cluster(
        **WHERE, cluster={"cluster_name": name, "config": SINGLE_NODE, "labels": labels}
    )
    try:
        operation.result(timeout=180)
    except GoogleAPICallError:
        if not broken:
            raise


def states(emulator) -> dict[str, str]:
    return {c.cluster_name: c.status.state.name for c in emulator.cluster_client().list_clusters(**WHERE)}


@pytest.fixture(scope="module")
def clusters(emulator):
    now = time.time()
    create(emulator, "expired", {**OURS, "expiry": expiry_value(now - 3600)})
    create(emulator, "broken", {**OURS, "expiry": expiry_value(now + 86400)}, broken=True)
    create(emulator, "fresh", {**OURS, "expiry": expiry_value(now + 86400)})
    create(emulator, "not-ours", {"expiry": expiry_value(now - 3600)}, broken=True)
    yield states(emulator)
    client = emulator.cluster_client()
    for name in states(emulator):
        try:
            client.delete_cluster(**WHERE, cluster_name=name).result(timeout=120)
        except NotFound:
            pass


@pytest.fixture(scope="module")
def env(airflow_home, emulator):
    return {
        **environment(airflow_home, emulator, REPO / "dags"),
        "AIRFLOW__DASK_DATAPROC__REAPER_PROJECTS": PROJECT,
        "AIRFLOW__DASK_DATAPROC__REAPER_REGIONS": REGION,
    }


def test_the_clusters_are_set_up(clusters):
    assert clusters == {"expired": "RUNNING", "broken": "ERROR", "fresh": "RUNNING", "not-ours": "ERROR"}


def test_a_dry_run_deletes_nothing(clusters, env, emulator):
    run = dags_test("dask_orphan_reaper", env=env, conf={"dry_run": True})

    assert run.states == {"reap_clusters": "success"}, run.output[-4000:]
    assert states(emulator) == clusters
    rows = xcom_value("dask_orphan_reaper", "reap_clusters", "return_value", env=env)
    assert {row["cluster"]: row["action"] for row in rows} == {
        "expired": "would delete",
        "broken": "would delete",
        "fresh": "keep",
    }


def test_the_reaper_deletes_the_expired_and_the_broken_cluster_and_keeps_the_rest(clusters, env, emulator):
    run = dags_test("dask_orphan_reaper", env=env)

    assert run.states == {"reap_clusters": "success"}, run.output[-4000:]
    assert states(emulator) == {"fresh": "RUNNING", "not-ours": "ERROR"}
    rows = xcom_value("dask_orphan_reaper", "reap_clusters", "return_value", env=env)
    assert {row["cluster"]: (row["action"], row["reason"].split(" ")[0]) for row in rows} == {
        "expired": ("delete", "expired"),
        "broken": ("delete", "in"),
        "fresh": ("keep", "expires"),
    }
    assert "Reaper deleted 2 of 3 clusters" in run.output
    assert "project        region        cluster" in run.output  # the table


def test_no_cluster_and_no_dask_process_is_left(clusters, emulator):
    client = emulator.cluster_client()
    for name in ("fresh", "not-ours"):
        client.delete_cluster(**WHERE, cluster_name=name).result(timeout=120)

    assert states(emulator) == {}
    assert dask_processes(parent=emulator.pid, wait=30) == []
