"""UpdateCluster: resizing starts and retires real Dask workers; labels and lifecycle change in place."""

from __future__ import annotations

import pytest
from google.api_core.exceptions import InvalidArgument
from google.cloud import dataproc_v1

from .conftest import WHERE, create_cluster, dask_client, delete_cluster

NAME = "resizable"


@pytest.fixture(scope="module")
def cluster(clusters) -> dataproc_v1.Cluster:
    """A cluster of its own (two primary workers), so resizing it disturbs no other test."""
    yield create_cluster(clusters, NAME, {"worker_config": {"num_instances": 2}})
    delete_cluster(clusters, NAME)


@pytest.fixture(scope="module")
def client(running, cluster):
    with dask_client(running, cluster) as client:
        yield client


def resize(clusters, secondary: int) -> dataproc_v1.Cluster:
    request = {
        **WHERE,
        "cluster_name": NAME,
        "cluster": {"config": {"secondary_worker_config": {"num_instances": secondary}}},
        "update_mask": {"paths": ["config.secondary_worker_config.num_instances"]},
    }
    return clusters.update_cluster(request=request).result(timeout=180)


def worker_names(client) -> list[str]:
    return sorted(str(w["name"]) for w in client.scheduler_info(n_workers=-1)["workers"].values())


def test_adding_secondary_workers_starts_dask_workers(clusters, cluster, client):
    resized = resize(clusters, 1)

    [secondary] = resized.config.secondary_worker_config.instance_names
    assert secondary.startswith(f"{NAME}-sw-")
    assert resized.config.secondary_worker_config.num_instances == 1
    assert resized.status.state == dataproc_v1.ClusterStatus.State.RUNNING
    assert worker_names(client) == sorted([f"{NAME}-w-0", f"{NAME}-w-1", secondary])


def test_removing_workers_retires_them_and_keeps_their_data(clusters, cluster, client):
    grown = resize(clusters, 1) if len(worker_names(client)) < 3 else clusters.get_cluster(**WHERE, cluster_name=NAME)
    [secondary] = grown.config.secondary_worker_config.instance_names
    address = next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if w["name"] == secondary)
    [data] = client.scatter([list(range(1000))], workers=[address])

    shrunk = resize(clusters, 0)

    assert list(shrunk.config.secondary_worker_config.instance_names) == []
    assert worker_names(client) == [f"{NAME}-w-0", f"{NAME}-w-1"]
    assert sum(data.result()) == sum(range(1000))


def test_update_of_labels_keeps_dataprocs_own(clusters, cluster):
    request = {
        **WHERE,
        "cluster_name": NAME,
        "cluster": {"labels": {"team": "data"}},
        "update_mask": {"paths": ["labels"]},
    }

    updated = clusters.update_cluster(request=request).result(timeout=60)

    assert updated.labels["team"] == "data"
    assert updated.labels["goog-dataproc-cluster-name"] == NAME


def test_update_of_an_unsupported_field_is_invalid_argument(clusters, cluster):
    request = {
        **WHERE,
        "cluster_name": NAME,
        "cluster": {},
        "update_mask": {"paths": ["config.master_config.num_instances"]},
    }

    with pytest.raises(InvalidArgument, match="config.master_config.num_instances"):
        clusters.update_cluster(request=request)


def test_one_primary_worker_after_update_is_invalid_argument(clusters, cluster):
    request = {
        **WHERE,
        "cluster_name": NAME,
        "cluster": {"config": {"worker_config": {"num_instances": 1}}},
        "update_mask": {"paths": ["config.worker_config.num_instances"]},
    }

    with pytest.raises(InvalidArgument, match="num_instances=1"):
        clusters.update_cluster(request=request)
