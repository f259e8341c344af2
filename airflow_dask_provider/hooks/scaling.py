"""The network side of scaling: resize a cluster's secondary workers, read and retire Dask workers,
and keep Dataproc autoscaling policies.

:class:`DaskScalingHook` wraps a :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`
(its clients, credentials and emulator switch) and returns plain data, like it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.hooks.resources import scheduler_address, tls_credential_uri

if TYPE_CHECKING:
    from distributed import Client
    from google.cloud.dataproc_v1 import AutoscalingPolicy

    from airflow_dask_provider.hooks.dataproc import DaskDataprocHook

#: Update mask of a resize of the secondary worker group.
SECONDARY_COUNT_PATH = "config.secondary_worker_config.num_instances"
#: Seconds to wait for a connection to a Dask scheduler.
SCHEDULER_CONNECT_TIMEOUT_SECONDS = defaults.SCHEDULER_CONNECT_TIMEOUT_SECONDS
#: Dataproc's defaults of a policy, filled in when a stored policy leaves them out.
POLICY_COOLDOWN_DEFAULT_SECONDS = defaults.POLICY_COOLDOWN_SECONDS
POLICY_PRIMARY_MIN_DEFAULT = defaults.MIN_PRIMARY_WORKERS
POLICY_WEIGHT_DEFAULT = defaults.POLICY_WEIGHT


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
class SchedulerLoad:
    """What a Dask scheduler reports of its load and its workers.

    ``workers`` holds one dict per worker with ``address``, ``name``, ``host``, ``nthreads`` and
    ``processing`` (tasks assigned to it).
    """

    adaptive_target: int
    queued: int
    processing: int
    workers: tuple[dict[str, Any], ...]


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


class DaskScalingHook:
    """Resize secondary workers, talk to Dask schedulers, and keep autoscaling policies.

    :param hook: the Dataproc hook whose clients and credentials are used.
    """

    def __init__(self, hook: DaskDataprocHook) -> None:
        self.hook = hook
        self._dask_clients: dict[str, Client] = {}

    # -- clusters -------------------------------------------------------------------------------

    def get_worker_groups(self, *, project_id: str, region: str, cluster_name: str) -> WorkerGroups | None:
        """Return the cluster's state and worker nodes, or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        client = self.hook.get_cluster_client(region)
        try:
            cluster = client.get_cluster(project_id=project_id, region=region, cluster_name=cluster_name)
        except NotFound:
            return None
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

        client = self.hook.get_cluster_client(region)
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

    # -- Dask -----------------------------------------------------------------------------------

    def _dask_client(self, address: str, tls_credential_uri: str | None) -> Client:
        """Return a connected client of the scheduler, with the cluster's credential when it has one."""
        client = self._dask_clients.get(address)
        if client is None or client.status not in ("running", "connecting", "newly-created"):
            Client = import_extra("distributed", extra="dask", feature="The Dask-aware autoscaler").Client

            security = self.hook.get_dask_security(tls_credential_uri=tls_credential_uri)
            client = Client(address, timeout=SCHEDULER_CONNECT_TIMEOUT_SECONDS, set_as_default=False, security=security)
            self._dask_clients[address] = client
        return client

    def get_scheduler_load(
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

        client = self._dask_client(scheduler_address, tls_credential_uri)
        load = client.run_on_scheduler(read_load, target_duration=target_duration)
        return SchedulerLoad(
            adaptive_target=int(load["adaptive_target"]),
            queued=int(load["queued"]),
            processing=int(load["processing"]),
            workers=tuple(load["workers"]),
        )

    def retire_dask_workers(
        self, *, scheduler_address: str, addresses: Sequence[str], tls_credential_uri: str | None = None
    ) -> list[str]:
        """Retire workers: the scheduler moves their data to the others, then closes them.

        Return the addresses of the workers retired.
        """
        if not addresses:
            return []
        client = self._dask_client(scheduler_address, tls_credential_uri)
        retired = client.retire_workers(workers=list(addresses), close_workers=True)
        return sorted(retired)

    def close(self) -> None:
        """Close the connections to Dask schedulers."""
        clients, self._dask_clients = self._dask_clients, {}
        for client in clients.values():
            client.close()

    # -- autoscaling policies -------------------------------------------------------------------

    def get_autoscaling_policy(self, *, project_id: str, region: str, policy_id: str) -> dict[str, Any] | None:
        """Return a policy as plain data (see :func:`policy_to_dict`), or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        client = self.hook.get_autoscaling_policy_client(region)
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

        client = self.hook.get_autoscaling_policy_client(region)
        try:
            created = client.create_autoscaling_policy(
                parent=f"projects/{project_id}/regions/{region}", policy=policy_from_dict(policy)
            )
        except AlreadyExists:
            return None
        return policy_to_dict(created)

    def update_autoscaling_policy(self, *, project_id: str, region: str, policy: Mapping[str, Any]) -> dict[str, Any]:
        """Replace an existing policy and return it."""
        client = self.hook.get_autoscaling_policy_client(region)
        name = policy_name(project_id=project_id, region=region, policy_id=policy["id"])
        updated = client.update_autoscaling_policy(policy=policy_from_dict(policy, name=name))
        return policy_to_dict(updated)
