"""The Dataproc hook's side of scaling: resize a cluster's secondary workers, and keep autoscaling policies.

A mixin of :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`, which gives it its
clients. The scheduler's side (its load, retiring workers) is
:class:`~airflow_dask_provider.hooks.dask_scheduler.DaskSchedulerHook`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults

if TYPE_CHECKING:
    from google.cloud.dataproc_v1 import AutoscalingPolicy

#: Update mask of a resize of the secondary worker group.
SECONDARY_COUNT_PATH = "config.secondary_worker_config.num_instances"
#: Dataproc's defaults of a policy, filled in when a stored policy leaves them out.
POLICY_COOLDOWN_DEFAULT_SECONDS = defaults.POLICY_COOLDOWN_SECONDS
POLICY_PRIMARY_MIN_DEFAULT = defaults.MIN_PRIMARY_WORKERS
POLICY_WEIGHT_DEFAULT = defaults.POLICY_WEIGHT


def policy_name(*, project_id: str, region: str, policy_id: str) -> str:
    """Return ``projects/{p}/regions/{r}/autoscalingPolicies/{id}``."""
    return f"projects/{project_id}/regions/{region}/autoscalingPolicies/{policy_id}"


def _group_to_dict(group: Any, *, primary: bool) -> dict[str, int]:
    minimum = group.min_instances or (POLICY_PRIMARY_MIN_DEFAULT if primary else 0)
    return {
        "min_instances": minimum,
        "max_instances": group.max_instances,
        "weight": group.weight or POLICY_WEIGHT_DEFAULT,
    }


def policy_to_dict(policy: AutoscalingPolicy) -> dict[str, Any]:
    """Return a policy as plain data, with Dataproc's defaults filled in (what the operator compares)."""
    algorithm = policy.basic_algorithm
    yarn = algorithm.yarn_config
    cooldown = algorithm.cooldown_period.total_seconds() if "cooldown_period" in algorithm else None
    return {
        "id": policy.id,
        "worker_config": _group_to_dict(policy.worker_config, primary=True),
        "secondary_worker_config": _group_to_dict(policy.secondary_worker_config, primary=False),
        "basic_algorithm": {
            "cooldown_period": int(cooldown) if cooldown is not None else POLICY_COOLDOWN_DEFAULT_SECONDS,
            "yarn_config": {
                "scale_up_factor": yarn.scale_up_factor,
                "scale_down_factor": yarn.scale_down_factor,
                "scale_up_min_worker_fraction": yarn.scale_up_min_worker_fraction,
                "scale_down_min_worker_fraction": yarn.scale_down_min_worker_fraction,
                "graceful_decommission_timeout": int(yarn.graceful_decommission_timeout.total_seconds()),
            },
        },
        "labels": dict(policy.labels),
    }


def policy_from_dict(data: Mapping[str, Any], *, name: str = "") -> AutoscalingPolicy:
    """Build an ``AutoscalingPolicy`` from the plain data :func:`policy_to_dict` returns."""
    from google.cloud import dataproc_v1
    from google.protobuf import duration_pb2

    algorithm = data["basic_algorithm"]
    yarn = dict(algorithm["yarn_config"])
    yarn["graceful_decommission_timeout"] = duration_pb2.Duration(seconds=int(yarn["graceful_decommission_timeout"]))
    return dataproc_v1.AutoscalingPolicy(
        id=data["id"],
        name=name,
        worker_config=dataproc_v1.InstanceGroupAutoscalingPolicyConfig(**data["worker_config"]),
        secondary_worker_config=dataproc_v1.InstanceGroupAutoscalingPolicyConfig(**data["secondary_worker_config"]),
        basic_algorithm=dataproc_v1.BasicAutoscalingAlgorithm(
            cooldown_period=duration_pb2.Duration(seconds=int(algorithm["cooldown_period"])),
            yarn_config=dataproc_v1.BasicYarnAutoscalingConfig(**yarn),
        ),
        labels=dict(data.get("labels") or {}),
    )


class ScalingCalls:
    """Resize secondary workers and keep Dataproc autoscaling policies; plain data in and out."""

    def resize_secondary_workers(
        self,
        *,
        project_id: str,
        region: str,
        cluster_name: str,
        num_instances: int,
        graceful_decommission_timeout: float,
        request_id: str = "",
    ) -> str:
        """Ask Dataproc for ``num_instances`` secondary workers; return the operation's name, without waiting.

        Only ``config.secondary_worker_config.num_instances`` is updated; removed nodes get up to
        ``graceful_decommission_timeout`` seconds to finish their YARN work.
        """
        from google.protobuf import duration_pb2

        client = self.get_cluster_client(region)
        operation = client.update_cluster(
            request={
                "project_id": project_id,
                "region": region,
                "cluster_name": cluster_name,
                "cluster": {"config": {"secondary_worker_config": {"num_instances": int(num_instances)}}},
                "update_mask": {"paths": [SECONDARY_COUNT_PATH]},
                "graceful_decommission_timeout": duration_pb2.Duration(seconds=int(graceful_decommission_timeout)),
                "request_id": request_id,
            }
        )
        return operation.operation.name

    def get_autoscaling_policy(self, *, project_id: str, region: str, policy_id: str) -> dict[str, Any] | None:
        """Return a policy as plain data (see :func:`policy_to_dict`), or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        client = self.get_autoscaling_policy_client(region)
        try:
            policy = client.get_autoscaling_policy(
                name=policy_name(project_id=project_id, region=region, policy_id=policy_id)
            )
        except NotFound:
            return None
        return policy_to_dict(policy)

    def create_autoscaling_policy(
        self, *, project_id: str, region: str, policy: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Create a policy; return it, or None when one of that id already exists."""
        from google.api_core.exceptions import AlreadyExists

        client = self.get_autoscaling_policy_client(region)
        try:
            created = client.create_autoscaling_policy(
                parent=f"projects/{project_id}/regions/{region}", policy=policy_from_dict(policy)
            )
        except AlreadyExists:
            return None
        return policy_to_dict(created)

    def update_autoscaling_policy(self, *, project_id: str, region: str, policy: Mapping[str, Any]) -> dict[str, Any]:
        """Replace an existing policy and return it."""
        client = self.get_autoscaling_policy_client(region)
        name = policy_name(project_id=project_id, region=region, policy_id=policy["id"])
        updated = client.update_autoscaling_policy(policy=policy_from_dict(policy, name=name))
        return policy_to_dict(updated)
