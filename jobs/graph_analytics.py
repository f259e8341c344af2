"""PageRank of a directed graph given as an edge list, with Dask: the edges stay on the workers.

Runs as the driver of a Dask job on a Dataproc cluster (see ``csv_to_parquet.py`` for how). Reads
a Parquet dataset (or CSV files, ``--format csv``) of edges, ``src`` and ``dst`` node ids (non-negative
integers), computes PageRank by power iteration and writes ``node``, ``rank`` as Parquet::

    python graph_analytics.py --input gs://bucket/graph/edges --output gs://bucket/graph/pagerank

The result is networkx's ``pagerank(G, alpha, tol=..., max_iter=...)`` of the graph whose edge
``u -> v`` has as weight the number of times it occurs in the list (parallel edges add up):
the same damping, uniform teleport and dangling-node handling, and the same stopping rule (the L1
change of the ranks below ``nodes x tol``). The nodes are those that occur in the list.

How it works: the edge partitions are read once and persisted, each with the weight
``1 / out-degree(src)`` of its edges, because every iteration needs them (the one place persisting
pays). An iteration sends the rank vector to the workers, each partition adds up
``rank[src] x weight`` per ``dst`` with ``numpy.bincount``, the partial vectors are summed in a tree
that starts on the workers holding them, and a last task makes the new ranks and their change. The
driver only sees that change, one number per iteration. The rank vector has one entry per id up to
the largest: relabel ids that are sparse over a huge range first.

Prints one JSON summary line: ``rows`` (edges), ``nodes``, ``iterations``, ``converged``,
``top`` (the ten best ranked ``[node, rank]``), ``checksum`` (``dask_job.frame_checksum`` of the
result with ranks rounded to 12 decimals) and ``seconds``. Exit status 0 on success, 1 on failure, 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if __package__:  # imported from the provider's package (tests, generate.py)
    from . import dask_job
else:  # run as a script beside dask_job.py: from jobs/, or on Dataproc with it in py_files
    import dask_job

dask_job.require_libraries("graph_analytics")  # before any code of this module meets an older library

if TYPE_CHECKING:
    import dask.dataframe as dd

JOB_NAME = "graph_analytics"
DEFAULT_ALPHA = 0.85
DEFAULT_TOL = 1.0e-6
DEFAULT_MAX_ITER = 100
TOP_NODES = 10
#: Partial rank vectors summed per task of the reduction tree.
SUM_FAN_IN = 8
FORMATS = ("parquet", "csv")

log = logging.getLogger(JOB_NAME)


# -- PageRank, one piece per task ---------------------------------------------------------------


def edge_arrays(frame: pd.DataFrame, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the source and target ids of a partition as int64 arrays; refuse negative or missing ids."""
    sources = frame[src].to_numpy(dtype=np.int64, na_value=-1)
    targets = frame[dst].to_numpy(dtype=np.int64, na_value=-1)
    if len(sources) and min(sources.min(), targets.min()) < 0:
        raise ValueError(f"node ids must be non-negative integers; found {min(sources.min(), targets.min())}")
    return sources, targets


def largest_id(frame: pd.DataFrame, src: str, dst: str) -> int:
    """Return the largest node id of a partition (-1 if it has no edges)."""
    sources, targets = edge_arrays(frame, src, dst)
    return int(max(sources.max(), targets.max())) if len(sources) else -1


def degrees(frame: pd.DataFrame, src: str, dst: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return out-degrees and in-degrees (edge counts) of a partition, as vectors of ``size``."""
    sources, targets = edge_arrays(frame, src, dst)
    return np.bincount(sources, minlength=size), np.bincount(targets, minlength=size)


def add_pairs(*pairs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Add up (out-degree, in-degree) pairs."""
    return sum(pair[0] for pair in pairs), sum(pair[1] for pair in pairs)


def add_vectors(*vectors: np.ndarray) -> np.ndarray:
    """Add up vectors."""
    total = vectors[0].copy()
    for vector in vectors[1:]:
        total += vector
    return total


def weighted_edges(frame: pd.DataFrame, src: str, dst: str, out_degree: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return a partition's ``(sources, targets, 1 / out-degree of each source)``: what iterations use."""
    sources, targets = edge_arrays(frame, src, dst)
    return sources, targets, 1.0 / out_degree[sources]


def contributions(edges: tuple[np.ndarray, ...], ranks: np.ndarray) -> np.ndarray:
    """Return what the edges of a partition pass on: per target, the sum of rank x weight of its sources."""
    sources, targets, weights = edges
    return np.bincount(targets, weights=ranks[sources] * weights, minlength=len(ranks))


def next_ranks(
    incoming: np.ndarray, ranks: np.ndarray, present: np.ndarray, dangling: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    """Return the next rank vector and its L1 change, as networkx's ``pagerank`` computes them."""
    nodes = int(present.sum())
    spread = alpha * ranks[dangling].sum() / nodes + (1.0 - alpha) / nodes
    updated = alpha * incoming + spread * present
    return updated, float(np.abs(updated - ranks).sum())


def initial_ranks(present: np.ndarray) -> np.ndarray:
    """Return the starting vector: every node present gets the same share."""
    return present / present.sum()


def result_frame(ranks: np.ndarray, present: np.ndarray) -> pd.DataFrame:
    """Return ``node`` and ``rank`` of the nodes present, by node id."""
    nodes = np.flatnonzero(present)
    return pd.DataFrame({"node": nodes.astype(np.int64), "rank": ranks[nodes]})


def ranks_checksum(frame: pd.DataFrame) -> int:
    """Return ``dask_job.frame_checksum`` of the result, ranks rounded to 12 decimals: blind to last-bit noise."""
    return dask_job.frame_checksum(frame.assign(rank=frame["rank"].round(12)))


def top_nodes(frame: pd.DataFrame, limit: int = TOP_NODES) -> list[list[Any]]:
    """Return the ``limit`` best ranked ``[node, rank]`` pairs, ties by node id."""
    best = frame.sort_values(["rank", "node"], ascending=[False, True]).head(limit)
    return [[int(node), float(rank)] for node, rank in zip(best["node"], best["rank"])]


# -- the job ------------------------------------------------------------------------------------


def read_edges(args: argparse.Namespace) -> dd.DataFrame:
    """Return the two id columns of the edge list."""
    import dask.dataframe as dd

    columns = [args.src_column, args.dst_column]
    try:
        if args.format == "csv":
            named = args.input.endswith(".csv") or "*" in args.input
            pattern = args.input if named else args.input.rstrip("/") + "/*.csv"
            return dd.read_csv(pattern, usecols=columns, dtype=dict.fromkeys(columns, "int64"))
        return dd.read_parquet(args.input, columns=columns)
    except (OSError, ValueError, KeyError) as err:
        raise dask_job.JobFailure(f"cannot read the edges --input {args.input!r}: {err}") from err


def pagerank(args: argparse.Namespace) -> dict[str, Any]:
    """Rank the graph that ``args`` describes, write the ranks, and return the summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    dask_job.import_dask()
    started = time.monotonic()
    dask_job.check_output_apart(args.output, [args.input])
    src, dst = args.src_column, args.dst_column
    with dask_job.cluster_client(args) as client:
        workers = dask_job.wait_for_workers(client, args.min_workers, args.connect_timeout)
        edges = read_edges(args)
        # The edge frames feed three passes (size, degrees, weights): read them once.
        frames = client.compute(edges.to_delayed())
        size = 1 + max(client.gather(client.map(largest_id, frames, src=src, dst=dst)))
        if size == 0:
            raise dask_job.JobFailure(f"no edges in --input {args.input!r}")
        partial_degrees = client.map(degrees, frames, src=src, dst=dst, size=size)
        out_degree, in_degree = client.gather(
            dask_job.tree_reduce(partial_degrees, lambda group: client.submit(add_pairs, *group), SUM_FAN_IN)
        )
        present = (out_degree + in_degree) > 0
        dangling = present & (out_degree == 0)
        log.info("%d nodes, %d edges, %d partitions, %d workers", present.sum(), out_degree.sum(), len(frames), workers)
        degree_future = client.scatter(out_degree, broadcast=True)
        weighted = client.map(weighted_edges, frames, src=src, dst=dst, out_degree=degree_future)
        del frames, degree_future
        present_future, dangling_future = client.scatter([present, dangling], broadcast=True)
        ranks = client.scatter(initial_ranks(present), broadcast=True)
        nodes = int(present.sum())
        iterations, converged = 0, False
        while iterations < args.max_iter and not converged:
            partial_ranks = client.map(contributions, weighted, ranks=ranks, pure=False)
            incoming = dask_job.tree_reduce(partial_ranks, lambda group: client.submit(add_vectors, *group), SUM_FAN_IN)
            step = client.submit(next_ranks, incoming, ranks, present_future, dangling_future, args.alpha, pure=False)
            ranks = client.submit(itemgetter(0), step, pure=False)
            change = client.submit(itemgetter(1), step, pure=False).result()
            iterations += 1
            converged = change < nodes * args.tol
        final = ranks.result()
    result = result_frame(final, present)
    fs, folder = url_to_fs(args.output)
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    fs.makedirs(folder, exist_ok=True)
    with fs.open(f"{folder}/part-0.parquet", "wb") as stream:
        pq.write_table(pa.Table.from_pandas(result, preserve_index=False), stream)
    if not converged:
        log.warning("PageRank did not converge in %d iterations", iterations)
    return {
        "job": JOB_NAME,
        "rows": int(out_degree.sum()),
        "nodes": nodes,
        "iterations": iterations,
        "converged": converged,
        "top": top_nodes(result),
        "checksum": f"{ranks_checksum(result):016x}",
        "input": args.input,
        "output": args.output,
        "workers": workers,
        "seconds": round(time.monotonic() - started, 3),
    }


# -- command line -------------------------------------------------------------------------------


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of this job."""
    parser = argparse.ArgumentParser(prog=JOB_NAME, description="PageRank of an edge list on a Dask cluster.")
    parser.add_argument("--input", required=True, help="fsspec URL of the edge list (Parquet dataset or CSV files)")
    parser.add_argument("--output", required=True, help="fsspec URL of the result folder; replaced")
    dask_job.add_cluster_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="format of the input (%(default)s)")
    parser.add_argument("--src-column", default="src", help="column of the source ids (default %(default)s)")
    parser.add_argument("--dst-column", default="dst", help="column of the target ids (default %(default)s)")
    parser.add_argument("--alpha", type=_fraction, default=DEFAULT_ALPHA, help="damping factor (%(default)s)")
    parser.add_argument(
        "--tol", type=dask_job.positive_float, default=DEFAULT_TOL, help="tolerance per node (%(default)s)"
    )
    parser.add_argument("--max-iter", type=dask_job.positive_int, default=DEFAULT_MAX_ITER, help="iterations at most")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the process exit status."""
    return dask_job.run_job(JOB_NAME, pagerank, build_parser().parse_args(argv))


if __name__ == "__main__":  # as the module of this file's name, uploaded to the cluster: tasks name its functions
    sys.exit(dask_job.main_by_name(__file__, main))
