"""Which bundled init actions a cluster gets, and the name of the provider's own bucket (pure rules)."""

from __future__ import annotations

import re

from airflow_dask_provider import staging
from airflow_dask_provider.cluster_spec import DaskClusterSpec


def test_dask_sh_is_staged_by_default_and_nfs_only_with_a_server():
    assert staging.bundled_actions(DaskClusterSpec()) == ["dask.sh"]
    assert staging.bundled_actions(DaskClusterSpec(metadata={"nfs-server": "10.0.0.2", "nfs-export": "/share"})) == [
        "nfs-mount.sh",
        "dask.sh",
    ]


def test_a_users_own_dask_action_replaces_the_bundled_one():
    spec = DaskClusterSpec(init_actions=["gs://mine/actions/dask.sh"])

    assert staging.bundled_actions(spec) == []


def test_own_bucket_names_are_valid_for_long_project_ids():
    name = staging.own_bucket_name("a-very-long-project-identifier-30", "northamerica-northeast2")

    assert 3 <= len(name) <= 63
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)
