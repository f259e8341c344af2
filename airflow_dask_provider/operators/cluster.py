"""Operators that create and delete Dask clusters on Dataproc.

The create operator lives here; the delete operator in :mod:`airflow_dask_provider.operators.delete_cluster`,
importable from here as well, as DAGs have always imported both.
"""

from __future__ import annotations

import dataclasses
import enum
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dask_provider import config, defaults
from airflow_dask_provider.cluster_spec import (
    DaskClusterSpec,
    validate_cluster_name,
    validate_labels,
    with_node_service_account,
)
from airflow_dask_provider.exceptions import ClusterError
from airflow_dask_provider.hooks.resources import ClusterInfo
from airflow_dask_provider.labels import context_run_key, describe_run, provenance_labels
from airflow_dask_provider.links import DaskDashboardLink, DataprocClusterLink
from airflow_dask_provider.operators.base import DaskDataprocBaseOperator
from airflow_dask_provider.operators.delete_cluster import USAGE_XCOM_KEY, DaskDataprocDeleteClusterOperator
from airflow_dask_provider.states import (
    CLUSTER_START_FAILED_STATES,
    CLUSTER_TRANSIENT_STATES,
    DELETED,
    DELETING,
    ERROR,
    RUNNING,
    STOPPED,
)
from airflow_dask_provider.tasks import deadline, defer_timeout, is_literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = [
    "SPEC_FIELDS",
    "USAGE_XCOM_KEY",
    "DaskDataprocCreateClusterOperator",
    "DaskDataprocDeleteClusterOperator",
    "Phase",
    "next_phase",
]

#: Every field of :class:`DaskClusterSpec`; each can be given to the create operator directly.
SPEC_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(DaskClusterSpec))


class Phase(enum.Enum):
    """What the create operator does next with the cluster it found; :func:`next_phase` decides."""

    #: No cluster of that name: create it, then wait for it to run.
    CREATE = "create"
    #: The cluster this task created is gone before it ran: fail.
    VANISHED = "vanished"
    #: RUNNING: use it (after the ownership check) and return its details.
    ADOPT = "adopt"
    #: DELETING: wait until it is gone, then create it anew.
    AWAIT_DELETION = "await_deletion"
    #: ERROR: delete it, then create it anew, or fail if this task created it.
    REPLACE_FAILED = "replace_failed"
    #: Being created, updated, started, stopped or repaired: wait for it to settle.
    AWAIT_READY = "await_ready"
    #: STOPPED: start it, then wait for it to run.
    START = "start"
    #: Any other state (STOPPED again after this task started it, or a state Dataproc adds): fail.
    UNUSABLE = "unusable"


def next_phase(info: ClusterInfo | None, *, created: bool, started: bool = False) -> Phase:
    """Return the phase for the cluster as found (None: it does not exist).

    :param created: this task created the cluster.
    :param started: this task started the cluster from STOPPED (a second stop is not undone).
    """
    if info is None:
        return Phase.VANISHED if created else Phase.CREATE
    if info.state == RUNNING:
        return Phase.ADOPT
    if info.state == DELETING:
        return Phase.AWAIT_DELETION
    if info.state == ERROR:
        return Phase.REPLACE_FAILED
    if info.state in CLUSTER_TRANSIENT_STATES:
        return Phase.AWAIT_READY
    if info.state == STOPPED and not started:
        return Phase.START
    return Phase.UNUSABLE


class DaskDataprocCreateClusterOperator(DaskDataprocBaseOperator):
    """Create a Dataproc cluster that runs Dask, or reuse its own run's cluster of the same name.

    The call is idempotent within a DAG run: a RUNNING cluster this run created (a retry) is reused,
    one in ERROR is deleted and created again, one being created or deleted is waited for, and a
    request id makes a create that is retried after a lost answer safe. If the task is killed while
    the cluster is being created, the cluster is deleted.

    A STOPPED cluster it may use is started, as the Google provider's ``DataprocCreateClusterOperator``
    does with ``use_if_exists``: the task logs it, waits (within ``timeout``) until the cluster is
    RUNNING, and returns its new scheduler and dashboard addresses. One being stopped (STOPPING) is
    waited for, then started. The ownership rule comes first: another run's stopped cluster is started
    only with ``share_cluster=True``. A cluster stopped again while this task waits for it to start,
    or in any state Dataproc may add, fails the task with an error naming the cluster and its state.

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
        #: This task started the cluster from STOPPED: a deferred wait then resumes in
        #: :meth:`execute_complete_started`, which sets it again.
        self._started = False
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

    def execute_complete_started(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Go on when the deferred wait for the cluster this task started from STOPPED ended."""
        self._started = True
        return self.execute_complete(context, event)

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
        """Take the cluster one phase at a time towards RUNNING (:func:`next_phase`); every wait defers in
        deferrable mode, and the method the task resumes in comes back here with what the wait found.

        None: create it. Being changed: wait until it settles. Being deleted: wait until it is gone,
        then create. ERROR: delete it, then create it anew if it was not ours, or fail if it was.
        STOPPED: start it, then wait for it to run.
        """
        steps = {
            Phase.CREATE: self._phase_create,
            Phase.VANISHED: self._phase_vanished,
            Phase.AWAIT_DELETION: self._phase_await_deletion,
            Phase.REPLACE_FAILED: self._phase_replace_failed,
            Phase.AWAIT_READY: self._phase_await_ready,
            Phase.START: self._phase_start,
            Phase.UNUSABLE: self._phase_unusable,
        }
        while True:
            if info is not None and info.state != DELETING:
                self._check_owner(context, info)
            phase = next_phase(info, created=created, started=self._started)
            if phase is Phase.ADOPT:
                assert info is not None
                return self._running(context, info, created=created)
            info, created = steps[phase](context, info, created=created)

    def _phase_create(self, context: Context, info: None, *, created: bool) -> tuple[ClusterInfo | None, bool]:
        """No cluster of that name: create it, then wait for it to run."""
        self._started = False
        self._create(context)
        return self._wait(context, [RUNNING], list(CLUSTER_START_FAILED_STATES), created=True), True

    def _phase_vanished(self, context: Context, info: None, *, created: bool) -> tuple[ClusterInfo | None, bool]:
        """The cluster this task created is gone before it ran: fail."""
        raise ClusterError(self.cluster_name, DELETED, "it was deleted while it was being created")

    def _phase_await_deletion(
        self, context: Context, info: ClusterInfo, *, created: bool
    ) -> tuple[ClusterInfo | None, bool]:
        """The cluster is being deleted: wait until it is gone, to create it anew."""
        self.log.warning("Cluster %s is being deleted; creating it anew once it is gone", self.cluster_name)
        return self._wait(context, [DELETED], [], created=created), created

    def _phase_replace_failed(
        self, context: Context, info: ClusterInfo, *, created: bool
    ) -> tuple[ClusterInfo | None, bool]:
        """The cluster is in ERROR: delete it; then create it anew if this task did not create it, else fail.

        A cluster this task created and ``delete_on_error=False`` keeps is left for inspection.
        """
        if created and not self.delete_on_error:
            raise ClusterError(self.cluster_name, info.state, info.detail)
        self.log.warning("Cluster %s is in ERROR (%s); deleting it", self.cluster_name, info.detail)
        self.hook.delete_dask_cluster(**self._where)
        if created:
            self._wait(context, [DELETED], [], created=True, then_fail=True)
            raise ClusterError(self.cluster_name, info.state, info.detail)
        return self._wait(context, [DELETED], [], created=False), created

    def _phase_await_ready(
        self, context: Context, info: ClusterInfo, *, created: bool
    ) -> tuple[ClusterInfo | None, bool]:
        """Dataproc is changing the cluster (creating, updating, starting...): wait for it to run."""
        self.log.info("Cluster %s is %s; waiting for it", self.cluster_name, info.state)
        return self._wait(context, [RUNNING], list(CLUSTER_START_FAILED_STATES), created=created), created

    def _phase_start(self, context: Context, info: ClusterInfo, *, created: bool) -> tuple[ClusterInfo | None, bool]:
        """The cluster is STOPPED: start it (the one of the uuid just read), then wait for it to run."""
        self.log.info(
            "Cluster %s is STOPPED; starting it and waiting up to %.0fs for it to be RUNNING",
            self.cluster_name,
            self.timeout,
        )
        if not self.hook.start_dask_cluster(
            **self._where, cluster_uuid=info.cluster_uuid, request_id=self._request_id(context, "start")
        ):
            return None, created  # deleted meanwhile: create it anew (or fail, if this task created it)
        self._started = True
        return self._wait(context, [RUNNING], list(CLUSTER_START_FAILED_STATES), created=created), created

    def _phase_unusable(self, context: Context, info: ClusterInfo, *, created: bool) -> tuple[ClusterInfo | None, bool]:
        """The cluster is in a state this operator cannot take further: fail, naming it."""
        if info.state == STOPPED:
            reason = "it was stopped again while this task waited for it to start"
        else:
            reason = "a cluster of this name exists in a state this operator cannot reuse"
        raise ClusterError(self.cluster_name, info.state, reason)

    def _check_owner(self, context: Context, info: ClusterInfo) -> None:
        """Go on with a cluster this run created; with another's, only when ``share_cluster`` says so."""
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
        from airflow_dask_provider.quotas import check_quota, owner_label, requesting_user

        spec = with_node_service_account(self.build_spec())
        owner = owner_label(requesting_user(context, fallback=self.owner))
        lifetime = spec.auto_delete_ttl or config.TtlPolicy.from_config().default_expiry
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
        """Wait for the cluster to reach a target or failure state, here or in a trigger.

        A deferred wait resumes in the method that tells what this task did: failed and deleted the
        cluster, started it from STOPPED, created it, or none of these.
        """
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
            elif self._started:
                method = "execute_complete_started"
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
            " (started from STOPPED)" if self._started else "" if created else " (reused)",
            info.scheduler_address,
            info.dashboard_url or "not available (Component Gateway is off)",
        )
        return info.as_dict()

    def _request_id(self, context: Context, action: str = "") -> str:
        """Return an id that is the same for repeated calls within one try of one task instance.

        :param action: what the id is for, when not the create (``"start"``).
        """
        ti = context["ti"]
        parts = (ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, self.cluster_name)
        if action:
            parts = (*parts, action)
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))

    def on_kill(self) -> None:
        """Delete the cluster if the task is killed while creating it."""
        if self._creating:
            self.log.warning("Task killed while creating cluster %s; deleting it", self.cluster_name)
            self.hook.delete_dask_cluster(
                project_id=self.resolved_project_id, region=self.region, cluster_name=self.cluster_name
            )
