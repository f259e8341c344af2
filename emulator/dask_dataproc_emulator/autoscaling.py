"""The ``AutoscalingPolicyService``: policies kept in memory and checked as Dataproc checks them.

The emulator stores policies and lets clusters name them (``config.autoscaling_config.policy_uri``
must name an existing policy), but never acts on them: Dataproc's autoscaler reacts to YARN memory
only, which a standalone Dask cluster never moves. Dask-aware scaling resizes through UpdateCluster.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.cloud import dataproc_v1
from google.protobuf import empty_pb2

from dask_dataproc_emulator import rpc
from dask_dataproc_emulator.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    required,
)
from dask_dataproc_emulator.names import POLICY_ID, check_parent, split_policy_name
from dask_dataproc_emulator.paging import page
from dask_dataproc_emulator.state import Store, clone

#: Dataproc's bounds and defaults of a basic algorithm.
COOLDOWN_DEFAULT = timedelta(minutes=2)
COOLDOWN_BOUNDS = (timedelta(minutes=2), timedelta(days=1))
DECOMMISSION_BOUNDS = (timedelta(0), timedelta(days=1))
PRIMARY_MIN_DEFAULT = 2

PolicyKey = tuple[str, str, str]


def policy_key(name: str) -> PolicyKey:
    """Return (project, region, policy id) of a policy name or URI (``regions`` and ``locations`` alike)."""
    parent, project, policy_id = split_policy_name(name)
    return project, parent.rsplit("/", 1)[1], policy_id


def _in(value: Any, bounds: tuple[Any, Any], field: str, shown: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise InvalidArgumentError(f"Invalid {field}={shown}: must be within [{low}, {high}]")


def _check_fraction(value: float, field: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"Invalid {field}={value}: must be within [0.0, 1.0]")


def _check_group(group: dataproc_v1.InstanceGroupAutoscalingPolicyConfig, field: str, *, primary: bool) -> None:
    low = PRIMARY_MIN_DEFAULT if primary else 0
    if primary and group.min_instances == 0:
        group.min_instances = PRIMARY_MIN_DEFAULT
    if group.min_instances < low:
        raise InvalidArgumentError(f"Invalid {field}.min_instances={group.min_instances}: must be at least {low}")
    if primary and group.max_instances == 0:
        raise InvalidArgumentError(f"Missing required field: {field}.max_instances")
    if group.max_instances < group.min_instances:
        raise InvalidArgumentError(
            f"Invalid {field}.max_instances={group.max_instances}: must be at least "
            f"{field}.min_instances={group.min_instances}"
        )
    if group.weight < 0:
        raise InvalidArgumentError(f"Invalid {field}.weight={group.weight}: must be 0 or more")


def check_policy(policy: dataproc_v1.AutoscalingPolicy) -> dataproc_v1.AutoscalingPolicy:
    """Fill Dataproc's defaults into ``policy`` (in place) and raise INVALID_ARGUMENT naming a bad field."""
    required(policy.id, "policy.id")
    if not POLICY_ID.fullmatch(policy.id):
        raise InvalidArgumentError(
            f"Invalid policy.id {policy.id!r}: 3 to 50 letters, digits, underscores and hyphens, "
            "not starting or ending with an underscore or hyphen"
        )
    if "basic_algorithm" not in policy:
        raise InvalidArgumentError("Missing required field: policy.basic_algorithm")
    algorithm = policy.basic_algorithm
    if "yarn_config" not in algorithm:
        raise InvalidArgumentError("Missing required field: policy.basic_algorithm.yarn_config")
    yarn = algorithm.yarn_config
    prefix = "policy.basic_algorithm.yarn_config"
    _check_fraction(yarn.scale_up_factor, f"{prefix}.scale_up_factor")
    _check_fraction(yarn.scale_down_factor, f"{prefix}.scale_down_factor")
    _check_fraction(yarn.scale_up_min_worker_fraction, f"{prefix}.scale_up_min_worker_fraction")
    _check_fraction(yarn.scale_down_min_worker_fraction, f"{prefix}.scale_down_min_worker_fraction")
    timeout = yarn.graceful_decommission_timeout
    _in(timeout, DECOMMISSION_BOUNDS, f"{prefix}.graceful_decommission_timeout", f"{timeout.total_seconds():g}s")
    if "cooldown_period" not in algorithm:
        algorithm.cooldown_period = COOLDOWN_DEFAULT
    cooldown = algorithm.cooldown_period
    _in(cooldown, COOLDOWN_BOUNDS, "policy.basic_algorithm.cooldown_period", f"{cooldown.total_seconds():g}s")
    if "worker_config" not in policy:
        raise InvalidArgumentError("Missing required field: policy.worker_config")
    _check_group(policy.worker_config, "policy.worker_config", primary=True)
    if "secondary_worker_config" in policy:
        _check_group(policy.secondary_worker_config, "policy.secondary_worker_config", primary=False)
    return policy


class AutoscalingService:
    """Serve ``google.cloud.dataproc.v1.AutoscalingPolicyService``.

    :param store: the emulator's state; policies live in ``store.policies`` by :func:`policy_key`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def policy_exists(self, uri: str) -> bool:
        """Return whether a cluster's ``policy_uri`` names an existing policy."""
        try:
            key = policy_key(uri)
        except InvalidArgumentError:
            return False
        with self.store.lock:
            return key in self.store.policies

    def _get(self, name: str) -> dataproc_v1.AutoscalingPolicy:
        required(name, "name")
        policy = self.store.policies.get(policy_key(name))
        if policy is None:
            raise NotFoundError("AutoscalingPolicy", name)
        return policy

    def create(self, request: dataproc_v1.CreateAutoscalingPolicyRequest) -> dataproc_v1.AutoscalingPolicy:
        """CreateAutoscalingPolicy."""
        parent = check_parent(request.parent)
        policy = check_policy(clone(request.policy))
        policy.name = f"{parent}/autoscalingPolicies/{policy.id}"
        key = policy_key(policy.name)
        with self.store.lock:
            if key in self.store.policies:
                raise AlreadyExistsError("create autoscaling policy", "AutoscalingPolicy", policy.name)
            self.store.policies[key] = policy
            return clone(policy)

    def get(self, request: dataproc_v1.GetAutoscalingPolicyRequest) -> dataproc_v1.AutoscalingPolicy:
        """GetAutoscalingPolicy."""
        with self.store.lock:
            return clone(self._get(request.name))

    def update(self, request: dataproc_v1.UpdateAutoscalingPolicyRequest) -> dataproc_v1.AutoscalingPolicy:
        """UpdateAutoscalingPolicy: replace the policy named by ``policy.name``."""
        policy = clone(request.policy)
        required(policy.name, "policy.name")
        _, _, policy_id = split_policy_name(policy.name)
        policy.id = policy.id or policy_id
        if policy.id != policy_id:
            raise InvalidArgumentError(f"Invalid policy.id {policy.id!r}: does not match policy.name {policy.name!r}")
        check_policy(policy)
        with self.store.lock:
            existing = self._get(policy.name)
            policy.name = existing.name
            self.store.policies[policy_key(policy.name)] = policy
            return clone(policy)

    def list(self, request: dataproc_v1.ListAutoscalingPoliciesRequest) -> dataproc_v1.ListAutoscalingPoliciesResponse:
        """ListAutoscalingPolicies of a parent, in pages by policy id (``page_size``, ``page_token``)."""
        parent = check_parent(request.parent)
        project, region = parent.split("/")[1], parent.split("/")[3]
        with self.store.lock:
            found = [clone(p) for key, p in self.store.policies.items() if key[:2] == (project, region)]
        policies, token = page(
            found,
            key=lambda policy: policy.id,
            page_size=request.page_size,
            page_token=request.page_token,
            query=parent,
        )
        return dataproc_v1.ListAutoscalingPoliciesResponse(policies=policies, next_page_token=token)

    def delete(self, request: dataproc_v1.DeleteAutoscalingPolicyRequest) -> empty_pb2.Empty:
        """DeleteAutoscalingPolicy; a policy a cluster uses cannot be deleted."""
        with self.store.lock:
            policy = self._get(request.name)
            key = policy_key(policy.name)
            users = [
                record.cluster.cluster_name
                for record in self.store.clusters.values()
                if self.policy_exists(record.cluster.config.autoscaling_config.policy_uri)
                and policy_key(record.cluster.config.autoscaling_config.policy_uri) == key
            ]
            if users:
                raise FailedPreconditionError(f"AutoscalingPolicy {policy.name} is in use by clusters {users}")
            del self.store.policies[key]
        return empty_pb2.Empty()

    def handler(self) -> Any:
        """Return the gRPC handler of ``google.cloud.dataproc.v1.AutoscalingPolicyService``."""
        d = dataproc_v1
        policy = d.AutoscalingPolicy
        return rpc.service(
            "google.cloud.dataproc.v1.AutoscalingPolicyService",
            {
                "CreateAutoscalingPolicy": rpc.unary(self.create, d.CreateAutoscalingPolicyRequest, policy),
                "GetAutoscalingPolicy": rpc.unary(self.get, d.GetAutoscalingPolicyRequest, policy),
                "UpdateAutoscalingPolicy": rpc.unary(self.update, d.UpdateAutoscalingPolicyRequest, policy),
                "ListAutoscalingPolicies": rpc.unary(
                    self.list, d.ListAutoscalingPoliciesRequest, d.ListAutoscalingPoliciesResponse
                ),
                "DeleteAutoscalingPolicy": rpc.unary(self.delete, d.DeleteAutoscalingPolicyRequest, empty_pb2.Empty),
            },
        )
