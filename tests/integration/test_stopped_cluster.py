"""The create operator against a live emulator, with a cluster of its name that is STOPPED or STOPPING.

The cluster is stopped with the emulator's own client (as ``gcloud dataproc clusters stop`` would);
the operator starts it, waits until it is RUNNING, and returns its new addresses, which a client
with the cluster's credential and a submitted job then use.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from google.cloud import dataproc_v1

from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import (
    DaskDataprocCreateClusterOperator,
    DaskDataprocDeleteClusterOperator,
    DaskDataprocSubmitJobOperator,
)
from dask_dataproc_emulator.testing import dask_processes
from tests.fake_task_instance import fake_task_instance
from tests.integration.conftest import dask_client

from .test_triggers import run_deferred

WHERE = {"project_id": "itest", "region": "europe-west1"}
State = dataproc_v1.ClusterStatus.State


@pytest.fixture
def name():
    return f"itest-stopped-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def run(tmp_path):
    """One run's context: the task that created the cluster and every later try share it."""
    return {"ti": fake_task_instance("create", f"stopped-{tmp_path.name}"), "dag": SimpleNamespace(fileloc=__file__)}


@pytest.fixture
def created(emulator, run, name):
    """A single-node cluster made by the create operator, deleted at the end."""
    yield DaskDataprocCreateClusterOperator(task_id="create", cluster_name=name, num_workers=0, **WHERE).execute(run)
    DaskDataprocDeleteClusterOperator(task_id="delete", cluster_name=name, **WHERE).execute(run)


def stop(emulator, name: str, *, wait: bool = True) -> None:
    operation = emulator.cluster_client().stop_cluster(request={**WHERE, "cluster_name": name})
    if wait:
        assert operation.result(timeout=120).status.state == State.STOPPED


def states(emulator, name: str) -> list[str]:
    cluster = emulator.cluster_client().get_cluster(**WHERE, cluster_name=name)
    return [State(s.state).name for s in [*cluster.status_history, cluster.status]]


def test_a_stopped_cluster_is_started_and_its_new_scheduler_used(emulator, run, name, created, tmp_path):
    stop(emulator, name)
    assert [p for p in dask_processes(parent=emulator.pid, wait=20) if p.resource.endswith(name)] == []

    again = DaskDataprocCreateClusterOperator(task_id="create", cluster_name=name, num_workers=0, **WHERE).execute(run)

    assert again["state"] == "RUNNING"
    assert again["cluster_uuid"] == created["cluster_uuid"]
    assert states(emulator, name)[-4:] == ["STOPPING", "STOPPED", "STARTING", "RUNNING"]
    with dask_client(again) as client:
        assert len(client.scheduler_info()["workers"]) == 1
    main = tmp_path / "job.py"
    main.write_text(
        "from distributed import Client\nwith Client() as c:\n    print('total', c.submit(sum, [1, 2]).result())\n"
    )
    job = DaskDataprocSubmitJobOperator(task_id="job", cluster_name=name, main=str(main), **WHERE).execute(run)
    output, _ = DaskDataprocHook().read_driver_output(driver_output_uri=job["driver_output_uri"])
    assert job["state"] == "DONE" and "total 3" in output


def test_a_stopping_cluster_is_waited_for_then_started(emulator, run, name, created):
    stop(emulator, name, wait=False)

    again = DaskDataprocCreateClusterOperator(task_id="create", cluster_name=name, num_workers=0, **WHERE).execute(run)

    assert again["state"] == "RUNNING"
    assert states(emulator, name)[-3:] == ["STOPPED", "STARTING", "RUNNING"]


def test_deferrable_starts_the_stopped_cluster_and_resumes_with_it(emulator, run, name, created):
    stop(emulator, name)
    operator = DaskDataprocCreateClusterOperator(
        task_id="create", cluster_name=name, num_workers=0, deferrable=True, **WHERE
    )

    again, _ = run_deferred(operator, run, lambda: operator.execute(run))

    assert again["state"] == "RUNNING"
    assert run["ti"].pushed["dask_dashboard_url"] == again["dashboard_url"]
    with dask_client(again) as client:
        assert len(client.scheduler_info()["workers"]) == 1


def test_another_runs_stopped_cluster_is_left_stopped_and_named_in_the_error(emulator, name, created):
    stop(emulator, name)
    other = {"ti": fake_task_instance("create", "another-run"), "dag": SimpleNamespace(fileloc=__file__)}

    with pytest.raises(ClusterError, match=f"Cluster {name} is in state STOPPED: it belongs to") as refused:
        DaskDataprocCreateClusterOperator(task_id="create", cluster_name=name, **WHERE).execute(other)

    assert refused.value.state == "STOPPED"
    assert states(emulator, name)[-1] == "STOPPED"
