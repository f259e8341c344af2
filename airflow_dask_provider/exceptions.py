"""Exceptions raised by the provider.

Each class says what went wrong in terms a DAG author acts on; callers catch these, never message text.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AirflowNotFoundException

from airflow_dask_provider import defaults


class DaskDataprocError(AirflowException):
    """Base class of every error this provider raises."""


class InvalidValueError(DaskDataprocError, AirflowFailException):
    """A value is missing or refused before any API call; never retried, since a retry would meet it again.

    The message names the field, the value and what is allowed: ``Invalid FIELD=VALUE: ALLOWED.``

    :param field: the parameter or option, such as ``num_workers`` or ``[dask_dataproc] max_idle_delete_ttl``.
    :param value: the value given (None when it is missing).
    :param allowed: what is allowed, or what to set.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"Invalid {field}={value!r}: {allowed}.")


class ClusterSpecError(InvalidValueError, ValueError):
    """A cluster or job parameter of a task is invalid (a :class:`ValueError` too)."""


class ConfigurationError(InvalidValueError):
    """What the provider's setup must give is missing or unusable, for the administrator to fix: a value of
    Airflow's ``[dask_dataproc]`` section, a project in the connection, a bucket to stage files in (given,
    configured or one the connection may create)."""


class MissingExtraError(DaskDataprocError, ImportError):
    """A feature needs a library of one of the provider's extras that is not installed; the message names the extra."""


class ClusterError(DaskDataprocError):
    """A cluster did not reach a usable state."""

    def __init__(self, cluster_name: str, state: str, detail: str = "") -> None:
        self.cluster_name = cluster_name
        self.state = state
        self.detail = detail
        message = f"Cluster {cluster_name} is in state {state}"
        super().__init__(f"{message}: {detail}" if detail else message)


class JobError(DaskDataprocError):
    """A Dask job ended in a state other than DONE.

    :param job_id: the job.
    :param state: its final state.
    :param detail: Dataproc's status detail.
    :param driver_tail: the last lines of the driver output.
    :param cause: the exception that failed the job's script, ``Type: message`` as the driver saw it
        (see :func:`airflow_dask_provider.checks.failure_cause`); the error's first line.
    """

    def __init__(self, job_id: str, state: str, detail: str = "", driver_tail: str = "", *, cause: str = "") -> None:
        self.job_id = job_id
        self.state = state
        self.detail = detail
        self.driver_tail = driver_tail
        self.cause = cause
        parts = [cause] if cause else []
        parts.append(f"Dask job {job_id} ended in state {state}")
        if detail:
            parts.append(f"Dataproc says: {detail.strip()}")
        if driver_tail:
            parts.append(f"Last driver output lines:\n{driver_tail.rstrip()}")
        super().__init__("\n".join(parts))


class NoWorkersError(JobError):
    """A running job's cluster had no Dask worker for ``no_worker_timeout`` seconds, so the job was cancelled.

    :param job_id: the job.
    :param reason: which cluster, for how long, and where to look (see
        :meth:`airflow_dask_provider.monitoring.JobLogFollower.lost_workers`).
    """

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        self.state = "CANCELLED"
        self.detail = reason
        self.driver_tail = ""
        self.cause = ""
        DaskDataprocError.__init__(self, f"Dask job {job_id} is cancelled. {reason}")


class ConnectionNotFoundError(DaskDataprocError, AirflowNotFoundException):
    """The hook's connection is not defined and no emulator is configured: say how to configure either.

    An :class:`AirflowNotFoundException` too, as Airflow's own error for a missing connection is.

    :param conn_id: the connection the hook was given (``gcp_conn_id``).
    :param emulator_env: the environment variable that points the provider at an emulator.
    """

    def __init__(self, conn_id: str, emulator_env: str) -> None:
        self.conn_id = conn_id
        super().__init__(
            f"The conn_id {conn_id!r} isn't defined and {emulator_env} is not set. For Google Cloud, create a "
            f"Google Cloud connection {conn_id!r} (`airflow connections add {conn_id} --conn-type "
            'google_cloud_platform --conn-extra \'{"project": "my-project"}\'`, with Application Default '
            "Credentials or a key in the extra) or give the task's gcp_conn_id; for the local Dataproc emulator, "
            f"start it (`make emulator`) and set {emulator_env}={defaults.LOCAL_EMULATOR_HOST}."
        )


class WaitTimeoutError(DaskDataprocError):
    """A resource did not reach the awaited state before the deadline."""

    def __init__(self, what: str, timeout: float, last_state: str) -> None:
        self.what = what
        self.timeout = timeout
        self.last_state = last_state
        super().__init__(f"Timed out after {timeout:.0f}s waiting for {what}; last state {last_state}")


class EndpointUnreachableError(DaskDataprocError):
    """A Dataproc or Cloud Storage endpoint did not answer for longer than ``api_unreachable_timeout``.

    :param endpoint: the emulator's ``host:port``, the regional API endpoint or the storage URL.
    :param call: the API call that gave up, such as ``get_job``.
    :param waited: seconds the endpoint has not answered for.
    :param last_error: the last error of the call.
    """

    def __init__(self, endpoint: str, call: str, waited: float, last_error: BaseException | None) -> None:
        self.endpoint = endpoint
        self.call = call
        self.waited = waited
        self.last_error = last_error
        last = f"{type(last_error).__name__}: {last_error}" if last_error is not None else "none"
        super().__init__(
            f"The endpoint {endpoint} did not answer {call} for {waited:.0f}s "
            f"([dask_dataproc] api_unreachable_timeout); last error: {last}"
        )


class QuotaExceededError(DaskDataprocError, AirflowFailException):
    """A request would take a user over a quota of :mod:`airflow_dask_provider.quotas`; never retried.

    :param user: the user, as written in the clusters' ``owner`` label.
    :param violations: one line per quota exceeded: the limit, the current use and what counts.
    """

    def __init__(self, user: str, violations: list[str]) -> None:
        self.user = user
        self.violations = violations
        super().__init__(f"Quota exceeded for user {user}: " + " ".join(violations))


class ClusterReplacedError(ClusterError):
    """The cluster of that name is no longer the one meant: its uuid changed, as a new cluster took the name.

    Raised by a deletion that names the cluster's uuid (Dataproc refuses it with FAILED_PRECONDITION), so
    the new cluster is left alone.

    :param cluster_name: the cluster.
    :param cluster_uuid: the uuid of the cluster meant.
    """

    def __init__(self, cluster_name: str, cluster_uuid: str) -> None:
        self.cluster_uuid = cluster_uuid
        super().__init__(cluster_name, "REPLACED", f"it is no longer the cluster of uuid {cluster_uuid}")
