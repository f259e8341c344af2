"""What one look at a cluster or a job means: pure checks shared by the sensors, their triggers and the hook's waits.

A sensor's ``poke`` and its trigger's ``run`` loop read the same plain data through the hook (a
:class:`~airflow_dask_provider.hooks.resources.ClusterInfo`, a
:class:`~airflow_dask_provider.hooks.resources.JobInfo`, a scheduler's idleness as a dict) and ask a
function here what it means, so both modes reach the same verdict with the same message. Nothing here
does I/O or reads the clock: ``now`` is an argument, and a test needs no cluster.

Each check returns a :class:`Verdict`: ``success`` or ``failed`` (the wait is over) or ``waiting``. The
sensor returns on success, raises on failure and logs the message while waiting; the trigger turns a
verdict that is done into its one event and pauses while waiting.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import JobError
from airflow_dask_provider.states import CLUSTER_SERVING_STATES, DELETED, DONE, ERROR, JOB_FAILED_STATES

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.resources import ClusterInfo, JobInfo

SUCCESS = "success"
FAILED = "failed"
WAITING = "waiting"

#: Why a cluster cannot be watched for idleness: its scheduler is reached only beside the dashboard.
NO_DASHBOARD = "Cluster {} has no Dask dashboard URL (Component Gateway is off), so its scheduler cannot be asked"

#: A Python traceback's first line, and the line naming its exception: ``module.Type: message``.
_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a look found: whether the wait is over and how, the state, and what to tell the user.

    :param status: ``success`` or ``failed`` (done), or ``waiting``; a trigger's event status when done.
    :param state: the resource's state (``DELETED`` when it does not exist).
    :param message: the line a sensor logs while waiting, or a trigger's event message once done.
    :param detail: why it failed, as a sensor's error puts it (Dataproc's status detail).
    :param facts: JSON-safe values the wait reports on success (the idle check's ``idle_since``, ...).
    """

    status: str
    state: str
    message: str
    detail: str = ""
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Whether the wait is over, successfully or not."""
        return self.status != WAITING


def with_detail(message: str, detail: str) -> str:
    """Return ``message``, followed by ``: detail`` when there is one."""
    return f"{message}: {detail}" if detail else message


# -- clusters ----------------------------------------------------------------------------------------


def cluster_state_of(info: ClusterInfo | None) -> str:
    """Return a cluster's state; ``DELETED`` when it does not exist."""
    return info.state if info is not None else DELETED


def cluster_verdict(
    info: ClusterInfo | None, *, cluster_name: str, target_states: Collection[str], failure_states: Collection[str] = ()
) -> Verdict:
    """Return whether a cluster reached one of ``target_states`` (success) or ``failure_states`` (failed).

    ``DELETED`` in either stands for "does not exist". A target state wins over a failure state.
    """
    state = cluster_state_of(info)
    if state in target_states:
        return Verdict(SUCCESS, state, f"Cluster {cluster_name} is {state}")
    detail = info.detail if info is not None else ""
    if state in failure_states:
        return Verdict(FAILED, state, with_detail(f"Cluster {cluster_name} is {state}", detail), detail)
    return Verdict(WAITING, state, f"Cluster {cluster_name} is {state}; waiting for {' or '.join(target_states)}")


# -- jobs --------------------------------------------------------------------------------------------


def job_verdict(info: JobInfo | None, *, job_id: str) -> Verdict:
    """Return whether a job ended: success when DONE, failed in ERROR or CANCELLED or when it does not exist."""
    if info is None:
        return Verdict(FAILED, DELETED, f"Job {job_id} does not exist (deleted?)")
    if info.state == DONE:
        return Verdict(SUCCESS, info.state, f"Job {job_id} is {info.state}")
    if info.state in JOB_FAILED_STATES:
        return Verdict(FAILED, info.state, with_detail(f"Job {job_id} is {info.state}", info.detail), info.detail)
    return Verdict(WAITING, info.state, f"Dask job {job_id} is {info.state}")


def job_failure(job: JobInfo, output: str) -> JobError:
    """Return the error of a job that ended other than DONE, from the end of its driver output.

    Its first line is the exception that failed the job (:func:`failure_cause`), followed by the last
    driver lines (the driver's own marker line left out).
    """
    from airflow_dask_provider.driver import ERROR_MARKER  # the driver's module is read only when a job failed

    lines = [line for line in output.splitlines() if not line.startswith(ERROR_MARKER)]
    tail = "\n".join(lines[-defaults.DRIVER_TAIL_LINES :])
    return JobError(job.job_id, job.state, job.detail, tail, cause=failure_cause(output))


def failure_cause(output: str) -> str:
    """Return the exception that failed a job, ``Type: message``, from its driver output ('' if none is found).

    The provider's driver names it on its last line (:data:`airflow_dask_provider.driver.ERROR_MARKER`);
    without the driver (``check_versions=False``), it is the exception line of the last Python traceback
    in the output: its first line that is not indented (notes that follow it, such as the URL distributed
    adds to a ``ModuleNotFoundError``, are not taken).
    """
    from airflow_dask_provider.driver import ERROR_MARKER

    lines = output.splitlines()
    for line in reversed(lines):
        if line.startswith(ERROR_MARKER):
            return line[len(ERROR_MARKER) :].strip()
    starts = [index for index, line in enumerate(lines) if line.startswith(_TRACEBACK)]
    if not starts:
        return ""
    for line in lines[starts[-1] + 1 :]:
        if line.strip() and not line[0].isspace():
            return line.strip() if _EXCEPTION_LINE.match(line) else ""
    return ""


# -- idle clusters -----------------------------------------------------------------------------------


def idle_cluster_verdict(info: ClusterInfo | None, *, cluster_name: str) -> Verdict | None:
    """Return what a cluster watched for idleness is, or None when its Dask scheduler can be asked.

    A cluster that no longer exists ends the watch (success, ``DELETED``); one in ERROR, or serving
    without a dashboard (so its scheduler cannot be reached), fails it; one not yet serving is waited for.
    """
    if info is None:
        return Verdict(SUCCESS, DELETED, f"Cluster {cluster_name} does not exist")
    if info.state == ERROR:
        return Verdict(FAILED, info.state, f"Cluster {cluster_name} is in ERROR: {info.detail}", info.detail)
    if info.state not in CLUSTER_SERVING_STATES:
        return Verdict(WAITING, info.state, f"Cluster {cluster_name} is {info.state}; waiting for its Dask scheduler")
    if not info.dashboard_url:
        reason = NO_DASHBOARD.format(cluster_name)
        return Verdict(FAILED, info.state, reason, reason)
    return None


def idleness_verdict(
    idleness: dict[str, Any],
    *,
    cluster_name: str,
    state: str,
    quiet_period: float,
    observed_quiet_since: float | None,
    now: float,
) -> tuple[Verdict, float | None]:
    """Return whether a cluster has been idle for ``quiet_period`` seconds, and the quiet time to carry on.

    :param idleness: what the scheduler said (:meth:`~airflow_dask_provider.hooks.dask_scheduler.DaskIdleness.as_dict`).
    :param state: the cluster's state, for the verdict.
    :param observed_quiet_since: when an earlier look first found the cluster quiet (the Prometheus fallback).
    :param now: the time of this look, in seconds since the epoch.
    :return: the verdict (on success its facts are ``idle_since``, ``idle_seconds`` and ``source``) and
        the ``observed_quiet_since`` for the next look: None while busy or when the scheduler says since when.
    """
    since = quiet_since(idleness, observed_quiet_since, now)
    observed = since if idleness["idle_since"] is None else None
    if since is None:
        return Verdict(WAITING, state, f"Cluster {cluster_name} is busy ({busy_reason(idleness)})"), observed
    idle = now - since
    if idle < quiet_period:
        message = f"Cluster {cluster_name} has been idle for {idle:.0f}s of {quiet_period:.0f}s"
        return Verdict(WAITING, state, message), observed
    facts = {"idle_since": since, "idle_seconds": idle, "source": idleness["source"]}
    return Verdict(SUCCESS, state, f"Cluster {cluster_name} has been idle for {idle:.0f}s", facts=facts), observed


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
