"""Issue 6 acceptance: a cluster created through the provider runs the staged init actions.

On the emulator the staged files land under its data dir (``gcs/BUCKET/OBJECT``), byte for byte the
bundled scripts, and a second cluster reuses them instead of uploading again.
"""

from __future__ import annotations

import pytest

from airflow_dask_provider.bundled import init_action_path
from airflow_dask_provider.hooks import DaskDataprocHook
from airflow_dask_provider.operators import DaskDataprocCreateClusterOperator, DaskDataprocDeleteClusterOperator
from tests.fake_task_instance import fake_task_instance

WHERE = {"project_id": "itest", "region": "europe-west1"}


@pytest.fixture
def context():
    return {"ti": fake_task_instance("c", "staging")}


@pytest.fixture
def created(emulator, context):
    names: list[str] = []

    def create(name: str, **spec):
        names.append(name)
        DaskDataprocCreateClusterOperator(task_id="c", cluster_name=name, **WHERE, **spec).execute(context)
        return DaskDataprocHook().get_cluster_client("europe-west1").get_cluster(**WHERE, cluster_name=name)

    yield create
    for name in names:
        DaskDataprocDeleteClusterOperator(task_id="d", cluster_name=name, **WHERE).execute(context)


def local_file(emulator, uri: str):
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return emulator.data_dir / "gcs" / bucket / name


def test_the_cluster_config_runs_the_staged_scripts_with_their_metadata(emulator, created):
    cluster = created("itest-staged", metadata={"nfs-server": "10.0.0.2", "nfs-export": "/share"})

    uris = [action.executable_file for action in cluster.config.initialization_actions]
    metadata = cluster.config.gce_cluster_config.metadata
    assert [uri.rsplit("/", 1)[1] for uri in uris] == ["nfs-mount.sh", "dask.sh"]
    assert all(uri.startswith(f"gs://{cluster.config.config_bucket}/airflow-dask-provider/staging/") for uri in uris)
    assert (metadata["dask-runtime"], metadata["nfs-server"], metadata["nfs-export"]) == (
        "standalone",
        "10.0.0.2",
        "/share",
    )
    for uri in uris:
        staged = local_file(emulator, uri)
        assert staged.is_relative_to(emulator.data_dir)
        assert staged.read_bytes() == init_action_path(uri.rsplit("/", 1)[1]).read_bytes()


def test_a_second_cluster_reuses_what_is_staged(emulator, created):
    first = created("itest-staged-a")
    staged = local_file(emulator, first.config.initialization_actions[0].executable_file)
    uploaded_at = staged.stat().st_mtime_ns

    second = created("itest-staged-b")

    assert (
        second.config.initialization_actions[0].executable_file
        == first.config.initialization_actions[0].executable_file
    )
    assert staged.stat().st_mtime_ns == uploaded_at
