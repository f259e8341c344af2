"""Hook calls that tell whether a Dask cluster is busy: its scheduler's own idle signal, and its jobs.

**The signal.** A Dask scheduler runs ``Scheduler.check_idle`` every 250 ms: it returns
``idle_since`` (seconds since the epoch, on the scheduler's clock) when no task is processing,
queued or unrunnable and no graph is being submitted, else None, and any task transition resets
it. So a notebook or a ``distributed.Client`` computing with no Dataproc job counts as busy, and a
client that is connected but computes nothing does not.

**How it is read.** Over HTTP beside the dashboard, like the progress lines
(:meth:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook.get_dask_progress`): on Google Cloud
through Component Gateway with the connection's credentials, so a private-IP cluster works and the
scheduler's port is never opened to Airflow. distributed serves ``check_idle`` at
``/api/v1/check_idle`` when the scheduler's ``distributed.scheduler.http.routes`` include
``distributed.http.scheduler.api`` (not among the defaults); the emulator's schedulers enable it.
Where it answers 404, the scheduler's Prometheus page (always served) is the fallback: the cluster
is busy while tasks are processing, queued, waiting or without a worker, and the quiet time counts
from the first look that found none (so short bursts between two looks can be missed). The
scheduler's comm port (``check_idle`` RPC) is never used: it is not reachable from Composer on a
private-IP cluster.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.hooks.resources import dask_progress, metrics_url

if TYPE_CHECKING:
    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook


@dataclasses.dataclass(frozen=True)
class DaskIdleness:
    """What one look at a cluster found.

    ``busy`` is True while Dask tasks are processing or queued, or a Dataproc job is active.
    ``idle_since`` is the scheduler's own ``idle_since`` (None when busy, or when only the Prometheus
    fallback answered). ``source`` is ``check_idle`` or ``metrics``.
    """

    busy: bool
    idle_since: float | None
    source: str
    pending_tasks: int = 0
    active_jobs: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-safe dict."""
        return dataclasses.asdict(self)


def check_idle_url(dashboard_url: str) -> str:
    """Return the URL of the scheduler's ``check_idle`` route beside its dashboard's status page."""
    base = dashboard_url.rsplit("/status", 1)[0] if dashboard_url.endswith("/status") else dashboard_url.rstrip("/")
    return f"{base}{defaults.CHECK_IDLE_PATH}"


def _get(hook: DaskDataprocHook, url: str, timeout: float) -> Any:
    if hook.emulator_host:
        import requests

        return requests.get(url, timeout=timeout)
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(hook.get_credentials()).get(url, timeout=timeout)


def get_scheduler_idleness(hook: DaskDataprocHook, *, dashboard_url: str, timeout: float = 10.0) -> DaskIdleness:
    """Return whether the cluster's Dask scheduler is busy, and since when it is idle if it says so."""
    response = _get(hook, check_idle_url(dashboard_url), timeout)
    if response.status_code == 404:
        response = _get(hook, metrics_url(dashboard_url), timeout)
        response.raise_for_status()
        progress = dask_progress(response.text)
        pending = progress.total - progress.done
        return DaskIdleness(busy=pending > 0, idle_since=None, source="metrics", pending_tasks=pending)
    response.raise_for_status()
    idle_since = response.json().get("idle_since")
    return DaskIdleness(
        busy=idle_since is None,
        idle_since=float(idle_since) if idle_since is not None else None,
        source="check_idle",
    )


def count_active_jobs(hook: DaskDataprocHook, *, project_id: str, region: str, cluster_name: str) -> int:
    """Return how many Dataproc jobs are pending or running on the cluster."""
    return len(hook.list_active_jobs(project_id=project_id, region=region, cluster_name=cluster_name))


def get_cluster_idleness(
    hook: DaskDataprocHook,
    *,
    project_id: str,
    region: str,
    cluster_name: str,
    dashboard_url: str,
    consider_jobs: bool = True,
) -> DaskIdleness:
    """Return the scheduler's idleness, counting an active Dataproc job as busy when ``consider_jobs``.

    A job's driver can be busy without Dask tasks (reading input, a pandas step), so by default a
    cluster with an active job is busy whatever its scheduler says.
    """
    idleness = get_scheduler_idleness(hook, dashboard_url=dashboard_url)
    if not consider_jobs:
        return idleness
    active = count_active_jobs(hook, project_id=project_id, region=region, cluster_name=cluster_name)
    if not active:
        return idleness
    return dataclasses.replace(idleness, busy=True, idle_since=None, active_jobs=active)
