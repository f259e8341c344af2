"""Operator that deletes a Dask cluster on Dataproc, as a teardown, and logs what the cluster cost."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import config, defaults
from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.labels import context_run_key, describe_run
from airflow_dask_provider.operators.base import DaskDataprocBaseOperator
from airflow_dask_provider.tasks import deadline, defer_timeout, is_literal
from airflow_dask_provider.validation import validate_cluster_name

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_dask_provider.cost import ClusterUsage

#: XCom key under which the delete operator keeps the cluster's usage across a deferral.
USAGE_XCOM_KEY = "cluster_usage"


class DaskDataprocDeleteClusterOperator(DaskDataprocBaseOperator):
    """Delete a Dask cluster and wait until it is gone; a cluster that does not exist counts as done.

    Use it as a teardown task (``delete.as_teardown(setups=create)``) so the cluster is deleted
    whatever happened upstream.

    A cluster on which a job of another DAG run is pending or running (a shared cluster, see the
    create operator's ``share_cluster``) is left as it is, with a log line that names those jobs: its
    idle-delete TTL, its maximum life and the orphan reaper delete it later. This run's own jobs never
    hold it back.

    Once the cluster is gone, a cost line is logged and returned under ``cost``: the cluster's
    node-hours by machine type and preemptibility, and an estimated cost from a price table (see
    :mod:`airflow_dask_provider.cost`). The cluster is read before it is deleted for that; a failure
    to read or price it is logged and never fails the deletion.

    :param cluster_name: name of the cluster (templated); derived from the DAG, the run and the task
        group when omitted, as the create operator derives it.
    :param cluster_uuid: delete only if the cluster has this uuid (templated).
    :param timeout: seconds to wait for the deletion.
    :param price_table: prices merged over the built-in table and ``[dask_dataproc] price_table``.
    :param report_cost: log and return the cost line (default True).
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseOperator.template_fields, "cluster_name", "cluster_uuid")
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        cluster_uuid: str | None = None,
        timeout: float = defaults.CLUSTER_WAIT_TIMEOUT_SECONDS,
        price_table: dict[str, Any] | None = None,
        report_cost: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.cluster_uuid = cluster_uuid
        self.timeout = timeout
        self.price_table = price_table
        self.report_cost = report_cost
        if cluster_name is not None and is_literal(cluster_name):
            validate_cluster_name(cluster_name)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_dask_provider.hooks.bounded import teardown

        with teardown():  # an endpoint that does not answer is retried a little longer, as for every teardown
            return self._delete(context)

    def _delete(self, context: Context) -> dict[str, Any]:
        self.use_cluster_name(context)
        where = {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}
        others = self._other_runs_jobs(context, where)
        if others:
            self.log.warning(
                "Leaving cluster %s: jobs of other runs are pending or running on it (%s). Its idle-delete "
                "TTL, its maximum life and the orphan reaper delete it once they are done",
                self.cluster_name,
                "; ".join(others),
            )
            return {**where, "deleted": False, "left_for_jobs": others}
        usage = self._read_usage(where) if self.report_cost else None
        existed = self.hook.delete_dask_cluster(**where, cluster_uuid=self.cluster_uuid)
        if not existed:
            self.log.info("Cluster %s does not exist; nothing to delete", self.cluster_name)
            return {**where, "deleted": False}
        self.log.info("Deleting cluster %s", self.cluster_name)
        if self.deferrable:
            if usage is not None:
                context["ti"].xcom_push(key=USAGE_XCOM_KEY, value=usage.as_dict())
            from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger

            until = deadline(context, self, self.timeout)
            trigger = DaskDataprocClusterTrigger(
                **self.trigger_location(),
                cluster_name=self.cluster_name,
                target_states=["DELETED"],
                failure_states=[],
                deadline=until,
            )
            self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout(until))
        self.hook.wait_for_cluster_deleted(**where, timeout=self.timeout)
        return self._deleted(where, usage)

    def _other_runs_jobs(self, context: Context, where: dict[str, str]) -> list[str]:
        """Return the jobs of other runs (or of anything but this provider) pending or running on the cluster,
        each as ``job_id (state, whose)``."""
        own = context_run_key(context)
        return [
            f"{job.job_id} ({job.state}, {describe_run(job.labels)})"
            for job in self.hook.list_active_jobs(**where)
            if job.labels.get(defaults.RUN_KEY_LABEL) != own
        ]

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish once the deferred wait for the deletion ended."""
        self.use_cluster_name(context)
        if event["status"] != "success":
            raise ClusterError(self.cluster_name, event["state"], event["message"])
        where = {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}
        return self._deleted(where, self._kept_usage(context) if self.report_cost else None)

    def _deleted(self, where: dict[str, str], usage: ClusterUsage | None) -> dict[str, Any]:
        self.log.info("Cluster %s is deleted", self.cluster_name)
        result: dict[str, Any] = {**where, "deleted": True}
        if usage is not None:
            result["cost"] = self._cost(usage)
        return result

    def _read_usage(self, where: dict[str, str]) -> ClusterUsage | None:
        """Read the cluster's nodes and creation time for the cost line; None if that fails."""
        try:
            return self.hook.get_cluster_usage(**where)
        except Exception as err:  # the cost line only informs; never let it stop a deletion
            self.log.warning("Cannot read cluster %s for its cost line: %s", self.cluster_name, err)
            return None

    def _kept_usage(self, context: Context) -> ClusterUsage | None:
        """Return the usage :meth:`execute` kept in XCom before it deferred."""
        from airflow_dask_provider.cost import ClusterUsage

        try:
            data = context["ti"].xcom_pull(task_ids=self.task_id, key=USAGE_XCOM_KEY)
            return ClusterUsage.from_dict(data) if data else None
        except Exception as err:  # likewise: a lost usage costs the line, not the deletion
            self.log.warning("Cannot read the usage of cluster %s kept before deferring: %s", self.cluster_name, err)
            return None

    def _cost(self, usage: ClusterUsage) -> dict[str, Any] | None:
        """Log and return the cost line of a cluster that is gone now."""
        from airflow_dask_provider import cost

        try:
            table = cost.merged_table(config.price_table_override(), self.price_table)
            estimate = cost.estimate(usage, ended_at=time.time(), price_table=table)
        except Exception as err:  # likewise: a bad price table costs the line, not the deletion
            self.log.warning("Cannot estimate the cost of cluster %s: %s", self.cluster_name, err)
            return None
        self.log.info("%s", estimate["message"])
        return estimate
