"""Reading a cluster's usage and finding the provider's clusters, from real Dataproc messages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.cloud import dataproc_v1

from airflow_dask_provider.hooks.clusters import label_filter
from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
from airflow_dask_provider.hooks.resources import cluster_usage

CREATED = datetime(2026, 1, 2, 3, 0, tzinfo=timezone.utc)


def cluster_message(**config) -> dataproc_v1.Cluster:
    State = dataproc_v1.ClusterStatus.State
    return dataproc_v1.Cluster(
        cluster_name="c",
        cluster_uuid="u",
        config={
            "master_config": {"num_instances": 1, "machine_type_uri": "n2-standard-8", "instance_names": ["c-m"]},
            "worker_config": {
                "num_instances": 2,
                "machine_type_uri": "https://www.googleapis.com/compute/v1/projects/p/zones/z/machineTypes/n2-standard-4",
                "disk_config": {"boot_disk_type": "pd-balanced", "boot_disk_size_gb": 100, "num_local_ssds": 1},
            },
            **config,
        },
        status={"state": State.RUNNING, "state_start_time": datetime(2026, 1, 2, 3, 5, tzinfo=timezone.utc)},
        status_history=[{"state": State.CREATING, "state_start_time": CREATED}],
    )


def test_usage_has_every_node_group_and_the_creation_time():
    usage = cluster_usage(cluster_message())

    master, workers = usage.groups
    assert usage.created_at == CREATED.timestamp()
    assert (master.machine_type, master.count, master.preemptibility) == ("n2-standard-8", 1, "standard")
    assert (master.boot_disk_type, master.boot_disk_size_gb) == ("pd-standard", 500)  # Dataproc's defaults
    assert (workers.machine_type, workers.count, workers.num_local_ssds) == ("n2-standard-4", 2, 1)


def test_secondary_workers_are_preemptible_unless_said_otherwise():
    spot = cluster_usage(cluster_message(secondary_worker_config={"num_instances": 3, "preemptibility": "SPOT"}))
    default = cluster_usage(cluster_message(secondary_worker_config={"num_instances": 3}))

    assert (spot.groups[-1].role, spot.groups[-1].count, spot.groups[-1].preemptibility) == ("secondary", 3, "spot")
    assert default.groups[-1].preemptibility == "preemptible"


@pytest.fixture
def cluster_client(mocker, monkeypatch):
    """The hook's cluster client, mocked."""
    monkeypatch.setenv("DATAPROC_EMULATOR_HOST", "127.0.0.1:1")
    hook = DaskDataprocHook()
    client = mocker.MagicMock()
    mocker.patch.object(hook, "get_cluster_client", return_value=client)
    client.hook = hook
    return client


def test_provider_clusters_are_listed_by_their_label_with_their_expiry(cluster_client):
    listed = cluster_message()
    listed.labels.update({"created-by": "airflow-dask-provider", "expiry": "20260102t030405z"})
    cluster_client.list_clusters.return_value = [listed]

    [found] = cluster_client.hook.list_provider_clusters(project_id="p", region="r")

    request = cluster_client.list_clusters.call_args.kwargs["request"]
    assert request == {"project_id": "p", "region": "r", "filter": "labels.created-by = airflow-dask-provider"}
    assert (found.cluster_name, found.cluster_uuid, found.state) == ("c", "u", "RUNNING")
    assert found.expiry == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()


def test_a_label_filter_asks_for_every_label():
    assert label_filter({"owner": "alice", "created-by": "airflow-dask-provider"}) == (
        "labels.owner = alice AND labels.created-by = airflow-dask-provider"
    )


def test_any_filter_lists_clusters_as_plain_data_with_their_secondary_workers(cluster_client):
    listed = cluster_message(secondary_worker_config={"num_instances": 3, "instance_names": ["a", "b"]})
    cluster_client.list_clusters.return_value = [listed]

    [found] = cluster_client.hook.list_clusters(project_id="p", region="r", filter="status.state = ACTIVE")

    assert cluster_client.list_clusters.call_args.kwargs["request"]["filter"] == "status.state = ACTIVE"
    assert (found.project_id, found.region, found.cluster_name, found.secondary_workers) == ("p", "r", "c", 3)


def test_the_usage_of_a_missing_cluster_is_none(cluster_client):
    from google.api_core.exceptions import NotFound

    cluster_client.get_cluster.side_effect = NotFound("no such cluster")

    assert cluster_client.hook.get_cluster_usage(project_id="p", region="r", cluster_name="c") is None
    assert cluster_client.hook.get_worker_groups(project_id="p", region="r", cluster_name="c") is None


def test_the_usage_of_a_cluster_is_read_from_its_message(cluster_client):
    cluster_client.get_cluster.return_value = cluster_message()

    usage = cluster_client.hook.get_cluster_usage(project_id="p", region="r", cluster_name="c")

    assert (usage.cluster_name, usage.created_at) == ("c", CREATED.timestamp())


# -- starting a stopped cluster ----------------------------------------------------------------------


def start(client) -> bool:
    return client.hook.start_dask_cluster(
        project_id="p", region="r", cluster_name="c", cluster_uuid="u", request_id="req"
    )


def test_start_asks_for_the_cluster_of_the_uuid_with_a_request_id(cluster_client):
    assert start(cluster_client) is True

    request = cluster_client.start_cluster.call_args.kwargs["request"]
    assert (request["cluster_name"], request["cluster_uuid"], request["request_id"]) == ("c", "u", "req")


def test_start_of_a_missing_cluster_is_false(cluster_client):
    from google.api_core.exceptions import NotFound

    cluster_client.start_cluster.side_effect = NotFound("gone")

    assert start(cluster_client) is False


@pytest.mark.parametrize("state", ["STARTING", "RUNNING"])
def test_a_cluster_someone_else_started_counts_as_started(cluster_client, state):
    from google.api_core.exceptions import FailedPrecondition

    cluster_client.start_cluster.side_effect = FailedPrecondition("not STOPPED")
    message = cluster_message()
    message.status.state = dataproc_v1.ClusterStatus.State[state]
    cluster_client.get_cluster.return_value = message

    assert start(cluster_client) is True


def test_a_start_refused_for_another_uuid_is_cluster_replaced(cluster_client):
    from google.api_core.exceptions import FailedPrecondition

    from airflow_dask_provider.exceptions import ClusterReplacedError

    cluster_client.start_cluster.side_effect = FailedPrecondition("uuid")
    message = cluster_message()
    message.cluster_uuid = "new"
    cluster_client.get_cluster.return_value = message

    with pytest.raises(ClusterReplacedError, match="no longer the cluster of uuid u"):
        start(cluster_client)


def test_a_start_refused_in_another_state_is_dataprocs_own_error(cluster_client):
    from google.api_core.exceptions import FailedPrecondition

    cluster_client.start_cluster.side_effect = FailedPrecondition("is in state STOPPING")
    message = cluster_message()
    message.status.state = dataproc_v1.ClusterStatus.State.STOPPING
    cluster_client.get_cluster.return_value = message

    with pytest.raises(FailedPrecondition, match="STOPPING"):
        start(cluster_client)
