"""A sensor that deletes, or reports, a Dask cluster whose scheduler has been idle for a while.

Dataproc's own idle-delete (``idle_delete_ttl``) counts a cluster as idle when no Dataproc job (and
no YARN application) runs: it cannot see a standalone Dask scheduler busy with a notebook or an SSH
client, so it may delete such a cluster mid-work, and a cluster whose only use is interactive is
"idle" from the start. This sensor watches the Dask scheduler itself
(:mod:`airflow_dask_provider.hooks.dask_scheduler`). Which to use when: ``docs/operators/lifecycle.md``,
"DaskDataprocIdleSensor".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_dask_provider import defaults
from airflow_dask_provider.checks import FAILED, idle_cluster_verdict, idleness_verdict
from airflow_dask_provider.cluster_spec import parse_duration, validate_cluster_name
from airflow_dask_provider.exceptions import ClusterError, ClusterSpecError
from airflow_dask_provider.links import DaskDashboardLink, DataprocClusterLink
from airflow_dask_provider.sensors.base import DaskDataprocBaseSensor
from airflow_dask_provider.states import DELETED
from airflow_dask_provider.tasks import is_literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: What the sensor does once the cluster has been idle for the quiet period.
ACTIONS = ("delete", "report")


class DaskDataprocIdleSensor(DaskDataprocBaseSensor):
    """Wait until a cluster's Dask scheduler has been idle for ``quiet_period``, then delete the cluster or report.

    Idle means the scheduler's own signal (``Scheduler.check_idle``): no Dask task processing or
    queued, whoever submitted it, a Dataproc job or a notebook's ``distributed.Client``. With
    ``consider_jobs`` (default) an active Dataproc job counts as busy too. Before acting the sensor
    looks once more, so a computation that started meanwhile keeps the cluster. ``delete`` asks
    Dataproc to delete the cluster (by its uuid, so a new cluster of the same name is safe) and does
    not wait for it to be gone.

    Returns (and pushes to XCom) ``cluster_name``, ``idle_since``, ``idle_seconds``, ``source``,
    ``action`` and ``deleted``. A cluster that no longer exists ends the sensor with ``deleted``
    False; one in ERROR fails it.

    :param cluster_name: the cluster (templated); derived from the DAG, the run and the task group when
        omitted, as the create operator derives it.
    :param quiet_period: how long the scheduler must have been idle: seconds, a ``timedelta`` or
        text such as ``"30m"`` (templated); 30 minutes by default.
    :param action: ``delete`` (default) or ``report`` (only log and return).
    :param consider_jobs: count an active Dataproc job as busy (default True).
    :param poke_interval: seconds between looks (the longest pause when deferred); 60 by default.
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseSensor.template_fields, "cluster_name", "quiet_period")
    operator_extra_links = (DataprocClusterLink(), DaskDashboardLink())
    ui_color = "#c9e4c5"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        quiet_period: float | str | timedelta = defaults.IDLE_QUIET_PERIOD_SECONDS,
        action: str = "delete",
        consider_jobs: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", defaults.IDLE_POKE_INTERVAL_SECONDS)
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.quiet_period = quiet_period
        self.action = action
        self.consider_jobs = consider_jobs
        self._observed_quiet_since: float | None = None
        if action not in ACTIONS:
            raise ClusterSpecError("action", action, f"must be one of {', '.join(ACTIONS)}")
        if cluster_name is not None and is_literal(cluster_name):
            validate_cluster_name(cluster_name)
        if is_literal(quiet_period):
            self._quiet_seconds()

    def _quiet_seconds(self) -> int:
        seconds = parse_duration("quiet_period", self.quiet_period)
        if seconds <= 0:
            raise ClusterSpecError("quiet_period", self.quiet_period, "must be more than 0 seconds")
        return seconds

    @property
    def _where(self) -> dict[str, str]:
        return {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}

    def execute(self, context: Context) -> Any:
        self.use_cluster_name(context)
        self._quiet_seconds()
        DataprocClusterLink.persist(context, DataprocClusterLink.url(**self._where))
        if not self.deferrable:
            return self._act(super().execute(context))
        return self._check_or_defer(context)

    def _check_or_defer(self, context: Context) -> dict[str, Any]:
        found = self._look(context)
        if found is not None:
            return self._act(found)
        from airflow_dask_provider.triggers.idle import DaskDataprocIdleTrigger

        self._defer(
            context,
            DaskDataprocIdleTrigger,
            cluster_name=self.cluster_name,
            quiet_period=self._quiet_seconds(),
            consider_jobs=self.consider_jobs,
            observed_quiet_since=self._observed_quiet_since,
            poll_maximum=self.poke_interval,
        )
        raise AssertionError("unreachable: defer raises")

    def poke(self, context: Context) -> Any:
        from airflow.providers.common.compat.sdk import PokeReturnValue

        found = self._look(context)
        return PokeReturnValue(is_done=found is not None, xcom_value=found)

    def _look(self, context: Context) -> dict[str, Any] | None:
        """Look once; return what was found when the sensor is done, None while the cluster is not idle enough."""
        info = self.hook.get_cluster_info(**self._where)
        DaskDashboardLink.persist(context, info.dashboard_url if info else None)
        verdict = idle_cluster_verdict(info, cluster_name=self.cluster_name)
        if verdict is None:  # its scheduler serves: ask it
            idleness = self.hook.dask_scheduler.get_cluster_idleness(
                **self._where, dashboard_url=info.dashboard_url, consider_jobs=self.consider_jobs
            )
            verdict, self._observed_quiet_since = idleness_verdict(
                idleness.as_dict(),
                cluster_name=self.cluster_name,
                state=info.state,
                quiet_period=self._quiet_seconds(),
                observed_quiet_since=self._observed_quiet_since,
                now=time.time(),
            )
        if verdict.status == FAILED:
            raise ClusterError(self.cluster_name, verdict.state, verdict.detail)
        if not verdict.done:
            self.log.info("%s", verdict.message)
            return None
        if verdict.state == DELETED:
            self.log.info("%s", verdict.message)
            return {"cluster_name": self.cluster_name, "state": DELETED}
        return {
            "cluster_name": self.cluster_name,
            "cluster_uuid": info.cluster_uuid,
            "state": info.state,
            **verdict.facts,
        }

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Look once more when the trigger found the cluster idle, then act, or wait again if it is busy."""
        self.use_cluster_name(context)
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(event["message"])
        if event["status"] != "success":
            raise ClusterError(self.cluster_name, event["state"], event["message"])
        self.log.info("%s", event["message"])
        if event["state"] == DELETED:
            return self._act({"cluster_name": self.cluster_name, "state": "DELETED"})
        self._observed_quiet_since = event.get("idle_since") if event.get("source") == "metrics" else None
        return self._check_or_defer(context)

    def _act(self, found: dict[str, Any]) -> dict[str, Any]:
        result = {
            "cluster_name": self.cluster_name,
            "idle_since": found.get("idle_since"),
            "idle_seconds": found.get("idle_seconds"),
            "source": found.get("source"),
            "action": self.action,
            "deleted": False,
        }
        if found.get("state") == DELETED:
            return result
        idle = (
            f"idle for {found['idle_seconds']:.0f}s "
            f"(quiet period {self._quiet_seconds()}s, read from {found['source']})"
        )
        if self.action == "report":
            self.log.warning("Cluster %s has been %s; leaving it (action='report')", self.cluster_name, idle)
            return result
        from airflow_dask_provider.exceptions import ClusterReplacedError

        self.log.warning("Cluster %s has been %s; deleting it", self.cluster_name, idle)
        try:
            result["deleted"] = self.hook.delete_dask_cluster(**self._where, cluster_uuid=found["cluster_uuid"])
        except ClusterReplacedError:  # its uuid changed: a new cluster of the same name, not the idle one
            self.log.info("Cluster %s was replaced by a new one; leaving it", self.cluster_name)
        return result
