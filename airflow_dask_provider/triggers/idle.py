"""The trigger of :class:`~airflow_dask_provider.sensors.idle.DaskDataprocIdleSensor`.

It follows the conventions of :mod:`airflow_dask_provider.triggers.dataproc` (JSON-safe arguments,
an absolute deadline, growing pauses, one event of one shape) and owns nothing: killing it cleans
nothing up.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_dask_provider import defaults
from airflow_dask_provider.triggers.dataproc import DELETED, DaskDataprocBaseTrigger, event
from airflow_dask_provider.states import CLUSTER_SERVING_STATES

#: Cluster states in which its Dask scheduler serves and can be asked.
#: Why a cluster cannot be watched: its scheduler is reached only beside the dashboard.
NO_DASHBOARD = "Cluster {} has no Dask dashboard URL (Component Gateway is off), so its scheduler cannot be asked"


def quiet_since(idleness: dict[str, Any], observed: float | None, now: float) -> float | None:
    """Return since when the cluster is quiet, or None while it is busy.

    The scheduler's own ``idle_since`` wins; without it (the Prometheus fallback) the quiet time
    counts from ``observed``, the first look that found it quiet (``now`` if this is that look).
    """
    if idleness["busy"]:
        return None
    if idleness.get("idle_since") is not None:
        return float(idleness["idle_since"])
    return observed if observed is not None else now


def busy_reason(idleness: dict[str, Any]) -> str:
    """Return why a look found the cluster busy, for the log."""
    if idleness["active_jobs"]:
        return f"{idleness['active_jobs']} active Dataproc jobs"
    if idleness["source"] == "metrics":
        return f"{idleness['pending_tasks']} Dask tasks not done"
    return "Dask tasks processing or queued"


class DaskDataprocIdleTrigger(DaskDataprocBaseTrigger):
    """Wait until a cluster's Dask scheduler has been idle for ``quiet_period`` seconds.

    Event statuses: ``success`` once the cluster has been quiet long enough (``state`` RUNNING,
    ``resource`` the cluster, plus ``idle_since``, ``idle_seconds`` and ``source``) or once it no
    longer exists (``state`` DELETED); ``failed`` when it is in ERROR; ``timeout`` at the deadline.

    :param cluster_name: the cluster.
    :param quiet_period: seconds the scheduler must have been idle.
    :param consider_jobs: count an active Dataproc job as busy.
    :param observed_quiet_since: when an earlier look first found the cluster quiet, for the
        Prometheus fallback (carried across a re-deferral).
    """

    def __init__(
        self,
        *,
        cluster_name: str,
        quiet_period: float,
        consider_jobs: bool = True,
        observed_quiet_since: float | None = None,
        poll_maximum: float = defaults.IDLE_POKE_INTERVAL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(poll_maximum=poll_maximum, **kwargs)
        self.cluster_name = cluster_name
        self.quiet_period = float(quiet_period)
        self.consider_jobs = bool(consider_jobs)
        self.observed_quiet_since = None if observed_quiet_since is None else float(observed_quiet_since)

    def _own_kwargs(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster_name,
            "quiet_period": self.quiet_period,
            "consider_jobs": self.consider_jobs,
            "observed_quiet_since": self.observed_quiet_since,
        }

    async def wait(self) -> dict[str, Any]:

        where = {"project_id": self.project_id, "region": self.region, "cluster_name": self.cluster_name}
        pauses = self.pauses()
        state = "UNKNOWN"
        while True:
            info = await self.call(self.hook.get_cluster_info, **where)
            state = info.state if info else DELETED
            if info is None:
                return event("success", state=DELETED, message=f"Cluster {self.cluster_name} does not exist")
            if state == "ERROR":
                return event(
                    "failed",
                    state=state,
                    resource=info.as_dict(),
                    message=f"Cluster {self.cluster_name} is in ERROR: {info.detail}",
                )
            if state in CLUSTER_SERVING_STATES and not info.dashboard_url:
                return event(
                    "failed", state=state, resource=info.as_dict(), message=NO_DASHBOARD.format(self.cluster_name)
                )
            if state in CLUSTER_SERVING_STATES:
                idleness = (
                    await self.call(
                        self.hook.dask_scheduler.get_cluster_idleness, **where, dashboard_url=info.dashboard_url,
                        consider_jobs=self.consider_jobs,
                    )
                ).as_dict()  # fmt: skip
                now = time.time()
                since = quiet_since(idleness, self.observed_quiet_since, now)
                self.observed_quiet_since = since if idleness["idle_since"] is None else None
                if since is not None and now - since >= self.quiet_period:
                    return event(
                        "success",
                        state=state,
                        resource=info.as_dict(),
                        message=f"Cluster {self.cluster_name} has been idle for {now - since:.0f}s",
                        idle_since=since,
                        idle_seconds=now - since,
                        source=idleness["source"],
                    )
                self._log_look(idleness, since, now)
            else:
                self.log.info("Cluster %s is %s; waiting for its Dask scheduler", self.cluster_name, state)
            if await anext(pauses, None) is None:
                return event(
                    "timeout",
                    state=state,
                    message=f"Cluster {self.cluster_name} was not idle for {self.quiet_period:.0f}s before the deadline",
                )

    def _log_look(self, idleness: dict[str, Any], since: float | None, now: float) -> None:
        if since is None:
            self.log.info("Cluster %s is busy (%s)", self.cluster_name, busy_reason(idleness))
        else:
            self.log.info(
                "Cluster %s has been idle for %.0fs of %.0fs", self.cluster_name, now - since, self.quiet_period
            )
