"""Hook calls about a cluster's life: what it is made of and since when, and finding the provider's clusters.

Functions that take a :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook` and return plain
data, like the hook's own methods; they live here so the hook's module stays one concept.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.cost import ClusterUsage, NodeGroup
from airflow_dask_provider.hooks.resources import tls_credential_uri
from airflow_dask_provider.labels import parse_expiry

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import Cluster, InstanceGroupConfig

    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

_PREEMPTIBILITY = {"NON_PREEMPTIBLE": "standard", "PREEMPTIBLE": "preemptible", "SPOT": "spot"}


@dataclasses.dataclass(frozen=True)
class LabelledCluster:
    """A cluster found by its labels, with what the reaper decides on."""

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


def _group(role: str, config: InstanceGroupConfig, *, secondary: bool) -> NodeGroup:
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


def get_cluster_usage(
    hook: DaskDataprocHook, *, project_id: str, region: str, cluster_name: str
) -> ClusterUsage | None:
    """Return the cluster's nodes and creation time, or None when it does not exist."""
    from google.api_core.exceptions import NotFound

    try:
        cluster = hook.get_cluster_client(region).get_cluster(
            project_id=project_id, region=region, cluster_name=cluster_name
        )
    except NotFound:
        return None
    return cluster_usage(cluster)


def list_provider_clusters(hook: DaskDataprocHook, *, project_id: str, region: str) -> list[LabelledCluster]:
    """Return the clusters of a project and region that carry the provider's ``created-by`` label.

    The filter ``labels.created-by = airflow-dask-provider`` is applied by Dataproc.
    """
    key, value = defaults.CREATED_BY_LABEL
    pages = hook.get_cluster_client(region).list_clusters(
        request={"project_id": project_id, "region": region, "filter": f"labels.{key} = {value}"}
    )
    found = []
    for cluster in pages:
        labels: dict[str, Any] = dict(cluster.labels)
        found.append(
            LabelledCluster(
                project_id=project_id,
                region=region,
                cluster_name=cluster.cluster_name,
                cluster_uuid=cluster.cluster_uuid,
                state=cluster.status.state.name,
                detail=cluster.status.detail,
                expiry=parse_expiry(labels.get(defaults.EXPIRY_LABEL)),
                labels=labels,
                config_bucket=cluster.config.config_bucket,
                tls_credential_uri=tls_credential_uri(cluster),
            )
        )
    return found
