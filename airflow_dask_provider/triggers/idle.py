"""The trigger of :class:`~airflow_dask_provider.sensors.idle.DaskDataprocIdleSensor`.

It follows the conventions of :mod:`airflow_dask_provider.triggers.base` (JSON-safe arguments,
an absolute deadline, growing pauses, one event of one shape) and owns nothing: killing it cleans
nothing up.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_dask_provider import defaults
from airflow_dask_provider.checks import idle_cluster_verdict, idleness_verdict
from airflow_dask_provider.triggers.base import DaskDataprocBaseTrigger, event


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
        while True:
            info = await self.call(self.hook.get_cluster_info, **where)
            verdict = idle_cluster_verdict(info, cluster_name=self.cluster_name)
            if verdict is None:  # its scheduler serves: ask it
                idleness = await self.call(
                    self.hook.dask_scheduler.get_cluster_idleness,
                    **where,
                    dashboard_url=info.dashboard_url,
                    consider_jobs=self.consider_jobs,
                )
                verdict, self.observed_quiet_since = idleness_verdict(
                    idleness.as_dict(),
                    cluster_name=self.cluster_name,
                    state=info.state,
                    quiet_period=self.quiet_period,
                    observed_quiet_since=self.observed_quiet_since,
                    now=time.time(),
                )
            if verdict.done:
                resource = info.as_dict() if info else None
                return event(
                    verdict.status, state=verdict.state, resource=resource, message=verdict.message, **verdict.facts
                )
            self.log.info("%s", verdict.message)
            if await anext(pauses, None) is None:
                return event(
                    "timeout",
                    state=verdict.state,
                    message=f"Cluster {self.cluster_name} was not idle for {self.quiet_period:.0f}s "
                    "before the deadline",
                )
