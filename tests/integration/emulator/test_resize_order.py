"""UpdateCluster shrinks the secondary group by its newest nodes, the assumption the Dask-aware scaler makes."""

from __future__ import annotations

import pytest
from google.cloud import dataproc_v1

from .conftest import WHERE, create_cluster, dask_client, delete_cluster

NAME = "resize-order"


@pytest.fixture(scope="module")
def cluster(clusters) -> dataproc_v1.Cluster:
    yield create_cluster(clusters, NAME, {"worker_config": {"num_instances": 2}})
    delete_cluster(clusters, NAME)


def resize(clusters, secondary: int) -> dataproc_v1.Cluster:
    request = {
        **WHERE,
        "cluster_name": NAME,
        "cluster": {"config": {"secondary_worker_config": {"num_instances": secondary}}},
        "update_mask": {"paths": ["config.secondary_worker_config.num_instances"]},
        "graceful_decommission_timeout": {"seconds": 30},
    }
    return clusters.update_cluster(request=request).result(timeout=180)


def test_shrinking_removes_the_newest_secondary_nodes_and_their_workers(running, clusters, cluster):
    oldest = list(resize(clusters, 1).config.secondary_worker_config.instance_names)
    grown = list(resize(clusters, 3).config.secondary_worker_config.instance_names)

    shrunk = list(resize(clusters, 1).config.secondary_worker_config.instance_names)

    assert grown[:1] == oldest
    assert shrunk == oldest
    with dask_client(running, cluster) as client:
        names = {str(w["name"]) for w in client.scheduler_info(n_workers=-1)["workers"].values()}
    assert names == {f"{NAME}-w-0", f"{NAME}-w-1", *oldest}
