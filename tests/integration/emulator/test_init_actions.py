"""Initialization actions: checked as Dataproc checks them, recorded, and said to be not run.

A create naming a missing object is refused by the CreateCluster call itself (INVALID_ARGUMENT naming
the URI, as Dataproc refuses it); one naming an existing object creates a RUNNING cluster whose
operation metadata warns, where the client sees it, that the emulator did not run the action.
"""

from __future__ import annotations

import pytest
from google.api_core.exceptions import InvalidArgument, NotFound
from google.cloud import dataproc_v1

from .conftest import PROJECT, SINGLE_NODE, WHERE, delete_cluster

BUCKET = "itest-init-actions"
SCRIPT = "#!/bin/bash\necho never run by the emulator\n"


def with_actions(*uris: str) -> dict:
    """Return a single-node config running ``uris`` as initialization actions."""
    return {**SINGLE_NODE, "initialization_actions": [{"executable_file": uri} for uri in uris]}


@pytest.fixture(scope="module")
def staged(storage) -> str:
    """Upload an initialization action through the real Cloud Storage client and return its URI."""
    storage.bucket(BUCKET).blob("actions/setup.sh").upload_from_string(SCRIPT)
    return f"gs://{BUCKET}/actions/setup.sh"


@pytest.mark.parametrize("missing", [f"gs://{BUCKET}/actions/missing.sh", "gs://no-such-bucket/setup.sh"])
def test_a_missing_object_fails_the_create_call_naming_the_uri(clusters, staged, missing):
    with pytest.raises(InvalidArgument) as refused:
        clusters.create_cluster(
            **WHERE, cluster={"cluster_name": "init-missing", "config": with_actions(staged, missing)}
        )

    assert f"Google Cloud Storage object does not exist '{missing}'" in refused.value.message
    assert "config.initialization_actions[1].executable_file" in refused.value.message
    with pytest.raises(NotFound):  # refused before any cluster existed
        clusters.get_cluster(**WHERE, cluster_name="init-missing")


def test_a_uri_outside_cloud_storage_is_refused(clusters, running):
    local = running.data_dir / "local-action.sh"
    local.write_text(SCRIPT)

    with pytest.raises(InvalidArgument, match=r"initialization_actions\[0\].*Cloud Storage URI"):
        clusters.create_cluster(**WHERE, cluster={"cluster_name": "init-local", "config": with_actions(str(local))})


@pytest.fixture(scope="module")
def created(clusters, staged):
    """Create a cluster with one existing initialization action: its operation's metadata as the create
    call returned it, as the last poll saw it, and the cluster."""
    operation = clusters.create_cluster(
        **WHERE, cluster={"cluster_name": "init-recorded", "config": with_actions(staged)}
    )
    first = operation.metadata
    cluster = operation.result(timeout=180)
    yield first, operation.metadata, cluster
    delete_cluster(clusters, "init-recorded")


def test_an_existing_object_is_recorded_and_the_cluster_runs(clusters, created, staged):
    got = clusters.get_cluster(**WHERE, cluster_name="init-recorded")
    assert got.status.state == dataproc_v1.ClusterStatus.State.RUNNING
    assert [action.executable_file for action in got.config.initialization_actions] == [staged]
    assert got.project_id == PROJECT


def test_the_operation_metadata_warns_that_the_action_was_not_run(created, staged):
    first, last, _ = created

    for metadata in (first, last):
        assert isinstance(metadata, dataproc_v1.ClusterOperationMetadata)
        (warning,) = metadata.warnings
        assert staged in warning and "Dataproc emulator" in warning and "not run" in warning


def test_the_emulator_log_warns_too(running, created, staged):
    lines = [line for line in running.log_file.read_text().splitlines() if staged in line]

    assert any("WARNING" in line and "clusters/init-recorded" in line and "not run" in line for line in lines)
