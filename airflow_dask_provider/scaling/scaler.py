"""Carry out the Dask-aware scaling rule on one cluster: observe, decide, resize.

Each :meth:`DaskSecondaryScaler.step` reads the cluster (state, worker nodes) and the Dask scheduler
(``adaptive_target()``, queue, workers), asks the pure :class:`~.rule.ScalingRule` for a
:class:`~.rule.ScalingDecision`, and carries it out through
:class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`:

* **grow**: ``UpdateCluster`` of ``config.secondary_worker_config.num_instances``, without waiting;
  the new nodes' workers join the scheduler by themselves, and while Dataproc resizes (cluster state
  UPDATING) the policy holds.
* **shrink**: first retire the Dask workers of the nodes that go (the scheduler copies their data to
  the remaining workers and closes them), then ``UpdateCluster`` with a graceful decommission
  timeout. Which nodes go is an assumption, see :mod:`~.nodes`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from airflow_dask_provider import defaults
from airflow_dask_provider.scaling.nodes import node_of, nodes_to_remove, workers_on_nodes
from airflow_dask_provider.scaling.rule import (
    GROW,
    HOLD,
    MAX_SECONDS,
    SHRINK,
    LoadSnapshot,
    ScalingConfig,
    ScalingDecision,
    ScalingRule,
    duration_seconds,
)
from airflow_dask_provider.scaling.timeline import Timeline
from airflow_dask_provider.states import CLUSTER_ENDED_STATES

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
    from airflow_dask_provider.hooks.resources import WorkerGroups

#: Default seconds Dataproc gives removed nodes to finish (``graceful_decommission_timeout``).
GRACEFUL_DECOMMISSION_TIMEOUT_SECONDS = defaults.GRACEFUL_DECOMMISSION_TIMEOUT_SECONDS
#: The numbers in a decision's reason, ignored when telling whether two holds say the same.
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class ClusterGone(Exception):
    """The cluster no longer exists, or is being deleted: there is nothing left to scale."""


class DaskSecondaryScaler:
    """Scale one cluster's secondary workers to its Dask scheduler's load.

    :param scaling_hook: the hook that reaches Dataproc and the scheduler.
    :param project_id: the cluster's project.
    :param region: the cluster's region.
    :param cluster_name: the cluster.
    :param config: bounds and pace of the scaling rule.
    :param graceful_decommission_timeout: how long Dataproc gives removed nodes: seconds or text such as ``"2m"``,
        0 to 1 day.
    :param target_duration: seconds the scheduler's ``adaptive_target`` aims to finish the queued
        work in; None for Dask's default (``distributed.adaptive.target-duration``, 5 s).
    :param clock: monotonic seconds; replaced in tests.
    :param log: where each decision is logged.
    """

    def __init__(
        self,
        *,
        scaling_hook: DaskDataprocHook,
        project_id: str,
        region: str,
        cluster_name: str,
        config: ScalingConfig,
        graceful_decommission_timeout: float | str | timedelta = GRACEFUL_DECOMMISSION_TIMEOUT_SECONDS,
        target_duration: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.scaling_hook = scaling_hook
        self.where = {"project_id": project_id, "region": region, "cluster_name": cluster_name}
        self.config = config
        self.rule = ScalingRule(config)
        self.graceful_decommission_timeout = duration_seconds(
            "graceful_decommission_timeout", graceful_decommission_timeout, 0, MAX_SECONDS
        )
        self.target_duration = target_duration
        self.clock = clock
        self.log = log or logging.getLogger(__name__)
        self.timeline = Timeline(start=clock())
        self.decisions: list[ScalingDecision] = []
        #: (secondary nodes before a shrink, the nodes whose workers were retired) until it is done.
        self._shrinking: tuple[frozenset[str], frozenset[str]] | None = None

    def _groups(self) -> WorkerGroups:
        groups = self.scaling_hook.get_worker_groups(**self.where)
        if groups is None or groups.state in CLUSTER_ENDED_STATES:
            raise ClusterGone(self.where["cluster_name"])
        return groups

    def observe(self) -> tuple[WorkerGroups, LoadSnapshot, tuple[dict, ...]]:
        """Return the cluster's worker groups, a load snapshot, and the scheduler's workers.

        :raises ClusterGone: the cluster does not exist or is being deleted.
        """
        groups = self._groups()
        self._check_removal(groups)
        if not groups.scheduler_address:
            raise ClusterGone(self.where["cluster_name"])
        load = self.scaling_hook.dask_scheduler.get_load(
            scheduler_address=groups.scheduler_address,
            target_duration=self.target_duration,
            tls_credential_uri=groups.tls_credential_uri,
        )
        snapshot = LoadSnapshot(
            time=self.clock(),
            adaptive_target=load.adaptive_target,
            primary_workers=len(groups.primary),
            secondary_workers=len(groups.secondary),
            queued_tasks=load.queued,
            processing_tasks=load.processing,
            dask_workers=len(load.workers),
            resizing=groups.state != "RUNNING" or groups.secondary_target != len(groups.secondary),
        )
        return groups, snapshot, load.workers

    def step(self) -> ScalingDecision:
        """Observe once, decide, carry the decision out, and return it.

        :raises ClusterGone: the cluster does not exist or is being deleted.
        """
        groups, snapshot, workers = self.observe()
        decision = self.rule.decide(snapshot)
        self.timeline.record(snapshot, decision)
        self.apply(decision, groups, workers)
        return decision

    def apply(self, decision: ScalingDecision, groups: WorkerGroups, workers: tuple[dict, ...]) -> None:
        """Log ``decision`` and carry it out: retire the leaving nodes' workers, then resize."""
        previous = self.decisions[-1] if self.decisions else None
        self.decisions.append(decision)
        # Every grow and shrink is logged; a hold when its reason differs from the previous
        # decision's in more than numbers, so a long steady state takes one line, not one per check.
        same = (
            previous is not None
            and decision.action == previous.action == HOLD
            and (previous.current, _NUMBERS.sub("#", previous.reason))
            == (decision.current, _NUMBERS.sub("#", decision.reason))
        )
        self.log.log(logging.DEBUG if same else logging.INFO, "Scaling decision: %s", decision)
        if decision.action == SHRINK:
            self._retire(groups, decision.target, workers)
        if decision.action in (GROW, SHRINK):
            self.scaling_hook.resize_secondary_workers(
                **self.where,
                num_instances=decision.target,
                graceful_decommission_timeout=self.graceful_decommission_timeout,
                request_id=uuid.uuid4().hex,
            )

    def scale_to_minimum(
        self, reason: str, *, timeout: float, interval: float, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Shrink to the minimum now (retiring workers first) and wait until the cluster has settled.

        For the end of a job: the policy's waits no longer matter. Stops early if the cluster goes.
        """
        deadline = self.clock() + timeout
        shrunk = False
        while True:
            groups, snapshot, workers = self.observe()
            minimum = self.config.min_secondary_workers
            if snapshot.resizing:
                current = snapshot.secondary_workers
                decision = ScalingDecision(snapshot.time, HOLD, current, current, minimum, "a resize is under way")
            elif snapshot.secondary_workers > minimum and not shrunk:
                decision = ScalingDecision(snapshot.time, SHRINK, snapshot.secondary_workers, minimum, minimum, reason)
                shrunk = True
            else:
                return
            self.timeline.record(snapshot, decision)
            self.apply(decision, groups, workers)
            if self.clock() > deadline:
                self.log.warning("The cluster did not settle within %.0f s after the final shrink", timeout)
                return
            sleep(interval)

    def _check_removal(self, groups: WorkerGroups) -> None:
        """Once a shrink is done, warn if Dataproc removed other nodes than those whose workers were retired."""
        if self._shrinking is None or groups.state != "RUNNING" or groups.secondary_target != len(groups.secondary):
            return
        before, retired = self._shrinking
        self._shrinking = None
        removed = before - set(groups.secondary)
        if removed != retired:
            self.log.warning(
                "Dataproc removed nodes %s, but the Dask workers of %s were retired: workers of removed nodes "
                "lost their data (Dask recomputes it), retired workers on kept nodes are gone until restarted",
                sorted(removed),
                sorted(retired),
            )

    def _retire(self, groups: WorkerGroups, target: int, workers: tuple[dict, ...]) -> None:
        leaving = nodes_to_remove(groups.secondary, target)
        self._shrinking = (frozenset(groups.secondary), frozenset(leaving))
        addresses = workers_on_nodes(workers, leaving)
        unmatched = sorted(set(leaving) - {node_of(worker, leaving) for worker in workers})
        if unmatched:
            self.log.warning(
                "No Dask worker is named after nodes %s or runs on them; they go without retirement "
                "(start workers with --name $(hostname -s), as the provider's init action does)",
                unmatched,
            )
        if not addresses:
            return
        self.log.info("Retiring Dask workers %s of nodes %s before removing the nodes", addresses, leaving)
        retired = self.scaling_hook.dask_scheduler.retire_workers(
            scheduler_address=groups.scheduler_address,
            addresses=addresses,
            tls_credential_uri=groups.tls_credential_uri,
        )
        missing = sorted(set(addresses) - set(retired))
        if missing:
            self.log.warning("Dask workers %s were not retired (already gone?)", missing)
