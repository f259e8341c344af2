"""Which bucket the hook stages the bundled init actions in, and the spec that runs them (no network)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_dask_provider.cluster_spec import DaskClusterSpec
from airflow_dask_provider.exceptions import ConfigurationError
from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

WHERE = {"project_id": "my-project", "region": "europe-west1"}


def hook_with_buckets(mocker, *names: str) -> DaskDataprocHook:
    """A hook whose storage client is a mock that lists the buckets ``names``."""
    mocker.patch.dict("os.environ", {"DATAPROC_EMULATOR_HOST": "127.0.0.1:1"})
    hook = DaskDataprocHook()
    client = mocker.MagicMock()
    client.list_buckets.return_value = [SimpleNamespace(name=name) for name in names]
    mocker.patch.object(type(hook), "storage_client", new_callable=mocker.PropertyMock, return_value=client)
    mocker.patch.object(hook, "storage_call", side_effect=lambda name, invoke, **options: invoke(None, 30.0))
    mocker.patch.object(
        hook,
        "stage_file",
        side_effect=lambda local_path, bucket: f"gs://{bucket}/airflow-dask-provider/staging/h/{local_path.name}",
    )
    return hook


def test_the_specs_bucket_wins(mocker):
    hook = hook_with_buckets(mocker, "dataproc-staging-europe-west1-123-abc")

    assert hook.staging_bucket(**WHERE, config_bucket="mine") == "mine"
    hook.storage_client.list_buckets.assert_not_called()


def test_airflow_config_names_the_bucket(mocker, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__STAGING_BUCKET", "team-staging")
    hook = hook_with_buckets(mocker)

    assert hook.staging_bucket(**WHERE) == "team-staging"


def test_the_regions_dataproc_staging_bucket_is_found(mocker):
    hook = hook_with_buckets(mocker, "dataproc-staging-us-east1-1-x", "dataproc-staging-europe-west1-123-abc")

    assert hook.staging_bucket(**WHERE) == "dataproc-staging-europe-west1-123-abc"
    hook.storage_client.create_bucket.assert_not_called()


def test_without_any_bucket_the_provider_creates_its_own(mocker):
    hook = hook_with_buckets(mocker)

    name = hook.staging_bucket(**WHERE)

    assert name == "my-project-dask-staging-europe-west1"
    hook.storage_client.create_bucket.assert_called_once_with(
        name, project="my-project", location="europe-west1", retry=None, timeout=30.0
    )


def test_a_bucket_that_cannot_be_created_is_a_clear_error(mocker):
    hook = hook_with_buckets(mocker)
    hook.storage_client.create_bucket.side_effect = PermissionError("403 storage.buckets.create denied")

    with pytest.raises(ConfigurationError, match="config_bucket.*storage.buckets.create"):
        hook.staging_bucket(**WHERE)


def test_staged_actions_run_before_the_users_own(mocker):
    hook = hook_with_buckets(mocker)
    spec = DaskClusterSpec(
        config_bucket="b", init_actions=["gs://mine/extra.sh"], metadata={"nfs-server": "n", "nfs-export": "/e"}
    )

    staged = hook.stage_init_actions(spec, **WHERE)

    assert [action.uri for action in staged.init_actions] == [
        "gs://b/airflow-dask-provider/staging/h/nfs-mount.sh",
        "gs://b/airflow-dask-provider/staging/h/dask.sh",
        "gs://mine/extra.sh",
    ]
    assert staged.config_bucket == "b"
