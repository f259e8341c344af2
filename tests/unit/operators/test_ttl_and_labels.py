"""The create operator: a request without a TTL or above a ceiling fails before any API call; labels."""

from __future__ import annotations

import time

import pytest

from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.labels import parse_expiry, run_key
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator

from .conftest import cluster


def create(**kwargs) -> DaskDataprocCreateClusterOperator:
    return DaskDataprocCreateClusterOperator(task_id="create", cluster_name="c", project_id="p", region="r", **kwargs)


@pytest.fixture
def ceiling(monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_IDLE_DELETE_TTL", "4h")
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__MAX_AUTO_DELETE_TTL", "1d")


def test_a_create_without_an_idle_ttl_fails_when_the_dag_is_parsed(hook):
    with pytest.raises(ClusterSpecError) as info:
        create(idle_delete_ttl=None)

    assert info.value.field == "idle_delete_ttl"
    assert hook.mock_calls == []


def test_a_create_above_the_ceiling_fails_when_the_dag_is_parsed(hook, ceiling):
    with pytest.raises(ClusterSpecError, match=r"idle_delete_ttl='8h': must be at most 4h"):
        create(idle_delete_ttl="8h")

    assert hook.mock_calls == []


@pytest.mark.parametrize(
    "field, rendered, message",
    [
        ("idle_delete_ttl", None, "idle_delete_ttl=None: required"),
        ("idle_delete_ttl", "5h", "max_idle_delete_ttl"),
        ("auto_delete_ttl", None, "auto_delete_ttl=None: required"),
        ("auto_delete_ttl", "2d", "max_auto_delete_ttl"),
    ],
)
def test_a_templated_ttl_is_checked_against_the_ceiling_before_any_api_call(
    hook, ceiling, context, field, rendered, message
):
    operator = create(**{field: "{{ params.ttl }}"})
    setattr(operator, field, rendered)  # as rendered

    with pytest.raises(ClusterSpecError, match=message):
        operator.execute(context)
    assert hook.mock_calls == []


def test_the_cluster_gets_the_default_maximum_age_when_none_is_given(hook, context):
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster()

    create().execute(context)

    lifecycle = hook.create_dask_cluster.call_args.kwargs["cluster_config"].lifecycle_config
    assert lifecycle.auto_delete_ttl.total_seconds() == 8 * 3600


def test_the_cluster_gets_the_ceiling_as_its_maximum_age_when_none_is_given(hook, ceiling, context, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__DEFAULT_AUTO_DELETE_TTL", "")
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster()

    create().execute(context)

    lifecycle = hook.create_dask_cluster.call_args.kwargs["cluster_config"].lifecycle_config
    assert lifecycle.idle_delete_ttl.total_seconds() == 7200
    assert lifecycle.auto_delete_ttl.total_seconds() == 86400


def test_the_cluster_is_labelled_with_run_owner_and_expiry(hook, context):
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster()

    create(owner="Jane Doe", labels={"team": "data"}).execute(context)

    labels = hook.create_dask_cluster.call_args.kwargs["labels"]
    assert labels["team"] == "data"
    assert labels["created-by"] == "airflow-dask-provider"
    assert (labels["airflow-dag-id"], labels["airflow-task-id"], labels["airflow-run-id"]) == (
        "etl",
        "run",
        "manual__1",
    )
    assert labels["owner"] == "jane-doe"
    assert labels["airflow-run-key"] == run_key("etl", "manual__1")
    assert parse_expiry(labels["expiry"]) == pytest.approx(time.time() + 8 * 3600, abs=5)


def test_the_expiry_of_a_cluster_with_a_maximum_age_is_its_end_of_life(hook, context):
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster()

    create(auto_delete_ttl="3h").execute(context)

    labels = hook.create_dask_cluster.call_args.kwargs["labels"]
    assert parse_expiry(labels["expiry"]) == pytest.approx(time.time() + 3 * 3600, abs=5)


def test_the_configured_default_expiry_applies_to_a_cluster_without_a_maximum_age(hook, context, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__DEFAULT_AUTO_DELETE_TTL", "")
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__DEFAULT_EXPIRY", "6h")
    hook.get_cluster_info.return_value = None
    hook.wait_for_cluster.return_value = cluster()

    create().execute(context)

    labels = hook.create_dask_cluster.call_args.kwargs["labels"]
    assert parse_expiry(labels["expiry"]) == pytest.approx(time.time() + 6 * 3600, abs=5)


def test_too_many_labels_fail_before_the_create_call(hook, context):
    hook.get_cluster_info.return_value = None
    operator = create(labels={f"k{i}": "v" for i in range(30)})

    with pytest.raises(ClusterSpecError, match="at most 32 labels"):
        operator.execute(context)
    hook.create_dask_cluster.assert_not_called()


def test_jobs_are_labelled_with_run_owner_and_their_deadline(hook, context):
    from datetime import timedelta

    from airflow_dask_provider.operators import DaskDataprocSubmitJobOperator

    from .conftest import job

    hook.get_cluster_info.return_value = cluster()
    hook.submit_dask_job.return_value = job("RUNNING", submitted_now=True)
    hook.wait_for_dask_job.return_value = job("DONE")
    operator = DaskDataprocSubmitJobOperator(
        task_id="run",
        cluster_name="c",
        main="gs://b/main.py",
        project_id="p",
        region="r",
        owner="ops",
        timeout=timedelta(hours=2).total_seconds(),
    )

    operator.execute(context)

    labels = hook.submit_dask_job.call_args.kwargs["labels"]
    assert (labels["created-by"], labels["airflow-run-id"], labels["owner"]) == (
        "airflow-dask-provider",
        "manual__1",
        "ops",
    )
    assert parse_expiry(labels["expiry"]) == pytest.approx(time.time() + 7200, abs=5)
