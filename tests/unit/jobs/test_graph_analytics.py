"""jobs/graph_analytics.py: one PageRank step at a time equals networkx, in one process."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from airflow_dask_provider.jobs import graph_analytics as job

#: Parallel edges (0->1 twice), a self-loop (3->3), a dangling node (4), and id 5 absent.
EDGES = pd.DataFrame({"src": [0, 0, 1, 2, 2, 3, 0, 6], "dst": [1, 2, 2, 0, 4, 3, 1, 0]})


def pagerank_in_process(frames: list[pd.DataFrame], tol: float = 1e-10) -> pd.DataFrame:
    size = 1 + max(job.largest_id(frame, "src", "dst") for frame in frames)
    out_degree, in_degree = job.add_pairs(*(job.degrees(frame, "src", "dst", size) for frame in frames))
    present = (out_degree + in_degree) > 0
    dangling = present & (out_degree == 0)
    weighted = [job.weighted_edges(frame, "src", "dst", out_degree) for frame in frames]
    ranks = job.initial_ranks(present)
    for _ in range(100):
        incoming = job.add_vectors(*(job.contributions(edges, ranks) for edges in weighted))
        ranks, change = job.next_ranks(incoming, ranks, present, dangling, 0.85)
        if change < present.sum() * tol:
            break
    return job.result_frame(ranks, present)


def networkx_ranks(edges: pd.DataFrame) -> dict[int, float]:
    weighted = edges.groupby(["src", "dst"]).size().rename("weight").reset_index()
    graph = nx.from_pandas_edgelist(weighted, "src", "dst", edge_attr="weight", create_using=nx.DiGraph)
    return nx.pagerank(graph, alpha=0.85, tol=1e-10, weight="weight")


def test_ranks_equal_networkx_with_parallel_edges_self_loops_and_dangling_nodes():
    result = pagerank_in_process([EDGES.iloc[:3], EDGES.iloc[3:]])

    expected = networkx_ranks(EDGES)
    assert result["node"].tolist() == sorted(expected)  # 5 never occurs: not a node
    np.testing.assert_allclose(result["rank"], [expected[node] for node in result["node"]], atol=1e-12)
    assert result["rank"].sum() == pytest.approx(1.0)


def test_partitioning_does_not_change_the_ranks():
    whole = pagerank_in_process([EDGES])
    split = pagerank_in_process([EDGES.iloc[:2], EDGES.iloc[2:5], EDGES.iloc[5:]])

    assert job.ranks_checksum(whole) == job.ranks_checksum(split)


def test_negative_ids_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        job.largest_id(pd.DataFrame({"src": [1], "dst": [-2]}), "src", "dst")


def test_top_nodes_break_ties_by_node_id():
    frame = pd.DataFrame({"node": [4, 2, 9], "rank": [0.25, 0.5, 0.25]})

    assert job.top_nodes(frame, 2) == [[2, 0.5], [4, 0.25]]
