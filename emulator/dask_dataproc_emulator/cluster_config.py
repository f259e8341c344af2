"""Check a cluster the way Dataproc does, and fill in the fields Dataproc fills.

The emulator keeps every field the caller sent (labels, lifecycle, software, init actions, ...) and
acts only on the worker counts; initialization actions are checked (their objects must exist) and
recorded, never run (see :func:`check_init_actions`). Output fields follow Dataproc: a uuid4
``cluster_uuid``, staging and temp buckets, instance names (``{name}-m``, ``{name}-w-N``,
``{name}-sw-xxxx``), ``goog-dataproc-*`` labels, and, once RUNNING, where the Dask scheduler and
dashboard listen (see :func:`set_addresses`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from google.cloud import dataproc_v1

from dask_dataproc_emulator import settings
from dask_dataproc_emulator.dask_cluster import SchedulerInfo
from dask_dataproc_emulator.errors import InvalidArgumentError, required
from dask_dataproc_emulator.names import check_cluster_name, secondary_instance_name
from dask_dataproc_emulator.uris import is_gcs, local_path

#: Dataproc's bounds of ``idle_delete_ttl`` and ``auto_delete_ttl``.
MIN_TTL = timedelta(minutes=10)
MAX_TTL = timedelta(days=14)
#: Dataproc's default image when a cluster names none.
DEFAULT_IMAGE_VERSION = "2.2-debian12"
#: ``UpdateCluster`` mask paths Dataproc accepts.
UPDATABLE_PATHS = frozenset(
    {
        "labels",
        "config.worker_config.num_instances",
        "config.secondary_worker_config.num_instances",
        "config.autoscaling_config.policy_uri",
        "config.lifecycle_config.idle_delete_ttl",
        "config.lifecycle_config.auto_delete_ttl",
        "config.lifecycle_config.auto_delete_time",
    }
)


def single_node(config: dataproc_v1.ClusterConfig) -> bool:
    """Return whether the cluster is a single-node cluster (no primary workers allowed to be zero)."""
    properties = config.software_config.properties
    return properties.get(settings.ALLOW_ZERO_WORKERS_PROPERTY, "").lower() == "true"


def check_primary_count(count: int, *, single: bool, field: str) -> int:
    """Return the primary worker count Dataproc would use, or raise INVALID_ARGUMENT."""
    if single:
        if count:
            raise InvalidArgumentError(f"Invalid {field}={count}: a single-node cluster has no primary workers")
        return 0
    if count == 0:
        return settings.DEFAULT_PRIMARY_WORKERS
    if count < 2:
        raise InvalidArgumentError(
            f"Invalid {field}={count}: a standard cluster needs at least 2 primary workers "
            f"(or 0 with {settings.ALLOW_ZERO_WORKERS_PROPERTY}=true)"
        )
    return count


def check_secondary_count(count: int, *, field: str) -> int:
    """Return a secondary worker count, or raise INVALID_ARGUMENT."""
    if count < 0:
        raise InvalidArgumentError(f"Invalid {field}={count}: must be 0 or more")
    return count


def _check_ttl(lifecycle: dataproc_v1.LifecycleConfig, field: str) -> None:
    if field in lifecycle:
        value = getattr(lifecycle, field)
        if not MIN_TTL <= value <= MAX_TTL:
            raise InvalidArgumentError(
                f"Invalid config.lifecycle_config.{field}={value.total_seconds():.0f}s: "
                f"must be between {MIN_TTL.total_seconds():.0f}s (10 minutes) and "
                f"{MAX_TTL.total_seconds():.0f}s (14 days)"
            )


def check_lifecycle(lifecycle: dataproc_v1.LifecycleConfig) -> None:
    """Raise INVALID_ARGUMENT for a TTL outside Dataproc's range."""
    _check_ttl(lifecycle, "idle_delete_ttl")
    _check_ttl(lifecycle, "auto_delete_ttl")


#: A well-formed service account email; the emulator has no IAM, so any such address is accepted.
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._+-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$")


def check_new_cluster(cluster: dataproc_v1.Cluster, *, project: str, policy_exists: Callable[[str], bool]) -> None:
    """Raise INVALID_ARGUMENT for a cluster Dataproc would refuse to create."""
    check_cluster_name(cluster.cluster_name)
    if cluster.project_id and cluster.project_id != project:
        raise InvalidArgumentError(
            f"Invalid cluster.project_id {cluster.project_id!r}: must match the request's project_id {project!r}"
        )
    if "virtual_cluster_config" in cluster:
        raise InvalidArgumentError("Invalid cluster.virtual_cluster_config: the emulator runs no GKE clusters")
    config = cluster.config
    if config.master_config.num_instances not in (0, 1, 3):
        raise InvalidArgumentError(
            f"Invalid config.master_config.num_instances={config.master_config.num_instances}: must be 1 or 3"
        )
    check_primary_count(
        config.worker_config.num_instances, single=single_node(config), field="config.worker_config.num_instances"
    )
    check_secondary_count(
        config.secondary_worker_config.num_instances, field="config.secondary_worker_config.num_instances"
    )
    check_lifecycle(config.lifecycle_config)
    account = config.gce_cluster_config.service_account
    if account and not _SERVICE_ACCOUNT.match(account):
        raise InvalidArgumentError(
            f"Invalid config.gce_cluster_config.service_account {account!r}: must be a service account's email"
        )
    policy = config.autoscaling_config.policy_uri
    if policy and not policy_exists(policy):
        raise InvalidArgumentError(f"Invalid config.autoscaling_config.policy_uri {policy!r}: no such policy")


def check_init_actions(config: dataproc_v1.ClusterConfig, gcs_dir: Path) -> list[str]:
    """Raise INVALID_ARGUMENT for an initialization action Dataproc refuses; else return a warning per action.

    Dataproc checks the objects when it accepts the create, before any VM exists: a missing one fails
    the CreateCluster call itself with INVALID_ARGUMENT "Google Cloud Storage object does not exist
    'gs://...'" (gcloud reports it from the create call, GoogleCloudDataproc/initialization-actions#388),
    not a failed operation; so does the emulator. An existing one is recorded in the cluster but not
    run (the nodes are this machine's processes): the warning says so.

    :param gcs_dir: the emulator's storage, one directory per bucket.
    """
    warnings = []
    for index, action in enumerate(config.initialization_actions):
        field = f"config.initialization_actions[{index}].executable_file"
        uri = action.executable_file
        required(uri, field)
        if not is_gcs(uri):
            raise InvalidArgumentError(f"Invalid {field} {uri!r}: must be a Cloud Storage URI (gs://BUCKET/OBJECT)")
        if not local_path(uri, gcs_dir, field=field).is_file():
            raise InvalidArgumentError(f"Invalid {field}: Google Cloud Storage object does not exist '{uri}'")
        warnings.append(
            f"Initialization action '{uri}' was not run: the Dataproc emulator records initialization actions "
            "but does not run them (its nodes are local Dask processes)"
        )
    return warnings


def primary_names(cluster_name: str, count: int, taken: list[str]) -> list[str]:
    """Return the names of ``count`` new primary workers: ``{cluster}-w-N`` with the lowest free N."""
    names: list[str] = []
    index = 0
    while len(names) < count:
        name = f"{cluster_name}-w-{index}"
        if name not in taken:
            names.append(name)
        index += 1
    return names


def secondary_names(cluster_name: str, count: int, taken: list[str]) -> list[str]:
    """Return the names of ``count`` new secondary workers."""
    names: list[str] = []
    while len(names) < count:
        name = secondary_instance_name(cluster_name)
        if name not in taken and name not in names:
            names.append(name)
    return names


def prepare(cluster: dataproc_v1.Cluster, *, project: str, region: str) -> dataproc_v1.Cluster:
    """Fill the fields Dataproc sets on a new cluster (in place) and return it."""
    name = cluster.cluster_name
    config = cluster.config
    cluster.project_id = project
    cluster.cluster_uuid = str(uuid.uuid4())
    config.config_bucket = config.config_bucket or settings.CONFIG_BUCKET.format(region=region)
    config.temp_bucket = config.temp_bucket or settings.TEMP_BUCKET.format(region=region)
    config.software_config.image_version = config.software_config.image_version or DEFAULT_IMAGE_VERSION
    masters = config.master_config.num_instances or 1
    config.master_config.num_instances = masters
    config.master_config.instance_names = [f"{name}-m"] if masters == 1 else [f"{name}-m-{i}" for i in range(masters)]
    primary = check_primary_count(
        config.worker_config.num_instances, single=single_node(config), field="config.worker_config.num_instances"
    )
    config.worker_config.num_instances = primary
    config.worker_config.instance_names = primary_names(name, primary, [])
    secondary = config.secondary_worker_config.num_instances
    if secondary:
        group = config.secondary_worker_config
        group.instance_names = secondary_names(name, secondary, [])
        group.is_preemptible = group.preemptibility != dataproc_v1.InstanceGroupConfig.Preemptibility.NON_PREEMPTIBLE
    cluster.labels.update(
        {
            "goog-dataproc-cluster-name": name,
            "goog-dataproc-cluster-uuid": cluster.cluster_uuid,
            "goog-dataproc-location": region,
        }
    )
    return cluster


def dask_worker_names(cluster: dataproc_v1.Cluster) -> list[str]:
    """Return the Dask worker names of a cluster: one per worker node, or the master of a single node."""
    config = cluster.config
    names = [*config.worker_config.instance_names, *config.secondary_worker_config.instance_names]
    return names or list(config.master_config.instance_names[:1])


def set_addresses(cluster: dataproc_v1.Cluster, scheduler: SchedulerInfo) -> None:
    """Publish where the scheduler and its dashboard listen, as the provider expects them.

    ``gce_cluster_config.metadata`` gets ``dask-scheduler-host`` and ``dask-scheduler-port``, and
    ``endpoint_config.http_ports`` gets the dashboard the way Component Gateway fills it.
    """
    metadata = cluster.config.gce_cluster_config.metadata
    metadata[settings.SCHEDULER_HOST_METADATA_KEY] = scheduler.host
    metadata[settings.SCHEDULER_PORT_METADATA_KEY] = str(scheduler.port)
    dashboard = f"http://{scheduler.host}:{scheduler.dashboard_port}{settings.DASHBOARD_PREFIX}/"
    cluster.config.endpoint_config.http_ports[settings.DASHBOARD_PORT_NAME] = dashboard
