"""Operators that create and delete Dask clusters on Dataproc."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.cluster_spec import DaskClusterSpec, validate_cluster_name
from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.labels import provenance_labels
from airflow_dask_provider.links import DaskDashboardLink, DataprocClusterLink
from airflow_dask_provider.operators.base import DaskDataprocBaseOperator, is_literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_dask_provider.hooks.resources import ClusterInfo

#: Every field of :class:`DaskClusterSpec`; each can be given to the create operator directly.
SPEC_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(DaskClusterSpec))


class DaskDataprocCreateClusterOperator(DaskDataprocBaseOperator):
    """Create a Dataproc cluster that runs Dask, or reuse a running one of the same name.

    The call is idempotent: a RUNNING cluster of that name is reused, one in ERROR is deleted and
    created again, one being created or deleted is waited for, and a request id makes a create that
    is retried after a lost answer safe. If the task is killed while the cluster is being created,
    the cluster is deleted.

    Every field of :class:`~airflow_dask_provider.cluster_spec.DaskClusterSpec` can be passed as a
    keyword (``num_workers=4``, ``idle_delete_ttl="1h"``, ...), all templated, or a whole spec as
    ``cluster_spec``; keywords win over the spec's values. Literal values are validated when the DAG
    is parsed, templated ones when the task runs, before any API call.

    Returns (and pushes to XCom) ``cluster_name``, ``cluster_uuid``, ``scheduler_address``,
    ``dashboard_url``, ``state``, ``config_bucket``, ``project_id``, ``region`` and ``labels``.

    :param cluster_name: name of the cluster (templated).
    :param cluster_spec: the cluster's description; the design documents' defaults when omitted.
    :param delete_on_error: delete the cluster when it ends up in ERROR (default True).
    :param timeout: seconds to wait for the cluster to be RUNNING.
    """

    template_fields: Sequence[str] = (
        *DaskDataprocBaseOperator.template_fields,
        "cluster_name",
        *SPEC_FIELDS,
    )
    operator_extra_links = (DataprocClusterLink(), DaskDashboardLink())
    ui_color = "#fdd9a0"

    def __init__(
        self,
        *,
        cluster_name: str,
        cluster_spec: DaskClusterSpec | None = None,
        delete_on_error: bool = True,
        timeout: float = defaults.CLUSTER_WAIT_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> None:
        spec_values = {name: kwargs.pop(name) for name in SPEC_FIELDS if name in kwargs}
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.cluster_spec = cluster_spec
        self.delete_on_error = delete_on_error
        self.timeout = timeout
        self._given_fields = tuple(spec_values)
        for name in SPEC_FIELDS:
            setattr(self, name, spec_values.get(name))
        self._creating = False
        if is_literal(cluster_name):
            validate_cluster_name(cluster_name)
        if is_literal(spec_values):
            self.build_spec()

    def build_spec(self) -> DaskClusterSpec:
        """Return the validated spec from ``cluster_spec`` and the keywords given to the operator."""
        overrides = {name: getattr(self, name) for name in self._given_fields}
        if self.cluster_spec is None:
            return DaskClusterSpec(**overrides)
        return dataclasses.replace(self.cluster_spec, **overrides)

    def execute(self, context: Context) -> dict[str, Any]:
        validate_cluster_name(self.cluster_name)
        spec = self.build_spec()
        config = spec.to_cluster_config(region=self.region)
        labels = {**spec.labels, **provenance_labels(context)}
        project_id = self.resolved_project_id
        where = {"project_id": project_id, "region": self.region, "cluster_name": self.cluster_name}
        DataprocClusterLink.persist(context, DataprocClusterLink.url(**where))

        info = self._settle_existing(self.hook.get_cluster_info(**where), where)
        if info is None:
            self._creating = True
            self.log.info("Creating Dask cluster %s in %s/%s", self.cluster_name, project_id, self.region)
            created = self.hook.create_dask_cluster(
                **where, cluster_config=config, labels=labels, request_id=self._request_id(context)
            )
            if not created:
                self.log.info("Cluster %s was created concurrently; attaching to it", self.cluster_name)
            info = self.hook.wait_for_cluster(**where, timeout=self.timeout)
            self._creating = False
        if info is None:
            raise ClusterError(self.cluster_name, "DELETED", "it was deleted while it was being created")
        if info.state == "ERROR":
            self._delete_failed(info, where)
        if info.state != "RUNNING":
            raise ClusterError(self.cluster_name, info.state, info.detail)
        DaskDashboardLink.persist(context, info.dashboard_url)
        self.log.info(
            "Dask cluster %s is RUNNING. Scheduler: %s. Dask dashboard: %s",
            self.cluster_name,
            info.scheduler_address,
            info.dashboard_url or "not available (Component Gateway is off)",
        )
        return info.as_dict()

    def _settle_existing(self, info: ClusterInfo | None, where: dict[str, str]) -> ClusterInfo | None:
        """Bring an existing cluster of the same name to a state to reuse, or remove it; None if gone."""
        if info is not None and info.state not in ("RUNNING", "ERROR", "DELETING"):
            self.log.info("Cluster %s exists in state %s; waiting for it", self.cluster_name, info.state)
            info = self.hook.wait_for_cluster(**where, timeout=self.timeout)
        if info is None:
            return None
        if info.state == "RUNNING":
            self.log.info("Reusing RUNNING cluster %s (uuid %s)", self.cluster_name, info.cluster_uuid)
            return info
        if info.state in ("ERROR", "DELETING"):
            self.log.warning("Cluster %s is in state %s; creating it anew", self.cluster_name, info.state)
            if info.state == "ERROR":
                self.hook.delete_dask_cluster(**where)
            self.hook.wait_for_cluster_deleted(**where, timeout=self.timeout)
            return None
        raise ClusterError(
            self.cluster_name, info.state, "a cluster of this name exists in a state this operator cannot reuse"
        )

    def _delete_failed(self, info: ClusterInfo, where: dict[str, str]) -> None:
        if not self.delete_on_error:
            return
        self.log.warning("Cluster %s failed (%s); deleting it", self.cluster_name, info.detail)
        self.hook.delete_dask_cluster(**where)
        self.hook.wait_for_cluster_deleted(**where, timeout=self.timeout)

    def _request_id(self, context: Context) -> str:
        """Return an id that is the same for repeated calls within one try of one task instance."""
        ti = context["ti"]
        parts = (ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, self.cluster_name)
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))

    def on_kill(self) -> None:
        """Delete the cluster if the task is killed while creating it."""
        if self._creating:
            self.log.warning("Task killed while creating cluster %s; deleting it", self.cluster_name)
            self.hook.delete_dask_cluster(
                project_id=self.resolved_project_id, region=self.region, cluster_name=self.cluster_name
            )


class DaskDataprocDeleteClusterOperator(DaskDataprocBaseOperator):
    """Delete a Dask cluster and wait until it is gone; a cluster that does not exist counts as done.

    Use it as a teardown task (``delete.as_teardown(setups=create)``) so the cluster is deleted
    whatever happened upstream.

    :param cluster_name: name of the cluster (templated).
    :param cluster_uuid: delete only if the cluster has this uuid (templated).
    :param timeout: seconds to wait for the deletion.
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseOperator.template_fields, "cluster_name", "cluster_uuid")
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        cluster_name: str,
        cluster_uuid: str | None = None,
        timeout: float = defaults.CLUSTER_WAIT_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.cluster_uuid = cluster_uuid
        self.timeout = timeout
        if is_literal(cluster_name):
            validate_cluster_name(cluster_name)

    def execute(self, context: Context) -> dict[str, Any]:
        validate_cluster_name(self.cluster_name)
        where = {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}
        existed = self.hook.delete_dask_cluster(**where, cluster_uuid=self.cluster_uuid)
        if existed:
            self.log.info("Deleting cluster %s", self.cluster_name)
            self.hook.wait_for_cluster_deleted(**where, timeout=self.timeout)
            self.log.info("Cluster %s is deleted", self.cluster_name)
        else:
            self.log.info("Cluster %s does not exist; nothing to delete", self.cluster_name)
        return {**where, "deleted": existed}
