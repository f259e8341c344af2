"""Which bundled init actions a cluster gets, and which bucket they are staged in (no network)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from airflow_dask_provider import staging
from airflow_dask_provider.cluster_spec import DaskClusterSpec
from airflow_dask_provider.exceptions import ConfigurationError

WHERE = {"project_id": "my-project", "region": "europe-west1"}


def hook_with_buckets(mocker, *names: str):
    hook = mocker.MagicMock()
    hook.storage_client.list_buckets.return_value = [SimpleNamespace(name=name) for name in names]
    hook.storage_call.side_effect = lambda name, invoke, **options: invoke(None, 30.0)
    hook.stage_file.side_effect = lambda local_path, bucket: f"gs://{bucket}/airflow-dask-provider/staging/h/{local_path.name}"
    return hook


def test_dask_sh_is_staged_by_default_and_nfs_only_with_a_server():
    assert staging.bundled_actions(DaskClusterSpec()) == ["dask.sh"]
    assert staging.bundled_actions(DaskClusterSpec(metadata={"nfs-server": "10.0.0.2", "nfs-export": "/share"})) == [
        "nfs-mount.sh",
        "dask.sh",
    ]


def test_a_users_own_dask_action_replaces_the_bundled_one():
    spec = DaskClusterSpec(init_actions=["gs://mine/actions/dask.sh"])

    assert staging.bundled_actions(spec) == []


def test_the_specs_bucket_wins(mocker):
    hook = hook_with_buckets(mocker, "dataproc-staging-europe-west1-123-abc")

    assert staging.staging_bucket(hook, DaskClusterSpec(config_bucket="mine"), **WHERE) == "mine"
    hook.storage_client.list_buckets.assert_not_called()


def test_airflow_config_names_the_bucket(mocker, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DASK_DATAPROC__STAGING_BUCKET", "team-staging")
    hook = hook_with_buckets(mocker)

    assert staging.staging_bucket(hook, DaskClusterSpec(), **WHERE) == "team-staging"


def test_the_regions_dataproc_staging_bucket_is_found(mocker):
    hook = hook_with_buckets(mocker, "dataproc-staging-us-east1-1-x", "dataproc-staging-europe-west1-123-abc")

    assert staging.staging_bucket(hook, DaskClusterSpec(), **WHERE) == "dataproc-staging-europe-west1-123-abc"
    hook.storage_client.create_bucket.assert_not_called()


def test_without_any_bucket_the_provider_creates_its_own(mocker):
    hook = hook_with_buckets(mocker)

    name = staging.staging_bucket(hook, DaskClusterSpec(), **WHERE)

    assert name == "my-project-dask-staging-europe-west1"
    hook.storage_client.create_bucket.assert_called_once_with(
        name, project="my-project", location="europe-west1", retry=None, timeout=30.0
    )


def test_a_bucket_that_cannot_be_created_is_a_clear_error(mocker):
    hook = hook_with_buckets(mocker)
    hook.storage_client.create_bucket.side_effect = PermissionError("403 storage.buckets.create denied")

    with pytest.raises(ConfigurationError, match="config_bucket.*storage.buckets.create"):
        staging.staging_bucket(hook, DaskClusterSpec(), **WHERE)


def test_own_bucket_names_are_valid_for_long_project_ids():
    name = staging._own_bucket_name("a-very-long-project-identifier-30", "northamerica-northeast2")

    assert 3 <= len(name) <= 63
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)


def test_staged_actions_run_before_the_users_own(mocker):
    hook = hook_with_buckets(mocker)
    spec = DaskClusterSpec(
        config_bucket="b", init_actions=["gs://mine/extra.sh"], metadata={"nfs-server": "n", "nfs-export": "/e"}
    )

    staged = staging.stage_init_actions(hook, spec, **WHERE)

    assert [action.uri for action in staged.init_actions] == [
        "gs://b/airflow-dask-provider/staging/h/nfs-mount.sh",
        "gs://b/airflow-dask-provider/staging/h/dask.sh",
        "gs://mine/extra.sh",
    ]
    assert staged.config_bucket == "b"
