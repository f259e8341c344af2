"""The hook through which every call to a Dask scheduler goes: its progress, its idle signal, its client.

**Over HTTP, beside the dashboard** (progress and the idle signal): on Google Cloud through Component
Gateway with the Dataproc hook's credentials (an OAuth bearer token), the same way a browser reaches
the dashboard; the scheduler's port itself is never contacted, so private-IP clusters work from
Composer. On the emulator the dashboard is the scheduler's own, on loopback.

**The idle signal.** A Dask scheduler runs ``Scheduler.check_idle`` every 250 ms: it returns
``idle_since`` (seconds since the epoch, on the scheduler's clock) when no task is processing,
queued or unrunnable and no graph is being submitted, else None, and any task transition resets
it. So a notebook or a ``distributed.Client`` computing with no Dataproc job counts as busy, and a
client that is connected but computes nothing does not. distributed serves ``check_idle`` at
``/api/v1/check_idle`` when the scheduler's ``distributed.scheduler.http.routes`` include
``distributed.http.scheduler.api`` (not among the defaults); the emulator's schedulers enable it.
Where it answers 404, the scheduler's Prometheus page (always served) is the fallback: the cluster
is busy while tasks are processing, queued, waiting or without a worker, and the quiet time counts
from the first look that found none (so short bursts between two looks can be missed). The
scheduler's comm port (``check_idle`` RPC) is never used for it: it is not reachable from Composer on
a private-IP cluster.

**Through a** ``distributed.Client`` (the scheduler's load, retiring workers): the Dask-aware
autoscaler's calls, which need the ``dask`` extra and a route to the scheduler's comm port, with
the cluster's TLS credential when it has one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.optional import import_extra

if TYPE_CHECKING:
    from distributed import Client
    from distributed.security import Security

    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

#: Seconds to wait for a connection to a Dask scheduler.
SCHEDULER_CONNECT_TIMEOUT_SECONDS = defaults.SCHEDULER_CONNECT_TIMEOUT_SECONDS
#: Seconds each HTTP request to a scheduler's pages may take.
HTTP_TIMEOUT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class DaskProgress:
    """How far the work on a Dask scheduler has got, read from the scheduler's Prometheus metrics.

    ``done`` counts tasks that finished (in memory, erred or already forgotten); ``total`` adds the
    tasks still processing, queued or waiting. ``memory_bytes`` is the size of the results the
    workers hold.
    """

    done: int
    total: int
    processing: int
    erred: int
    workers: int
    memory_bytes: int

    def describe(self) -> str:
        """Return the progress as one log line."""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return (
            f"Dask progress: {self.done}/{self.total} tasks done{share}, {self.processing} processing, "
            f"{self.erred} erred; {self.workers} workers; {_human_bytes(self.memory_bytes)} in memory"
        )


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


@dataclasses.dataclass(frozen=True)
class SchedulerLoad:
    """What a Dask scheduler reports of its load and its workers.

    ``workers`` holds one dict per worker with ``address``, ``name``, ``host``, ``nthreads`` and
    ``processing`` (tasks assigned to it).
    """

    adaptive_target: int
    queued: int
    processing: int
    workers: tuple[dict[str, Any], ...]


def _human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def dask_progress(metrics_text: str) -> DaskProgress:
    """Read a :class:`DaskProgress` from the text of the scheduler's ``/metrics`` page."""
    from prometheus_client.parser import text_string_to_metric_families

    tasks: dict[str, float] = {}
    forgotten = workers = memory = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "dask_scheduler_tasks":
                tasks[sample.labels.get("state", "")] = sample.value
            elif sample.name == "dask_scheduler_tasks_forgotten_total":
                forgotten = sample.value
            elif sample.name == "dask_scheduler_workers":
                workers += sample.value
            elif sample.name == "dask_scheduler_tasks_output_bytes":
                memory += sample.value
    if not tasks:
        raise ValueError("the page has no dask_scheduler_tasks metric; is it a Dask scheduler's /metrics?")
    done = tasks.get("memory", 0) + tasks.get("erred", 0) + forgotten
    pending = sum(tasks.get(state, 0) for state in ("processing", "queued", "waiting", "no-worker"))
    return DaskProgress(
        done=int(done),
        total=int(done + pending),
        processing=int(tasks.get("processing", 0)),
        erred=int(tasks.get("erred", 0)),
        workers=int(workers),
        memory_bytes=int(memory),
    )


def _beside_dashboard(dashboard_url: str, path: str) -> str:
    base = dashboard_url.rsplit("/status", 1)[0] if dashboard_url.endswith("/status") else dashboard_url.rstrip("/")
    return f"{base}{path}"


def metrics_url(dashboard_url: str) -> str:
    """Return the URL of the scheduler's Prometheus page beside its dashboard's status page."""
    return _beside_dashboard(dashboard_url, "/metrics")


def check_idle_url(dashboard_url: str) -> str:
    """Return the URL of the scheduler's ``check_idle`` route beside its dashboard's status page."""
    return _beside_dashboard(dashboard_url, defaults.CHECK_IDLE_PATH)


class DaskSchedulerHook:
    """Talk to a cluster's Dask scheduler: read its progress and idle signal, get its load, retire workers.

    Reached as :attr:`DaskDataprocHook.dask_scheduler
    <airflow_dask_provider.hooks.dataproc.DaskDataprocHook.dask_scheduler>`, whose credentials, emulator
    switch and Cloud Storage (for the cluster's TLS credential) it uses. Every method takes keyword
    arguments and returns plain data. Call :meth:`close` to close the ``distributed`` clients it opened.

    :param dataproc: the Dataproc hook of the cluster's connection.
    """

    def __init__(self, dataproc: DaskDataprocHook) -> None:
        self.dataproc = dataproc
        self._clients: dict[str, Client] = {}

    # -- over HTTP, beside the dashboard ---------------------------------------------------------

    def _get(self, url: str, timeout: float) -> Any:
        """Return the answer to an HTTP GET: with the connection's credentials on Google Cloud, plain on the emulator."""
        if self.dataproc.emulator_host:
            import requests

            return requests.get(url, timeout=timeout)
        from google.auth.transport.requests import AuthorizedSession

        return AuthorizedSession(self.dataproc.get_credentials()).get(url, timeout=timeout)

    def get_progress(self, *, dashboard_url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> DaskProgress:
        """Return the scheduler's progress, read from its Prometheus page beside the dashboard."""
        response = self._get(metrics_url(dashboard_url), timeout)
        response.raise_for_status()
        return dask_progress(response.text)

    def get_idleness(self, *, dashboard_url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> DaskIdleness:
        """Return whether the cluster's Dask scheduler is busy, and since when it is idle if it says so."""
        response = self._get(check_idle_url(dashboard_url), timeout)
        if response.status_code == 404:
            response = self._get(metrics_url(dashboard_url), timeout)
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

    def get_cluster_idleness(
        self,
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
        idleness = self.get_idleness(dashboard_url=dashboard_url)
        if not consider_jobs:
            return idleness
        active = self.dataproc.count_active_jobs(project_id=project_id, region=region, cluster_name=cluster_name)
        if not active:
            return idleness
        return dataclasses.replace(idleness, busy=True, idle_since=None, active_jobs=active)

    # -- through a distributed.Client ------------------------------------------------------------

    def get_security(self, *, tls_credential_uri: str | None) -> Security | None:
        """Return the ``distributed.Security`` that a client of the cluster needs, or None without TLS."""
        if not tls_credential_uri:
            return None
        from airflow_dask_provider.tls import security

        return security(self.dataproc.read_dask_credential(uri=tls_credential_uri))

    def client(self, *, scheduler_address: str, tls_credential_uri: str | None = None) -> Client:
        """Return a connected client of the scheduler (kept for later calls), with the cluster's credential."""
        client = self._clients.get(scheduler_address)
        if client is None or client.status not in ("running", "connecting", "newly-created"):
            client_class = import_extra("distributed", extra="dask", feature="The Dask-aware autoscaler").Client
            client = client_class(
                scheduler_address,
                timeout=SCHEDULER_CONNECT_TIMEOUT_SECONDS,
                set_as_default=False,
                security=self.get_security(tls_credential_uri=tls_credential_uri),
            )
            self._clients[scheduler_address] = client
        return client

    def get_load(
        self,
        *,
        scheduler_address: str,
        target_duration: float | None = None,
        tls_credential_uri: str | None = None,
    ) -> SchedulerLoad:
        """Return the scheduler's ``adaptive_target()``, its queue and its workers.

        :param tls_credential_uri: the cluster's Dask TLS credential (see :mod:`airflow_dask_provider.tls`).
        """

        # Defined here, not at module level, so that it is pickled by value: the scheduler's
        # environment does not have this package.
        def read_load(dask_scheduler: Any, target_duration: float | None = None) -> dict[str, Any]:
            workers = [
                {
                    "address": ws.address,
                    "name": str(ws.name),
                    "host": ws.host,
                    "nthreads": ws.nthreads,
                    "processing": len(ws.processing),
                }
                for ws in dask_scheduler.workers.values()
            ]
            return {
                "adaptive_target": dask_scheduler.adaptive_target(target_duration=target_duration),
                "queued": len(dask_scheduler.queued) + len(dask_scheduler.unrunnable),
                "processing": sum(worker["processing"] for worker in workers),
                "workers": workers,
            }

        client = self.client(scheduler_address=scheduler_address, tls_credential_uri=tls_credential_uri)
        load = client.run_on_scheduler(read_load, target_duration=target_duration)
        return SchedulerLoad(
            adaptive_target=int(load["adaptive_target"]),
            queued=int(load["queued"]),
            processing=int(load["processing"]),
            workers=tuple(load["workers"]),
        )

    def retire_workers(
        self, *, scheduler_address: str, addresses: Sequence[str], tls_credential_uri: str | None = None
    ) -> list[str]:
        """Retire workers: the scheduler moves their data to the others, then closes them.

        Return the addresses of the workers retired.
        """
        if not addresses:
            return []
        client = self.client(scheduler_address=scheduler_address, tls_credential_uri=tls_credential_uri)
        retired = client.retire_workers(workers=list(addresses), close_workers=True)
        return sorted(retired)

    def close(self) -> None:
        """Close the connections to Dask schedulers."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()
