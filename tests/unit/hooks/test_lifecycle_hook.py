"""Reading a cluster's usage and finding the provider's clusters, from real Dataproc messages."""

from __future__ import annotations

from datetime import datetime, timezone

from google.cloud import dataproc_v1

from airflow_dask_provider.hooks.lifecycle import cluster_usage, list_provider_clusters

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


def test_provider_clusters_are_listed_by_their_label_with_their_expiry(mocker):
    hook = mocker.MagicMock()
    listed = cluster_message()
    listed.labels.update({"created-by": "airflow-dask-provider", "expiry": "20260102t030405z"})
    hook.get_cluster_client.return_value.list_clusters.return_value = [listed]

    [found] = list_provider_clusters(hook, project_id="p", region="r")

    request = hook.get_cluster_client.return_value.list_clusters.call_args.kwargs["request"]
    assert request == {"project_id": "p", "region": "r", "filter": "labels.created-by = airflow-dask-provider"}
    assert (found.cluster_name, found.cluster_uuid, found.state) == ("c", "u", "RUNNING")
    assert found.expiry == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
