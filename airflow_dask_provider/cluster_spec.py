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

from airflow_dask_provider import defaults
from airflow_dask_provider.exceptions import ClusterSpecError

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import ClusterConfig

    from airflow_dask_provider.config import TtlPolicy

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_IMAGE = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?(?:-[a-z0-9]+)?$")
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_NETWORK_TAG = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,99}@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$")
_CLUSTER_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,49}[a-z0-9])?$")
_SECONDARY_TYPES = {"preemptible": "PREEMPTIBLE", "spot": "SPOT", "non-preemptible": "NON_PREEMPTIBLE"}
_DISK_TYPES = ("pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced")


def parse_duration(field: str, value: Any) -> int:
    """Return ``value`` in whole seconds; accept seconds, a ``timedelta`` or text such as ``"90m"``."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, bool):
        raise ClusterSpecError(field, value, "expected seconds, a timedelta or text like '2h', '90m', '3600s'")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(float(match.group(1)) * _DURATION_UNITS[match.group(2)])
    raise ClusterSpecError(field, value, "expected seconds, a timedelta or text like '2h', '90m', '3600s'")


def _int_in(field: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and number != value):
            raise ValueError
    except (TypeError, ValueError):
        raise ClusterSpecError(field, value, f"must be a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise ClusterSpecError(field, value, f"must be from {low} to {high}")
    return number


def _ttl(field: str, value: Any) -> int:
    seconds = parse_duration(field, value)
    if not defaults.MIN_TTL_SECONDS <= seconds <= defaults.MAX_TTL_SECONDS:
        raise ClusterSpecError(field, value, "must be from 10 minutes to 14 days (Dataproc's range)")
    return seconds


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as the shortest exact text of days, hours, minutes or seconds, e.g. ``"90m"``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _ceiling(field: str, value: Any, seconds: int, ceiling: int | None) -> int:
    if ceiling is not None and seconds > ceiling:
        allowed = f"must be at most {format_duration(ceiling)} ([dask_dataproc] max_{field} in Airflow's config)"
        raise ClusterSpecError(field, value, allowed)
    return seconds


def _at_most(default: int | None, ceiling: int | None) -> int | None:
    """Return a configured default, lowered to the configured ceiling."""
    if default is None or ceiling is None:
        return default
    return min(default, ceiling)


def _idle_delete_ttl(value: Any, policy: TtlPolicy) -> int:
    """Return the idle-delete TTL in seconds: the given one, else the default, lowered to the ceiling."""
    if isinstance(value, str) and value == defaults.CONFIGURED:
        value = _at_most(policy.default_idle_delete_ttl, policy.max_idle_delete_ttl)
    if value is None:
        most = format_duration(policy.max_idle_delete_ttl or defaults.MAX_TTL_SECONDS)
        raise ClusterSpecError(
            "idle_delete_ttl", None, f"required: every cluster the provider creates has one, from 10 minutes to {most}"
        )
    return _ceiling("idle_delete_ttl", value, _ttl("idle_delete_ttl", value), policy.max_idle_delete_ttl)


def _auto_delete_ttl(value: Any, policy: TtlPolicy) -> int | None:
    """Return the maximum age in seconds: the given one, else the configured default, else the ceiling."""
    if isinstance(value, str) and value == defaults.CONFIGURED:
        value = _at_most(policy.default_auto_delete_ttl, policy.max_auto_delete_ttl) or policy.max_auto_delete_ttl
    if value is None:
        if policy.max_auto_delete_ttl is not None:
            most = format_duration(policy.max_auto_delete_ttl)
            raise ClusterSpecError(
                "auto_delete_ttl",
                None,
                f"required: [dask_dataproc] max_auto_delete_ttl is {most}; give one from 10 minutes to {most}",
            )
        return None
    return _ceiling("auto_delete_ttl", value, _ttl("auto_delete_ttl", value), policy.max_auto_delete_ttl)


def _one_of(field: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ClusterSpecError(field, value, f"must be one of {', '.join(allowed)}")
    return value


def _matches(field: str, value: Any, pattern: re.Pattern[str], allowed: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ClusterSpecError(field, value, allowed)
    return value


def validate_cluster_name(name: Any) -> str:
    """Return ``name`` after checking Dataproc's cluster name rules."""
    return _matches(
        "cluster_name",
        name,
        _CLUSTER_NAME,
        "must start with a lowercase letter, use only a-z, 0-9 and '-', not end with '-', at most 51 characters",
    )


def validate_labels(labels: Mapping[str, Any], field: str = "labels") -> dict[str, str]:
    """Return ``labels`` as strings after checking Dataproc's label rules."""
    if not isinstance(labels, Mapping):
        raise ClusterSpecError(field, labels, "must be a mapping of label keys to values")
    if len(labels) > defaults.MAX_LABELS:
        allowed = f"at most {defaults.MAX_LABELS} labels (Dataproc's limit)"
        raise ClusterSpecError(field, f"{len(labels)} labels", allowed)
    rules = "keys start with a lowercase letter; keys and values use only a-z, 0-9, '_', '-', at most 63 characters"
    checked = {}
    for key, value in labels.items():
        text = "" if value is None else str(value)
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise ClusterSpecError(f"{field} key", key, rules)
        if not _LABEL_VALUE.match(text):
            raise ClusterSpecError(f"{field}[{key}]", value, rules)
        checked[key] = text
    return checked


def validate_service_account(email: Any, field: str = "service_account") -> str:
    """Return ``email`` after checking that it is a service account's email address."""
    allowed = "must be a service account's email, e.g. dask-nodes@PROJECT.iam.gserviceaccount.com"
    return _matches(field, email, _SERVICE_ACCOUNT, allowed)


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
        num_workers = _int_in("num_workers", self.num_workers, 0, 1000)
        if num_workers == 1:
            raise ClusterSpecError("num_workers", self.num_workers, "must be 0 (single node) or from 2 to 1000")
        set_ = object.__setattr__
        set_(self, "num_workers", num_workers)
        set_(self, "num_secondary_workers", _int_in("num_secondary_workers", self.num_secondary_workers, 0, 1000))
        if num_workers == 0 and self.num_secondary_workers:
            raise ClusterSpecError(
                "num_secondary_workers", self.num_secondary_workers, "must be 0 on a single-node cluster"
            )
        _one_of("secondary_worker_type", self.secondary_worker_type, tuple(_SECONDARY_TYPES))
        machine_rule = "must be a Compute Engine machine type such as n2-standard-4"
        for field in ("master_machine_type", "worker_machine_type"):
            _matches(field, getattr(self, field), _MACHINE_TYPE, machine_rule)
        if self.secondary_machine_type is not None:
            _matches("secondary_machine_type", self.secondary_machine_type, _MACHINE_TYPE, machine_rule)
        _one_of("boot_disk_type", self.boot_disk_type, _DISK_TYPES)
        set_(self, "boot_disk_size_gb", _int_in("boot_disk_size_gb", self.boot_disk_size_gb, 30, 65536))
        set_(self, "num_local_ssds", _int_in("num_local_ssds", self.num_local_ssds, 0, 8))
        self._check_image()
        _one_of("dask_runtime", self.dask_runtime, defaults.DASK_RUNTIMES)
        metadata = self.metadata if isinstance(self.metadata, Mapping) else {}
        if self.dask_runtime == "yarn" and metadata.get(defaults.ALLOW_PLAINTEXT_METADATA_KEY) != "true":
            raise ClusterSpecError(
                "dask_runtime",
                self.dask_runtime,
                "the yarn runtime's Dask (dask-yarn 0.9) accepts any client that reaches it, without TLS: use "
                f"'standalone', or accept that with metadata {{'{defaults.ALLOW_PLAINTEXT_METADATA_KEY}': 'true'}}",
            )
        from airflow_dask_provider.config import TtlPolicy

        policy = TtlPolicy.from_config()
        set_(self, "idle_delete_ttl", _idle_delete_ttl(self.idle_delete_ttl, policy))
        set_(self, "auto_delete_ttl", _auto_delete_ttl(self.auto_delete_ttl, policy))
        if self.kms_key_name is not None:
            _matches(
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
            _matches("network_tags", tag, _NETWORK_TAG, "each must be 1-63 of a-z, 0-9 and '-', starting with a letter")
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
        _int_in("init_actions timeout_seconds", action.timeout_seconds, 1, 3600)
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
        config = dataproc_v1.ClusterConfig(
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
            config.secondary_worker_config = dataproc_v1.InstanceGroupConfig(
                num_instances=self.num_secondary_workers,
                machine_type_uri=self.secondary_machine_type or self.worker_machine_type,
                disk_config=disk(self.num_local_ssds),
                preemptibility=_SECONDARY_TYPES[self.secondary_worker_type],
            )
        if self.auto_delete_ttl is not None:
            config.lifecycle_config.auto_delete_ttl = duration_pb2.Duration(seconds=int(self.auto_delete_ttl))
        if self.kms_key_name:
            config.encryption_config = dataproc_v1.EncryptionConfig(gce_pd_kms_key_name=self.kms_key_name)
        if self.autoscaling_policy_uri:
            config.autoscaling_config = dataproc_v1.AutoscalingConfig(policy_uri=self.autoscaling_policy_uri)
        return config


def with_node_service_account(spec: DaskClusterSpec) -> DaskClusterSpec:
    """Return ``spec`` with the service account its nodes run as, or fail before any API call.

    The spec's own ``service_account``, else ``[dask_dataproc] default_service_account``. With
    neither, the nodes would run as the Compute Engine default service account, often a project
    editor with the ``cloud-platform`` scope: refused unless ``[dask_dataproc]
    allow_default_service_account`` is True.

    :raises ClusterSpecError: naming ``service_account`` and both options.
    """
    from airflow_dask_provider import config

    if spec.service_account:
        return spec
    default = config.get("default_service_account")
    if default:
        validate_service_account(default, f"[{config.SECTION}] default_service_account")
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
