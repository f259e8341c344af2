"""Plain-data views of Dataproc clusters and jobs, as the hook returns them.

The functions here read protobuf messages; nothing here talks to the network.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_dask_provider import defaults
from airflow_dask_provider.states import JOB_FINAL_STATES

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import Cluster, Job



@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """What the provider needs to know of a cluster."""

    project_id: str
    region: str
    cluster_name: str
    cluster_uuid: str
    state: str
    detail: str
    config_bucket: str
    scheduler_address: str | None
    dashboard_url: str | None
    labels: dict[str, str]
    #: The Dask runtime the nodes run (their ``dask-runtime`` metadata): ``standalone`` or ``yarn``.
    dask_runtime: str = defaults.DASK_RUNTIME
    #: gs:// URI of the cluster's Dask TLS credential (its ``dask-tls-uri`` metadata), or None for a
    #: cluster without one. The URI only: the credential itself is never part of this record.
    tls_credential_uri: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-safe dict (what operators push to XCom)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """What the provider needs to know of a job."""

    project_id: str
    region: str
    job_id: str
    cluster_name: str
    state: str
    detail: str
    driver_output_uri: str
    submitted_now: bool = False
    labels: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Whether the job has ended, successfully or not."""
        return self.state in JOB_FINAL_STATES

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-safe dict (what operators push to XCom)."""
        return dataclasses.asdict(self)


def dashboard_url(http_ports: dict[str, str]) -> str | None:
    """Derive the Dask dashboard URL from Component Gateway's URLs.

    Component Gateway serves every web UI of a cluster from one host, and the Dask initialization
    action adds a route for the dashboard under it; no ``http_ports`` key is guaranteed to name Dask,
    so the host of any of them will do.
    """
    for url in sorted(http_ports.values()):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}{defaults.DASHBOARD_GATEWAY_PATH}"
    return None


def scheduler_address(cluster: Cluster) -> str | None:
    """Return the Dask scheduler's address: the master node, unless the metadata names another host.

    ``tls://`` for a cluster with a TLS credential (every cluster the create operator makes),
    ``tcp://`` for one without.
    """
    metadata = cluster.config.gce_cluster_config.metadata
    masters = list(cluster.config.master_config.instance_names)
    host = metadata.get(defaults.SCHEDULER_HOST_METADATA_KEY) or (masters[0] if masters else None)
    if not host:
        return None
    port = metadata.get(defaults.SCHEDULER_PORT_METADATA_KEY) or defaults.SCHEDULER_PORT
    protocol = "tls" if tls_credential_uri(cluster) else "tcp"
    return f"{protocol}://{host}:{port}"


def tls_credential_uri(cluster: Cluster) -> str | None:
    """Return the gs:// URI of the cluster's Dask TLS credential, or None when it has none."""
    return cluster.config.gce_cluster_config.metadata.get(defaults.TLS_URI_METADATA_KEY) or None


def cluster_info(cluster: Cluster, *, project_id: str, region: str) -> ClusterInfo:
    """Read a ``Cluster`` message into a :class:`ClusterInfo`."""
    return ClusterInfo(
        project_id=project_id,
        region=region,
        cluster_name=cluster.cluster_name,
        cluster_uuid=cluster.cluster_uuid,
        state=cluster.status.state.name,
        detail=cluster.status.detail,
        config_bucket=cluster.config.config_bucket,
        scheduler_address=scheduler_address(cluster),
        dashboard_url=dashboard_url(dict(cluster.config.endpoint_config.http_ports)),
        labels=dict(cluster.labels),
        dask_runtime=cluster.config.gce_cluster_config.metadata.get(
            defaults.DASK_RUNTIME_METADATA_KEY, defaults.DASK_RUNTIME
        ),
        tls_credential_uri=tls_credential_uri(cluster),
    )


def job_info(job: Job, *, project_id: str, region: str, submitted_now: bool = False) -> JobInfo:
    """Read a ``Job`` message into a :class:`JobInfo`."""
    return JobInfo(
        project_id=project_id,
        region=region,
        job_id=job.reference.job_id,
        cluster_name=job.placement.cluster_name,
        state=job.status.state.name,
        detail=job.status.details,
        driver_output_uri=job.driver_output_resource_uri,
        submitted_now=submitted_now,
        labels=dict(job.labels),
    )


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


def metrics_url(dashboard: str) -> str:
    """Return the URL of the scheduler's Prometheus page beside its dashboard's status page."""
    base = dashboard.rsplit("/status", 1)[0] if dashboard.endswith("/status") else dashboard.rstrip("/")
    return f"{base}/metrics"
