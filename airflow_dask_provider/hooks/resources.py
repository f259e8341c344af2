"""Plain-data views of Dataproc clusters and jobs, as the hook returns them.

The functions here read protobuf messages; nothing here talks to the network.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_dask_provider import defaults

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import Cluster, Job

#: Cluster states in which Dataproc is still changing the cluster.
CLUSTER_TRANSIENT_STATES = frozenset({"CREATING", "UPDATING", "DELETING", "STARTING", "STOPPING", "REPAIRING"})
#: Job states after which the job never runs again.
JOB_FINAL_STATES = frozenset({"DONE", "ERROR", "CANCELLED"})


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
    """Return the Dask scheduler's address: the master node, unless the metadata names another host."""
    metadata = cluster.config.gce_cluster_config.metadata
    masters = list(cluster.config.master_config.instance_names)
    host = metadata.get(defaults.SCHEDULER_HOST_METADATA_KEY) or (masters[0] if masters else None)
    if not host:
        return None
    port = metadata.get(defaults.SCHEDULER_PORT_METADATA_KEY) or defaults.SCHEDULER_PORT
    return f"tcp://{host}:{port}"


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
    )
