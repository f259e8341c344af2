"""Plain-data views of Dataproc clusters and jobs, as the hook returns them.

The functions here read protobuf messages; nothing here talks to the network. Operators import this
module when a DAG is parsed, so it imports neither Google's clients nor protobuf.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_dask_provider import defaults
from airflow_dask_provider.labels import parse_expiry
from airflow_dask_provider.states import JOB_FINAL_STATES

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import Cluster, InstanceGroupConfig, Job

    from airflow_dask_provider.cost import ClusterUsage, NodeGroup

_PREEMPTIBILITY = {"NON_PREEMPTIBLE": "standard", "PREEMPTIBLE": "preemptible", "SPOT": "spot"}


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
class LabelledCluster:
    """A cluster found by its labels, with what the reaper and the quotas decide on."""

    project_id: str
    region: str
    cluster_name: str
    cluster_uuid: str
    state: str
    detail: str
    #: When the cluster should be gone (its ``expiry`` label), seconds since the epoch; None without one.
    expiry: float | None
    labels: dict[str, str]
    #: The cluster's config bucket, where its Dask TLS credential is kept.
    config_bucket: str = ""
    #: gs:// URI of the cluster's Dask TLS credential (its ``dask-tls-uri`` metadata); None without one.
    tls_credential_uri: str | None = None
    #: Secondary (preemptible or spot) workers: the larger of the configured and the existing count.
    secondary_workers: int = 0


@dataclasses.dataclass(frozen=True)
class WorkerGroups:
    """A cluster's state, scheduler and worker nodes, as the scaler needs them."""

    cluster_name: str
    state: str
    scheduler_address: str | None
    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    secondary_target: int
    #: gs:// URI of the cluster's Dask TLS credential, or None for a cluster without one.
    tls_credential_uri: str | None = None


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
        **_identity(cluster, project_id=project_id, region=region),
        scheduler_address=scheduler_address(cluster),
        dashboard_url=dashboard_url(dict(cluster.config.endpoint_config.http_ports)),
        dask_runtime=cluster.config.gce_cluster_config.metadata.get(
            defaults.DASK_RUNTIME_METADATA_KEY, defaults.DASK_RUNTIME
        ),
    )


def _identity(cluster: Cluster, *, project_id: str, region: str) -> dict[str, Any]:
    """Return what every plain-data view of a ``Cluster`` message reads alike: where and which it is, its
    state, labels, config bucket and credential URI."""
    return {
        "project_id": project_id,
        "region": region,
        "cluster_name": cluster.cluster_name,
        "cluster_uuid": cluster.cluster_uuid,
        "state": cluster.status.state.name,
        "detail": cluster.status.detail,
        "labels": dict(cluster.labels),
        "config_bucket": cluster.config.config_bucket,
        "tls_credential_uri": tls_credential_uri(cluster),
    }


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


def labelled_cluster(cluster: Cluster, *, project_id: str, region: str) -> LabelledCluster:
    """Read a ``Cluster`` message into a :class:`LabelledCluster`."""
    secondary = cluster.config.secondary_worker_config
    return LabelledCluster(
        **_identity(cluster, project_id=project_id, region=region),
        expiry=parse_expiry(cluster.labels.get(defaults.EXPIRY_LABEL)),
        secondary_workers=max(secondary.num_instances, len(secondary.instance_names)),
    )


def worker_groups(cluster: Cluster) -> WorkerGroups:
    """Read a ``Cluster`` message into a :class:`WorkerGroups`."""
    config = cluster.config
    return WorkerGroups(
        cluster_name=cluster.cluster_name,
        state=cluster.status.state.name,
        scheduler_address=scheduler_address(cluster),
        primary=tuple(config.worker_config.instance_names),
        secondary=tuple(config.secondary_worker_config.instance_names),
        secondary_target=config.secondary_worker_config.num_instances,
        tls_credential_uri=tls_credential_uri(cluster),
    )


def _group(role: str, config: InstanceGroupConfig, *, secondary: bool) -> NodeGroup:
    from airflow_dask_provider.cost import NodeGroup  # the cost line is read only at a deletion

    preemptibility = config.preemptibility.name if config.preemptibility else ""
    if not preemptibility or preemptibility == "PREEMPTIBILITY_UNSPECIFIED":
        preemptibility = "PREEMPTIBLE" if secondary else "NON_PREEMPTIBLE"
    disk = config.disk_config
    return NodeGroup(
        role=role,
        machine_type=config.machine_type_uri.rsplit("/", 1)[-1],
        count=len(config.instance_names) or config.num_instances,
        preemptibility=_PREEMPTIBILITY.get(preemptibility, preemptibility.lower()),
        boot_disk_type=disk.boot_disk_type or "pd-standard",
        boot_disk_size_gb=disk.boot_disk_size_gb or 500,
        num_local_ssds=disk.num_local_ssds,
    )


def cluster_usage(cluster: Cluster) -> ClusterUsage:
    """Read a ``Cluster`` message into a :class:`~airflow_dask_provider.cost.ClusterUsage`.

    The creation time is the start of the cluster's first status (CREATING). Dataproc's defaults
    fill what the message leaves empty: a 500 GB pd-standard boot disk, preemptible secondaries.
    """
    from airflow_dask_provider.cost import ClusterUsage

    history = list(cluster.status_history)
    first = history[0] if history else cluster.status
    config = cluster.config
    groups = [_group("master", config.master_config, secondary=False)]
    groups.append(_group("worker", config.worker_config, secondary=False))
    if config.secondary_worker_config.num_instances or config.secondary_worker_config.instance_names:
        groups.append(_group("secondary", config.secondary_worker_config, secondary=True))
    return ClusterUsage(
        cluster_name=cluster.cluster_name,
        cluster_uuid=cluster.cluster_uuid,
        created_at=first.state_start_time.timestamp(),
        groups=tuple(group for group in groups if group.count),
    )
