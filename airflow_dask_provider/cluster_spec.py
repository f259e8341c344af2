"""A typed, validated description of a Dask cluster on Dataproc.

:class:`DaskClusterSpec` checks every value when it is built and turns into a
``google.cloud.dataproc_v1.ClusterConfig`` with :meth:`DaskClusterSpec.to_cluster_config`. It imports
no Google module until that call, so DAG files can build specs at parse time for free.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import config, defaults
from airflow_dask_provider.exceptions import ClusterSpecError
from airflow_dask_provider.validation import (
    format_duration,
    matches,
    one_of,
    parse_duration,
    primary_workers,
    validate_cluster_name,
    validate_labels,
    validate_service_account,
    whole_number,
)

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import ClusterConfig

#: The spec, and the checks it uses that live in :mod:`airflow_dask_provider.validation` now: importable from
#: here as before, for DAGs and modules that do.
__all__ = [
    "DaskClusterSpec",
    "InitAction",
    "format_duration",
    "parse_duration",
    "validate_cluster_name",
    "validate_labels",
    "validate_service_account",
    "with_node_service_account",
]

_IMAGE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?(?:-[a-z0-9]+)?$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_NETWORK_TAG = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_SECONDARY_TYPES = {"preemptible": "PREEMPTIBLE", "spot": "SPOT", "non-preemptible": "NON_PREEMPTIBLE"}
_DISK_TYPES = ("pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced")


@dataclasses.dataclass(frozen=True)
class InitAction:
    """An initialization action: a script every node runs when it starts."""

    uri: str
    timeout_seconds: int = defaults.INIT_ACTION_TIMEOUT_SECONDS


@dataclasses.dataclass(frozen=True)
class DaskClusterSpec:
    """Describe a Dataproc cluster that runs Dask, with the design documents' defaults.

    Every value is checked when the spec is built; a bad one raises :class:`ClusterSpecError` naming
    the field, the value and what is allowed. Durations accept seconds, ``timedelta`` or text such as
    ``"2h"``; whole numbers accept numeric text, so rendered templates validate the same way. The
    TTLs are also checked against the ceilings an administrator sets in Airflow's ``[dask_dataproc]``
    section, read when the spec is built.

    :param num_workers: primary workers: 0 for a single-node cluster, else 2 to 1000.
    :param num_secondary_workers: secondary workers, 0 to 1000.
    :param secondary_worker_type: ``preemptible``, ``spot`` or ``non-preemptible``.
    :param master_machine_type: machine type of the master, which runs the scheduler and the driver.
    :param worker_machine_type: machine type of primary workers.
    :param secondary_machine_type: machine type of secondary workers; defaults to ``worker_machine_type``.
    :param boot_disk_type: boot disk type of every node.
    :param boot_disk_size_gb: boot disk size of every node, 30 to 65536 GB.
    :param num_local_ssds: local SSDs per worker (Dask's spill directory), 0 to 8.
    :param image_version: Dataproc image version, 2.1 or newer.
    :param dask_runtime: ``standalone`` (default) or ``yarn``. The yarn runtime's Dask has no TLS
        (dask-yarn 0.9 cannot), so it needs the metadata ``dask-allow-plaintext: "true"``, which says so.
    :param idle_delete_ttl: delete the cluster after this long without jobs, 10 minutes to 14 days;
        ``[dask_dataproc] default_idle_delete_ttl`` (2 hours) when omitted. Never None: every cluster
        has one, at most ``[dask_dataproc] max_idle_delete_ttl``.
    :param auto_delete_ttl: delete the cluster this long after creation, whatever it does;
        ``[dask_dataproc] default_auto_delete_ttl`` when omitted, at most ``max_auto_delete_ttl``
        (with that ceiling set, None is refused). See :mod:`airflow_dask_provider.config`.
    :param zone: Compute Engine zone; Dataproc picks one in the region when empty.
    :param subnetwork_uri: subnetwork of the nodes.
    :param internal_ip_only: give nodes private IPs only (default); needs Private Google Access.
    :param network_tags: Compute Engine network tags of every node, for a firewall rule that lets only
        the cluster's own nodes reach its Dask ports (see the security guide).
    :param service_account: service account (email) of the nodes; ``[dask_dataproc]
        default_service_account`` when omitted. With neither, the create operator fails before any API
        call unless ``[dask_dataproc] allow_default_service_account`` is True (see
        :func:`with_node_service_account`).
    :param kms_key_name: Cloud KMS key that encrypts the nodes' disks (CMEK).
    :param labels: labels of the cluster.
    :param metadata: Compute Engine metadata of every node, read by initialization actions.
    :param init_actions: initialization actions: URIs or :class:`InitAction`. When empty, Google's
        public Dask action for the region is used.
    :param properties: Dataproc software properties (``prefix:key`` to value).
    :param optional_components: Dataproc optional components, such as ``JUPYTER``.
    :param autoscaling_policy_uri: autoscaling policy to attach.
    :param config_bucket: staging bucket; Dataproc creates one when empty.
    :param temp_bucket: temporary bucket; Dataproc creates one when empty.
    """

    num_workers: int = defaults.NUM_WORKERS
    num_secondary_workers: int = defaults.NUM_SECONDARY_WORKERS
    secondary_worker_type: str = defaults.SECONDARY_WORKER_TYPE
    master_machine_type: str = defaults.MASTER_MACHINE_TYPE
    worker_machine_type: str = defaults.WORKER_MACHINE_TYPE
    secondary_machine_type: str | None = None
    boot_disk_type: str = defaults.BOOT_DISK_TYPE
    boot_disk_size_gb: int = defaults.BOOT_DISK_SIZE_GB
    num_local_ssds: int = defaults.NUM_LOCAL_SSDS
    image_version: str = defaults.IMAGE_VERSION
    dask_runtime: str = defaults.DASK_RUNTIME
    idle_delete_ttl: int | float | str | timedelta | None = defaults.CONFIGURED
    auto_delete_ttl: int | float | str | timedelta | None = defaults.CONFIGURED
    zone: str | None = None
    subnetwork_uri: str | None = None
    internal_ip_only: bool = True
    network_tags: Sequence[str] = ()
    service_account: str | None = None
    kms_key_name: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    init_actions: Sequence[str | InitAction] = ()
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)
    optional_components: Sequence[str] = ()
    autoscaling_policy_uri: str | None = None
    config_bucket: str | None = None
    temp_bucket: str | None = None

    def __post_init__(self) -> None:
        num_workers = primary_workers("num_workers", self.num_workers)
        set_ = object.__setattr__
        set_(self, "num_workers", num_workers)
        secondary = whole_number("num_secondary_workers", self.num_secondary_workers, 0, defaults.MAX_INSTANCES)
        set_(self, "num_secondary_workers", secondary)
        if num_workers == 0 and self.num_secondary_workers:
            raise ClusterSpecError(
                "num_secondary_workers", self.num_secondary_workers, "must be 0 on a single-node cluster"
            )
        one_of("secondary_worker_type", self.secondary_worker_type, tuple(_SECONDARY_TYPES))
        machine_rule = "must be a Compute Engine machine type such as n2-standard-4"
        for field in ("master_machine_type", "worker_machine_type"):
            matches(field, getattr(self, field), _MACHINE_TYPE, machine_rule)
        if self.secondary_machine_type is not None:
            matches("secondary_machine_type", self.secondary_machine_type, _MACHINE_TYPE, machine_rule)
        one_of("boot_disk_type", self.boot_disk_type, _DISK_TYPES)
        set_(self, "boot_disk_size_gb", whole_number("boot_disk_size_gb", self.boot_disk_size_gb, 30, 65536))
        set_(self, "num_local_ssds", whole_number("num_local_ssds", self.num_local_ssds, 0, 8))
        self._check_image()
        one_of("dask_runtime", self.dask_runtime, defaults.DASK_RUNTIMES)
        metadata = self.metadata if isinstance(self.metadata, Mapping) else {}
        if self.dask_runtime == "yarn" and metadata.get(defaults.ALLOW_PLAINTEXT_METADATA_KEY) != "true":
            raise ClusterSpecError(
                "dask_runtime",
                self.dask_runtime,
                "the yarn runtime's Dask (dask-yarn 0.9) accepts any client that reaches it, without TLS: use "
                f"'standalone', or accept that with metadata {{'{defaults.ALLOW_PLAINTEXT_METADATA_KEY}': 'true'}}",
            )
        policy = config.TtlPolicy.from_config()
        set_(self, "idle_delete_ttl", policy.resolve_idle_delete_ttl(self.idle_delete_ttl))
        set_(self, "auto_delete_ttl", policy.resolve_auto_delete_ttl(self.auto_delete_ttl))
        if self.kms_key_name is not None:
            matches(
                "kms_key_name",
                self.kms_key_name,
                _KMS_KEY,
                "must be projects/P/locations/L/keyRings/R/cryptoKeys/K",
            )
        if self.service_account:
            validate_service_account(self.service_account)
        if isinstance(self.network_tags, str):
            raise ClusterSpecError("network_tags", self.network_tags, "must be a list of tags, not one string")
        tags = tuple(self.network_tags)
        for tag in tags:
            matches("network_tags", tag, _NETWORK_TAG, "each must be 1-63 of a-z, 0-9 and '-', starting with a letter")
        set_(self, "network_tags", tags)
        if not isinstance(self.internal_ip_only, bool):
            raise ClusterSpecError("internal_ip_only", self.internal_ip_only, "must be true or false")
        set_(self, "labels", validate_labels(self.labels))
        set_(self, "metadata", self._string_map("metadata", self.metadata))
        set_(self, "properties", self._string_map("properties", self.properties))
        set_(self, "init_actions", tuple(self._init_action(action) for action in self.init_actions))
        set_(self, "optional_components", tuple(str(c).upper() for c in self.optional_components))

    def _check_image(self) -> None:
        match = _IMAGE.match(str(self.image_version))
        if not match or (int(match.group(1)), int(match.group(2))) < defaults.MIN_IMAGE_VERSION:
            raise ClusterSpecError(
                "image_version", self.image_version, "must be a Dataproc image 2.1 or newer, e.g. 2.2-debian12"
            )

    @staticmethod
    def _string_map(field: str, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise ClusterSpecError(field, value, "must be a mapping of strings to strings")
        return {str(k): str(v) for k, v in value.items()}

    @staticmethod
    def _init_action(action: str | InitAction | Mapping[str, Any]) -> InitAction:
        if isinstance(action, Mapping):
            action = InitAction(**action)
        elif isinstance(action, str):
            action = InitAction(action)
        if not isinstance(action, InitAction) or not action.uri.startswith("gs://"):
            shown = action.uri if isinstance(action, InitAction) else action
            raise ClusterSpecError("init_actions", shown, "each must be a gs:// URI of an executable script")
        whole_number("init_actions timeout_seconds", action.timeout_seconds, 1, 3600)
        return action

    def software_properties(self) -> dict[str, str]:
        """Return the software properties, with what a single-node cluster needs."""
        if self.num_workers == 0:
            return {"dataproc:dataproc.allow.zero.workers": "true", **self.properties}
        return dict(self.properties)

    def node_metadata(self) -> dict[str, str]:
        """Return the metadata every node gets: the user's, plus the Dask runtime for the init action."""
        return {defaults.DASK_RUNTIME_METADATA_KEY: self.dask_runtime, **self.metadata}

    def to_cluster_config(self, *, region: str) -> ClusterConfig:
        """Build the Dataproc ``ClusterConfig`` this spec describes."""
        from google.cloud import dataproc_v1
        from google.protobuf import duration_pb2

        def disk(num_local_ssds: int = 0) -> dataproc_v1.DiskConfig:
            return dataproc_v1.DiskConfig(
                boot_disk_type=self.boot_disk_type,
                boot_disk_size_gb=self.boot_disk_size_gb,
                num_local_ssds=num_local_ssds,
            )

        init_actions = self.init_actions or (InitAction(defaults.PUBLIC_DASK_INIT_ACTION.format(region=region)),)
        cluster_config = dataproc_v1.ClusterConfig(
            config_bucket=self.config_bucket or "",
            temp_bucket=self.temp_bucket or "",
            gce_cluster_config=dataproc_v1.GceClusterConfig(
                zone_uri=self.zone or "",
                subnetwork_uri=self.subnetwork_uri or "",
                internal_ip_only=self.internal_ip_only,
                tags=list(self.network_tags),
                service_account=self.service_account or "",
                service_account_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                metadata=self.node_metadata(),
            ),
            master_config=dataproc_v1.InstanceGroupConfig(
                num_instances=1, machine_type_uri=self.master_machine_type, disk_config=disk()
            ),
            worker_config=dataproc_v1.InstanceGroupConfig(
                num_instances=self.num_workers,
                machine_type_uri=self.worker_machine_type,
                disk_config=disk(self.num_local_ssds),
            ),
            software_config=dataproc_v1.SoftwareConfig(
                image_version=self.image_version,
                properties=self.software_properties(),
                optional_components=list(self.optional_components),
            ),
            initialization_actions=[
                dataproc_v1.NodeInitializationAction(
                    executable_file=action.uri,
                    execution_timeout=duration_pb2.Duration(seconds=action.timeout_seconds),
                )
                for action in init_actions
            ],
            endpoint_config=dataproc_v1.EndpointConfig(enable_http_port_access=True),
            lifecycle_config=dataproc_v1.LifecycleConfig(
                idle_delete_ttl=duration_pb2.Duration(seconds=int(self.idle_delete_ttl)),
            ),
        )
        if self.num_secondary_workers:
            cluster_config.secondary_worker_config = dataproc_v1.InstanceGroupConfig(
                num_instances=self.num_secondary_workers,
                machine_type_uri=self.secondary_machine_type or self.worker_machine_type,
                disk_config=disk(self.num_local_ssds),
                preemptibility=_SECONDARY_TYPES[self.secondary_worker_type],
            )
        if self.auto_delete_ttl is not None:
            cluster_config.lifecycle_config.auto_delete_ttl = duration_pb2.Duration(seconds=int(self.auto_delete_ttl))
        if self.kms_key_name:
            cluster_config.encryption_config = dataproc_v1.EncryptionConfig(gce_pd_kms_key_name=self.kms_key_name)
        if self.autoscaling_policy_uri:
            cluster_config.autoscaling_config = dataproc_v1.AutoscalingConfig(policy_uri=self.autoscaling_policy_uri)
        return cluster_config


def with_node_service_account(spec: DaskClusterSpec) -> DaskClusterSpec:
    """Return ``spec`` with the service account its nodes run as, or fail before any API call.

    The spec's own ``service_account``, else ``[dask_dataproc] default_service_account``. With
    neither, the nodes would run as the Compute Engine default service account, often a project
    editor with the ``cloud-platform`` scope: refused unless ``[dask_dataproc]
    allow_default_service_account`` is True.

    :raises ClusterSpecError: naming ``service_account`` and both options.
    :raises ConfigurationError: ``[dask_dataproc] default_service_account`` is no service account's email.
    """
    if spec.service_account:
        return spec
    default = config.get_service_account("default_service_account")
    if default:
        return dataclasses.replace(spec, service_account=default)
    if config.get_bool("allow_default_service_account"):
        return spec
    raise ClusterSpecError(
        "service_account",
        spec.service_account,
        f"required: name the nodes' service account in the task or in [{config.SECTION}] default_service_account "
        "(the Compute Engine default account is often a project editor; an administrator may allow it with "
        f"[{config.SECTION}] allow_default_service_account = True)",
    )
