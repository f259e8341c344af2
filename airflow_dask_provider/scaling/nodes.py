"""Which nodes a shrink removes, and which Dask workers run on them (pure functions).

Dataproc gives no way to name the secondary nodes a resize removes. We assume it removes the most
recently added ones, the tail of ``config.secondary_worker_config.instance_names`` (the emulator
does exactly that; on Dataproc the managed instance group chooses, and this is not documented). The
scaler retires the Dask workers of those nodes before it asks for the resize, then compares what
was actually removed with what it retired and logs any difference: a worker whose node went
without retirement loses only data Dask can recompute from the task graph, never a finished result
the graph can rebuild, but scattered data on it would be lost.

A Dask worker is matched to its node by its name (the emulator, and the provider's init action,
which runs ``dask worker --name $(hostname -s)``) or by its host (the node's short or fully qualified
hostname). Google's public ``dask.sh`` names workers by address: with it, no worker matches and the
scaler warns that the nodes go without retirement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def nodes_to_remove(secondary_instance_names: Sequence[str], target: int) -> list[str]:
    """Return the secondary nodes a resize to ``target`` removes: the newest, at the end of the list."""
    return list(secondary_instance_names[max(target, 0) :])


def node_of(worker: Mapping[str, Any], nodes: Iterable[str]) -> str | None:
    """Return the node a Dask worker runs on (by its ``name`` or ``host``), or None."""
    name = str(worker.get("name") or "")
    host = str(worker.get("host") or "")
    for node in nodes:
        if name == node or host == node or host.split(".", 1)[0] == node:
            return node
    return None


def workers_on_nodes(workers: Iterable[Mapping[str, Any]], nodes: Iterable[str]) -> list[str]:
    """Return the addresses of the Dask workers that run on ``nodes``."""
    nodes = list(nodes)
    return [str(worker["address"]) for worker in workers if node_of(worker, nodes) is not None]
