"""Operators that create and delete Dask clusters on Dataproc."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import defaults
from airflow_dask_provider.cluster_spec import (
    DaskClusterSpec,
    validate_cluster_name,
    validate_labels,
    with_node_service_account,
)
from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.hooks.resources import ClusterInfo
from airflow_dask_provider.states import CLUSTER_START_FAILED_STATES, CLUSTER_TRANSIENT_STATES
from airflow_dask_provider.labels import provenance_labels
from airflow_dask_provider.links import DaskDashboardLink, DataprocClusterLink
from airflow_dask_provider.operators.base import DaskDataprocBaseOperator
from airflow_dask_provider.tasks import deadline, defer_timeout, is_literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_dask_provider.cost import ClusterUsage

#: XCom key under which the delete operator keeps the cluster's usage across a deferral.
USAGE_XCOM_KEY = "cluster_usage"
#: Every field of :class:`DaskClusterSpec`; each can be given to the create operator directly.
SPEC_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(DaskClusterSpec))


class DaskDataprocCreateClusterOperator(DaskDataprocBaseOperator):
    """Create a Dataproc cluster that runs Dask, or reuse its own run's cluster of the same name.

    The call is idempotent within a DAG run: a RUNNING cluster this run created (a retry) is reused,
    one in ERROR is deleted and created again, one being created or deleted is waited for, and a
    request id makes a create that is retried after a lost answer safe. If the task is killed while
    the cluster is being created, the cluster is deleted.

    A cluster belongs to the run that created it (its ``airflow-run-key`` label, see
    :mod:`airflow_dask_provider.labels`). A cluster of that name made by another run, or by anything
    else, is used only with ``share_cluster=True``; otherwise the task fails, naming the run that owns
    it, before it touches the cluster. Leave ``cluster_name`` out and every run gets a cluster of its
    own: the name is derived from the DAG, the run and the task group, and the submit and delete
    tasks of the same group derive the same name.

    Every field of :class:`~airflow_dask_provider.cluster_spec.DaskClusterSpec` can be passed as a
    keyword (``num_workers=4``, ``idle_delete_ttl="1h"``, ...), all templated, or a whole spec as
    ``cluster_spec``; keywords win over the spec's values. Literal values are validated when the DAG
    is parsed, templated ones when the task runs, before any API call.

    Returns (and pushes to XCom) ``cluster_name``, ``cluster_uuid``, ``scheduler_address``,
    ``dashboard_url``, ``state``, ``config_bucket``, ``project_id``, ``region`` and ``labels``.

    :param cluster_name: name of the cluster (templated); derived from the DAG, the run and the task
        group when omitted.
    :param cluster_spec: the cluster's description; the design documents' defaults when omitted.
    :param share_cluster: use a cluster of that name that another run (or anything but this provider)
        created, instead of failing (default False). A teardown leaves a cluster while another run's
        job is on it.
    :param delete_on_error: delete the cluster when it ends up in ERROR (default True).
    :param timeout: seconds to wait for the cluster to be RUNNING.
    :param stage_init_actions: upload the provider's own initialization actions (``dask.sh``, and
        ``nfs-mount.sh`` when the metadata names an ``nfs-server``) into the cluster's staging bucket
        under a content-hashed path and run them (default True); see :mod:`airflow_dask_provider.staging`.
        False runs only the spec's ``init_actions``, or Google's public ``dask.sh`` when it has none.
    :param enforce_quotas: refuse, before creating anything, a cluster that would take the user who
        triggered the run (else the task's owner) over the per-user quotas of ``[dask_dataproc]``
        (default True); see :mod:`airflow_dask_provider.quotas`. The user is the cluster's ``owner`` label.
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
        cluster_name: str | None = None,
        cluster_spec: DaskClusterSpec | None = None,
        share_cluster: bool = False,
        delete_on_error: bool = True,
        timeout: float = defaults.CLUSTER_WAIT_TIMEOUT_SECONDS,
        stage_init_actions: bool = True,
        enforce_quotas: bool = True,
        **kwargs: Any,
    ) -> None:
        spec_values = {name: kwargs.pop(name) for name in SPEC_FIELDS if name in kwargs}
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.cluster_spec = cluster_spec
        self.share_cluster = share_cluster
        self.delete_on_error = delete_on_error
        self.stage_init_actions = stage_init_actions
        self.enforce_quotas = enforce_quotas
        self.timeout = timeout
        self._given_fields = tuple(spec_values)
        for name in SPEC_FIELDS:
            setattr(self, name, spec_values.get(name))
        self._creating = False
        if cluster_name is not None and is_literal(cluster_name):
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
        self.use_cluster_name(context)
        with_node_service_account(self.build_spec())
        where = self._where
        DataprocClusterLink.persist(context, DataprocClusterLink.url(**where))
        DaskDashboardLink.persist(context, None)  # known once the cluster runs, perhaps after a deferral
        return self._proceed(context, self.hook.get_cluster_info(**where), created=False)

    def execute_complete(self, context: Context, event: dict[str, Any], created: bool = False) -> dict[str, Any]:
        """Go on where :meth:`execute` left off when a deferred wait for an existing cluster ended."""
        self._creating = False
        self.use_cluster_name(context)
        if event["status"] in ("timeout", "error"):
            raise ClusterError(self.cluster_name, event["state"], event["message"])
        info = ClusterInfo(**event["resource"]) if event["resource"] else None
        return self._proceed(context, info, created=created)

    def execute_complete_created(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Go on when the deferred wait for the cluster this task created ended.

        Which wait ended is told by the method's name, not by ``defer(kwargs=...)``: ``airflow dags
        test`` replaces those keyword arguments with the event.
        """
        return self.execute_complete(context, event, created=True)

    @property
    def _where(self) -> dict[str, str]:
        return {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}

    def _proceed(self, context: Context, info: ClusterInfo | None, *, created: bool) -> dict[str, Any]:
        """Take the cluster one step towards RUNNING; every wait defers in deferrable mode.

        None: create it. Being changed: wait until it settles. Being deleted: wait until it is gone,
        then create. ERROR: delete it, then create it anew if it was not ours, or fail if it was.
        """
        where = self._where
        while True:
            if info is not None and info.state != "DELETING":
                self._check_owner(context, info)
            if info is None:
                if created:
                    raise ClusterError(self.cluster_name, "DELETED", "it was deleted while it was being created")
                self._create(context)
                created = True
                info = self._wait(context, ["RUNNING"], list(CLUSTER_START_FAILED_STATES), created=True)
            elif info.state == "RUNNING":
                return self._running(context, info, created=created)
            elif info.state == "DELETING":
                self.log.warning("Cluster %s is being deleted; creating it anew once it is gone", self.cluster_name)
                info = self._wait(context, ["DELETED"], [], created=created)
            elif info.state == "ERROR":
                if created and not self.delete_on_error:
                    raise ClusterError(self.cluster_name, info.state, info.detail)
                self.log.warning("Cluster %s is in ERROR (%s); deleting it", self.cluster_name, info.detail)
                self.hook.delete_dask_cluster(**where)
                if created:
                    self._wait(context, ["DELETED"], [], created=True, then_fail=True)
                    raise ClusterError(self.cluster_name, info.state, info.detail)
                info = self._wait(context, ["DELETED"], [], created=False)
            elif info.state in CLUSTER_TRANSIENT_STATES:
                self.log.info("Cluster %s is %s; waiting for it", self.cluster_name, info.state)
                info = self._wait(context, ["RUNNING"], list(CLUSTER_START_FAILED_STATES), created=created)
            else:
                raise ClusterError(
                    self.cluster_name, info.state, "a cluster of this name exists in a state this operator cannot reuse"
                )

    def _check_owner(self, context: Context, info: ClusterInfo) -> None:
        """Go on with a cluster this run created; with another's, only when ``share_cluster`` says so."""
        from airflow_dask_provider.labels import context_run_key, describe_run

        if info.labels.get(defaults.RUN_KEY_LABEL) == context_run_key(context):
            return
        owner = describe_run(info.labels)
        if not self.share_cluster:
            raise ClusterError(
                self.cluster_name,
                info.state,
                f"it belongs to {owner}, not to this run. Leave cluster_name out so that every run gets a "
                "cluster of its own (or make the name unique per run, e.g. with {{ run_id }}), or pass "
                "share_cluster=True to use it",
            )
        if not getattr(self, "_told_shared", False):
            self._told_shared = True
            self.log.warning(
                "Cluster %s belongs to %s; sharing it (share_cluster=True). This run's teardown leaves it "
                "while another run's job is on it",
                self.cluster_name,
                owner,
            )

    def _create(self, context: Context) -> None:
        from airflow_dask_provider.config import TtlPolicy

        from airflow_dask_provider.quotas import check_quota, owner_label, requesting_user

        spec = with_node_service_account(self.build_spec())
        owner = owner_label(requesting_user(context, fallback=self.owner))
        lifetime = spec.auto_delete_ttl or TtlPolicy.from_config().default_expiry
        labels = validate_labels(
            {**spec.labels, **provenance_labels(context, owner=owner, expiry=time.time() + lifetime)}
        )
        if self.enforce_quotas:
            check_quota(
                self.hook,
                project_id=self.resolved_project_id,
                region=self.region,
                user=owner,
                secondary_workers=spec.num_secondary_workers,
                cluster_name=self.cluster_name,
            )
        if self.stage_init_actions:
            spec = self.hook.stage_init_actions(spec, project_id=self.resolved_project_id, region=self.region)
            self.log.info("Initialization actions: %s", ", ".join(action.uri for action in spec.init_actions))
        spec, credential = self._with_credential(spec)
        self._creating = True
        self.log.info(
            "Creating Dask cluster %s in %s/%s, nodes running as %s",
            self.cluster_name,
            self.resolved_project_id,
            self.region,
            spec.service_account or "the Compute Engine default service account",
        )
        try:
            created = self.hook.create_dask_cluster(
                **self._where,
                cluster_config=spec.to_cluster_config(region=self.region),
                labels=labels,
                request_id=self._request_id(context),
            )
        except BaseException:
            if credential:
                self.hook.delete_dask_credential(uri=credential)
            raise
        if not created:
            self._creating = False  # someone else's create: never delete it on kill
            self.log.info("Cluster %s was created concurrently; waiting for it", self.cluster_name)
            if credential:
                self.hook.delete_dask_credential(uri=credential)

    def _with_credential(self, spec: DaskClusterSpec) -> tuple[DaskClusterSpec, str | None]:
        """Return the spec with a new Dask TLS credential of the cluster's own, and the credential's URI.

        The credential is kept in the cluster's config bucket (see :mod:`airflow_dask_provider.tls`);
        the nodes find it through their ``dask-tls-uri`` metadata. A spec that names a credential of its
        own, or asks for plain TCP (``dask-allow-plaintext``, which the yarn runtime's spec must, since
        dask-yarn has no TLS) is returned as it is, with None.
        """
        metadata = spec.metadata
        if defaults.TLS_URI_METADATA_KEY in metadata or metadata.get(defaults.ALLOW_PLAINTEXT_METADATA_KEY) == "true":
            return spec, None
        bucket = self.hook.staging_bucket(
            project_id=self.resolved_project_id, region=self.region, config_bucket=spec.config_bucket
        )
        uri = self.hook.stage_dask_credential(bucket=bucket, **self._where)
        metadata = {**metadata, defaults.TLS_URI_METADATA_KEY: uri}
        return dataclasses.replace(spec, metadata=metadata, config_bucket=bucket), uri

    def _wait(
        self,
        context: Context,
        target_states: list[str],
        failure_states: list[str],
        *,
        created: bool,
        then_fail: bool = False,
    ) -> ClusterInfo | None:
        """Wait for the cluster to reach a target or failure state, here or in a trigger."""
        if self.deferrable:
            from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger

            until = deadline(context, self, self.timeout)
            trigger = DaskDataprocClusterTrigger(
                **self.trigger_location(),
                cluster_name=self.cluster_name,
                target_states=target_states,
                failure_states=failure_states,
                delete_on_kill=self._creating,
                deadline=until,
            )
            if then_fail:
                method = "execute_failed_cluster_deleted"
            else:
                method = "execute_complete_created" if created else "execute_complete"
            self.defer(trigger=trigger, method_name=method, timeout=defer_timeout(until))
        if target_states == ["DELETED"]:
            self.hook.wait_for_cluster_deleted(**self._where, timeout=self.timeout)
            return None
        info = self.hook.wait_for_cluster(**self._where, timeout=self.timeout)
        self._creating = False
        return info

    def execute_failed_cluster_deleted(self, context: Context, event: dict[str, Any]) -> None:
        """Fail after the cluster that ended in ERROR has been deleted (deferrable mode)."""
        self.use_cluster_name(context)
        raise ClusterError(self.cluster_name, "ERROR", "it failed to start and was deleted; its error is logged above")

    def _running(self, context: Context, info: ClusterInfo, *, created: bool) -> dict[str, Any]:
        DaskDashboardLink.persist(context, info.dashboard_url)
        self.log.info(
            "Dask cluster %s is RUNNING%s. Scheduler: %s. Dask dashboard: %s",
            self.cluster_name,
            "" if created else " (reused)",
            info.scheduler_address,
            info.dashboard_url or "not available (Component Gateway is off)",
        )
        return info.as_dict()

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

    A cluster on which a job of another DAG run is pending or running (a shared cluster, see the
    create operator's ``share_cluster``) is left as it is, with a log line that names those jobs: its
    idle-delete TTL, its maximum life and the orphan reaper delete it later. This run's own jobs never
    hold it back.

    Once the cluster is gone, a cost line is logged and returned under ``cost``: the cluster's
    node-hours by machine type and preemptibility, and an estimated cost from a price table (see
    :mod:`airflow_dask_provider.cost`). The cluster is read before it is deleted for that; a failure
    to read or price it is logged and never fails the deletion.

    :param cluster_name: name of the cluster (templated); derived from the DAG, the run and the task
        group when omitted, as the create operator derives it.
    :param cluster_uuid: delete only if the cluster has this uuid (templated).
    :param timeout: seconds to wait for the deletion.
    :param price_table: prices merged over the built-in table and ``[dask_dataproc] price_table``.
    :param report_cost: log and return the cost line (default True).
    """

    template_fields: Sequence[str] = (*DaskDataprocBaseOperator.template_fields, "cluster_name", "cluster_uuid")
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        cluster_name: str | None = None,
        cluster_uuid: str | None = None,
        timeout: float = defaults.CLUSTER_WAIT_TIMEOUT_SECONDS,
        price_table: dict[str, Any] | None = None,
        report_cost: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.cluster_uuid = cluster_uuid
        self.timeout = timeout
        self.price_table = price_table
        self.report_cost = report_cost
        if cluster_name is not None and is_literal(cluster_name):
            validate_cluster_name(cluster_name)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_dask_provider.hooks.bounded import teardown

        with teardown():  # an endpoint that does not answer is retried a little longer, as for every teardown
            return self._delete(context)

    def _delete(self, context: Context) -> dict[str, Any]:
        self.use_cluster_name(context)
        where = {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}
        others = self._other_runs_jobs(context, where)
        if others:
            self.log.warning(
                "Leaving cluster %s: jobs of other runs are pending or running on it (%s). Its idle-delete "
                "TTL, its maximum life and the orphan reaper delete it once they are done",
                self.cluster_name,
                "; ".join(others),
            )
            return {**where, "deleted": False, "left_for_jobs": others}
        usage = self._read_usage(where) if self.report_cost else None
        existed = self.hook.delete_dask_cluster(**where, cluster_uuid=self.cluster_uuid)
        if not existed:
            self.log.info("Cluster %s does not exist; nothing to delete", self.cluster_name)
            return {**where, "deleted": False}
        self.log.info("Deleting cluster %s", self.cluster_name)
        if self.deferrable:
            if usage is not None:
                context["ti"].xcom_push(key=USAGE_XCOM_KEY, value=usage.as_dict())
            from airflow_dask_provider.triggers.dataproc import DaskDataprocClusterTrigger

            until = deadline(context, self, self.timeout)
            trigger = DaskDataprocClusterTrigger(
                **self.trigger_location(),
                cluster_name=self.cluster_name,
                target_states=["DELETED"],
                failure_states=[],
                deadline=until,
            )
            self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout(until))
        self.hook.wait_for_cluster_deleted(**where, timeout=self.timeout)
        return self._deleted(where, usage)

    def _other_runs_jobs(self, context: Context, where: dict[str, str]) -> list[str]:
        """Return the jobs of other runs (or of anything but this provider) pending or running on the cluster,
        each as ``job_id (state, whose)``."""
        from airflow_dask_provider.labels import context_run_key, describe_run

        own = context_run_key(context)
        return [
            f"{job.job_id} ({job.state}, {describe_run(job.labels)})"
            for job in self.hook.list_active_jobs(**where)
            if job.labels.get(defaults.RUN_KEY_LABEL) != own
        ]

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Finish once the deferred wait for the deletion ended."""
        self.use_cluster_name(context)
        if event["status"] != "success":
            raise ClusterError(self.cluster_name, event["state"], event["message"])
        where = {"project_id": self.resolved_project_id, "region": self.region, "cluster_name": self.cluster_name}
        return self._deleted(where, self._kept_usage(context) if self.report_cost else None)

    def _deleted(self, where: dict[str, str], usage: ClusterUsage | None) -> dict[str, Any]:
        self.log.info("Cluster %s is deleted", self.cluster_name)
        result: dict[str, Any] = {**where, "deleted": True}
        if usage is not None:
            result["cost"] = self._cost(usage)
        return result

    def _read_usage(self, where: dict[str, str]) -> ClusterUsage | None:
        """Read the cluster's nodes and creation time for the cost line; None if that fails."""
        try:
            return self.hook.get_cluster_usage(**where)
        except Exception as err:  # the cost line only informs; never let it stop a deletion
            self.log.warning("Cannot read cluster %s for its cost line: %s", self.cluster_name, err)
            return None

    def _kept_usage(self, context: Context) -> ClusterUsage | None:
        """Return the usage :meth:`execute` kept in XCom before it deferred."""
        from airflow_dask_provider.cost import ClusterUsage

        try:
            data = context["ti"].xcom_pull(task_ids=self.task_id, key=USAGE_XCOM_KEY)
            return ClusterUsage.from_dict(data) if data else None
        except Exception as err:  # likewise: a lost usage costs the line, not the deletion
            self.log.warning("Cannot read the usage of cluster %s kept before deferring: %s", self.cluster_name, err)
            return None

    def _cost(self, usage: ClusterUsage) -> dict[str, Any] | None:
        """Log and return the cost line of a cluster that is gone now."""
        from airflow_dask_provider import config, cost

        try:
            table = cost.merged_table(config.price_table_override(), self.price_table)
            estimate = cost.estimate(usage, ended_at=time.time(), price_table=table)
        except Exception as err:  # likewise: a bad price table costs the line, not the deletion
            self.log.warning("Cannot estimate the cost of cluster %s: %s", self.cluster_name, err)
            return None
        self.log.info("%s", estimate["message"])
        return estimate
