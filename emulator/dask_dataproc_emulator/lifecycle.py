"""Scheduled deletion: a cluster's ``lifecycle_config`` enforced as Dataproc enforces it.

Dataproc deletes a RUNNING cluster once it has been idle for ``idle_delete_ttl`` (idle: no job
pending or running; ``lifecycle_config.idle_start_time`` says since when, and the job service keeps
it), once it is ``auto_delete_ttl`` old, or at ``auto_delete_time``. A cluster in ERROR is left alone,
as on Dataproc: that is what the provider's orphan reaper is for.

A STOPPED cluster is deleted by the same three rules, and its clocks keep running while it is stopped
(our choice, documented here): a stopped cluster runs no job, so by Dataproc's definition (idle: no
Dataproc job pending or running) it is idle, and its ``idle_start_time`` stays the moment its last job
ended (a stop ends the running jobs; see :mod:`dask_dataproc_emulator.clusters`); its age counts from
its creation. Starting it again does not reset the idle time either: a cluster idle for longer than
its ``idle_delete_ttl`` is deleted at the next look. Dataproc's guides do not say that scheduled
deletion pauses while a cluster is stopped; the alternative they offer for stopped clusters is a
separate scheduled *stop*, which the emulator does not implement. A cluster being stopped or started
(STOPPING, STARTING), like one being created or updated, is left alone until it settles.

Tests cannot wait ten minutes, Dataproc's shortest TTL, so the emulator can run the clusters' clocks
faster: with ``--time-scale 60`` every real second counts as a minute for these three rules (a
10-minute TTL passes in 10 s; an ``auto_delete_time`` an hour after creation comes a minute after
it). Timestamps the API reports, such as ``idle_start_time``, stay real.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from google.cloud import dataproc_v1

from dask_dataproc_emulator.errors import EmulatorError
from dask_dataproc_emulator.names import cluster_path
from dask_dataproc_emulator.state import ClusterState, Store, now

log = logging.getLogger(__name__)

#: States in which a cluster's TTLs are enforced: settled, and not failed.
DELETABLE_STATES = frozenset({ClusterState.RUNNING, ClusterState.STOPPED})


def created_at(cluster: dataproc_v1.Cluster) -> datetime:
    """Return when the cluster was created: the start of its first status."""
    history = list(cluster.status_history)
    return (history[0] if history else cluster.status).state_start_time


def deletion_reason(cluster: dataproc_v1.Cluster, *, at: datetime, time_scale: float = 1.0) -> str | None:
    """Return why Dataproc would delete the cluster at ``at``, or None if it would keep it.

    :param time_scale: emulated seconds per real second since the idle start or the creation.
    """
    if cluster.status.state not in DELETABLE_STATES:
        return None
    lifecycle = cluster.config.lifecycle_config
    age = (at - created_at(cluster)).total_seconds() * time_scale
    if "idle_delete_ttl" in lifecycle and "idle_start_time" in lifecycle:
        idle = (at - lifecycle.idle_start_time).total_seconds() * time_scale
        ttl = lifecycle.idle_delete_ttl.total_seconds()
        if idle >= ttl:
            return f"idle for {idle:.0f}s, idle_delete_ttl {ttl:.0f}s"
    if "auto_delete_ttl" in lifecycle:
        ttl = lifecycle.auto_delete_ttl.total_seconds()
        if age >= ttl:
            return f"{age:.0f}s old, auto_delete_ttl {ttl:.0f}s"
    if "auto_delete_time" in lifecycle:
        planned = (lifecycle.auto_delete_time - created_at(cluster)).total_seconds()
        if age >= planned:
            return f"auto_delete_time {lifecycle.auto_delete_time.isoformat()} reached"
    return None


class LifecycleEnforcer:
    """Delete the clusters whose TTL has passed, looking every ``interval`` real seconds.

    :param store: the emulator's state.
    :param delete: deletes a cluster given its key and uuid (the ``DeleteCluster`` path).
    :param time_scale: emulated seconds per real second.
    :param interval: real seconds between looks.
    """

    def __init__(
        self,
        store: Store,
        delete: Callable[[dataproc_v1.DeleteClusterRequest], object],
        *,
        time_scale: float,
        interval: float,
    ) -> None:
        self.store = store
        self.delete = delete
        self.time_scale = time_scale
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lifecycle", daemon=True)

    def start(self) -> None:
        """Start looking."""
        log.debug("Enforcing cluster TTLs at time scale %g", self.time_scale)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # keep enforcing whatever went wrong with one cluster
                log.exception("Enforcing cluster TTLs failed")

    def sweep(self) -> list[str]:
        """Delete every cluster whose TTL has passed now; return their resource names."""
        at = now()
        with self.store.lock:
            if self.store.closing:
                return []
            due = [
                (record, reason)
                for record in self.store.clusters.values()
                if record.delete_operation is None
                and (reason := deletion_reason(record.cluster, at=at, time_scale=self.time_scale))
            ]
        deleted = []
        for record, reason in due:
            project, region, name = record.key
            log.info("Cluster %s: %s; deleting it", cluster_path(record.key), reason)
            request = dataproc_v1.DeleteClusterRequest(
                project_id=project, region=region, cluster_name=name, cluster_uuid=record.cluster.cluster_uuid
            )
            try:
                self.delete(request)
            except EmulatorError as err:  # deleted or replaced meanwhile
                log.info("Cluster %s: not deleted by its TTL: %s", cluster_path(record.key), err.message)
                continue
            deleted.append(cluster_path(record.key))
        return deleted
