"""Which nodes a shrink removes, and which Dask workers run on them."""

from __future__ import annotations

from airflow_dask_provider.scaling.nodes import node_of, nodes_to_remove, workers_on_nodes


def test_a_shrink_removes_the_newest_nodes():
    assert nodes_to_remove(["c-sw-aaaa", "c-sw-bbbb", "c-sw-cccc"], 1) == ["c-sw-bbbb", "c-sw-cccc"]
    assert nodes_to_remove(["c-sw-aaaa"], 1) == []
    assert nodes_to_remove(["c-sw-aaaa"], 0) == ["c-sw-aaaa"]


def test_a_worker_is_matched_by_its_name_or_its_host():
    nodes = ["c-sw-aaaa", "c-sw-bbbb"]

    assert node_of({"name": "c-sw-aaaa", "host": "127.0.0.1"}, nodes) == "c-sw-aaaa"
    assert node_of({"name": "tcp://10.0.0.5:4000", "host": "c-sw-bbbb.c.project.internal"}, nodes) == "c-sw-bbbb"
    assert node_of({"name": "c-w-0", "host": "c-w-0"}, nodes) is None


def test_workers_on_nodes_returns_their_addresses():
    workers = [
        {"address": "tcp://127.0.0.1:1", "name": "c-w-0", "host": "127.0.0.1"},
        {"address": "tcp://127.0.0.1:2", "name": "c-sw-aaaa", "host": "127.0.0.1"},
        {"address": "tcp://127.0.0.1:3", "name": "c-sw-bbbb", "host": "127.0.0.1"},
    ]

    assert workers_on_nodes(workers, ["c-sw-bbbb"]) == ["tcp://127.0.0.1:3"]
