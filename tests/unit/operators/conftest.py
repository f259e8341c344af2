from __future__ import annotations

import functools
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_dask_provider.hooks.resources import ClusterInfo, JobInfo
from airflow_dask_provider.hooks.storage import StorageCalls
from airflow_dask_provider.labels import run_key
from tests.fake_task_instance import fake_task_instance


@pytest.fixture
def context(tmp_path):
    """A task context with what the operators read from it."""
    ti = fake_task_instance("run", "manual__1", dag_id="etl")
    return {"ti": ti, "dag": SimpleNamespace(fileloc=str(tmp_path / "dag.py"))}


#: The labels of a cluster that the context's run created.
OWN_RUN_LABELS = {"airflow-run-key": run_key("etl", "manual__1")}


def cluster(state: str = "RUNNING", **changes) -> ClusterInfo:
    """A cluster that the context's run created, unless ``labels`` says otherwise."""
    values = dict(
        project_id="p",
        region="r",
        cluster_name="c",
        cluster_uuid="u",
        state=state,
        detail="",
        config_bucket="staging",
        scheduler_address="tcp://c-m:8786",
        dashboard_url="https://gw/gateway/default/dask/status",
        labels=dict(OWN_RUN_LABELS),
    )
    return ClusterInfo(**{**values, **changes})


def job(state: str = "DONE", job_id: str = "j", submitted_now: bool = False) -> JobInfo:
    return JobInfo(
        project_id="p",
        region="r",
        job_id=job_id,
        cluster_name="c",
        state=state,
        detail="",
        driver_output_uri="gs://staging/out/driveroutput",
        submitted_now=submitted_now,
    )


@pytest.fixture
def hook(mocker):
    """A hook mock standing in for every operator's hook."""
    fake = mocker.MagicMock()
    fake.storage_client.list_buckets.return_value = []
    fake.stage_file.side_effect = lambda local_path, bucket: f"gs://{bucket}/staging/{local_path.name}"
    # The hook's own staging logic, run on the mock: it picks a bucket through the mocked storage calls.
    for name in ("staging_bucket", "known_staging_buckets", "_region_staging_buckets", "stage_init_actions"):
        getattr(fake, name).side_effect = functools.partial(getattr(StorageCalls, name), fake)
    mocker.patch(
        "airflow_dask_provider.operators.base.DaskDataprocBaseOperator.hook",
        new_callable=mocker.PropertyMock,
        return_value=fake,
    )
    return fake


def deferred(call) -> TaskDeferred:
    """Return how ``call()`` deferred (it must defer)."""
    with pytest.raises(TaskDeferred) as info:
        call()
    return info.value
