"""What every task of the provider shares, operator or sensor: where it works and as whom, what is known
at DAG parse time, how long a deferred wait may last, and how an ended job finishes a task.

The operators (:mod:`airflow_dask_provider.operators`) and the sensors (:mod:`airflow_dask_provider.sensors`)
import this module; it imports neither.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.states import DONE
from airflow_dask_provider.validation import check_location

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context

    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook
    from airflow_dask_provider.hooks.resources import JobInfo


def is_literal(value: Any) -> bool:
    """Return whether ``value`` is known at DAG parse time: no Jinja template, no XCom reference."""
    if value is None or isinstance(value, (bool, int, float, timedelta)):
        return True
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_literal(v) for v in value)
    return False


class DataprocLocationMixin:
    """The hook, project and trigger arguments of a task that has ``project_id``, ``region``,
    ``gcp_conn_id`` and ``impersonation_chain``: shared by the operators and the sensors.

    Each task class keeps its own ``__init__``: Airflow applies ``default_args`` only to an
    ``__init__`` the ``BaseOperator`` subclass defines itself.
    """

    project_id: str | None
    region: str
    cluster_name: str | None
    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None

    @cached_property
    def hook(self) -> DaskDataprocHook:
        """Return the hook; built on first use, never at DAG parse time."""
        from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

        return DaskDataprocHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)

    @property
    def resolved_project_id(self) -> str:
        """Return the project to work in: the operator's, else the connection's; the first thing every
        task asks before it calls an API, so a bad ``region`` or ``project_id`` fails here."""
        check_location(region=self.region, project_id=self.project_id)
        return self.project_id or self.hook.project_id

    def check_literal_location(self) -> None:
        """Check ``region`` and ``project_id`` at DAG parse time when they hold no template."""
        if is_literal(self.region) and is_literal(self.project_id):
            check_location(region=self.region, project_id=self.project_id)

    def use_cluster_name(self, context: Context) -> str:
        """Return the task's cluster, checked: its ``cluster_name``, or, when it gives none, the name
        derived from the DAG, the run and the task group (:func:`~airflow_dask_provider.labels.derived_cluster_name`),
        which every task of the group in that run derives alike. Called first by ``execute`` and by
        every method a deferred task resumes in."""
        from airflow_dask_provider.cluster_spec import validate_cluster_name
        from airflow_dask_provider.labels import derived_cluster_name

        if not getattr(self, "cluster_name", None):
            self.cluster_name = derived_cluster_name(context)
        return validate_cluster_name(self.cluster_name)

    def trigger_location(self) -> dict[str, Any]:
        """Return the arguments every trigger of the provider takes about where and as whom to look."""
        return {
            "project_id": self.resolved_project_id,
            "region": self.region,
            "gcp_conn_id": self.gcp_conn_id,
            "impersonation_chain": self.impersonation_chain,
        }


def deadline(context: Context, task: BaseOperator, timeout: float | None) -> float:
    """Return when a wait must end, in seconds since the epoch.

    The earliest of ``timeout`` seconds from now and the task's ``execution_timeout`` (a margin
    before it, so that the wait, not Airflow, ends the task and the operator can clean up).
    """
    now = time.time()
    candidates = [now + timeout] if timeout is not None and timeout != float("inf") else []
    start = getattr(context["ti"], "start_date", None)
    if task.execution_timeout is not None and start is not None:
        budget = task.execution_timeout.total_seconds()
        margin = min(defaults.DEFER_TIMEOUT_MARGIN_SECONDS, budget / 10)
        candidates.append(start.timestamp() + budget - margin)
    return min(candidates, default=now + defaults.MAX_DEFER_SECONDS)


def defer_timeout(until: float) -> timedelta:
    """Return Airflow's own limit for a deferral that ends at ``until``: a backstop, a minute later."""
    return timedelta(seconds=max(until - time.time(), 0) + 60)


def job_result(hook: DaskDataprocHook, job: JobInfo, log: Any) -> dict[str, Any]:
    """Return an ended job as XCom data, or raise its :class:`~airflow_dask_provider.exceptions.JobError`
    (:func:`~airflow_dask_provider.checks.job_failure`), built from the end of its driver output."""
    if job.state != DONE:
        from airflow_dask_provider.checks import job_failure  # read when a job failed, not at DAG parse time

        raise job_failure(
            job, hook.driver_output_tail(driver_output_uri=job.driver_output_uri, lines=defaults.DRIVER_CAUSE_LINES)
        )
    log.info("Dask job %s is DONE", job.job_id)
    return job.as_dict()
