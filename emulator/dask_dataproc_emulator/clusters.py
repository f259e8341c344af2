"""The ``ClusterController`` service: clusters backed by real Dask processes.

CreateCluster answers at once with an operation; a background thread starts the scheduler and one
worker per node, and the cluster goes CREATING -> RUNNING (or ERROR, with the operation failed).
UpdateCluster resizes (UPDATING -> RUNNING): new workers are started, leaving ones are retired through
the scheduler first so their data moves. DeleteCluster (DELETING) ends the cluster's running jobs, stops
the workers then the scheduler, and forgets the cluster. ``request_id`` makes a repeated CreateCluster
return the first operation while the cluster it created exists.

StopCluster and StartCluster are in :mod:`dask_dataproc_emulator.cluster_power`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from google.cloud import dataproc_v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from dask_dataproc_emulator import cluster_config, credentials, rpc
from dask_dataproc_emulator.cluster_power import PowerMixin
from dask_dataproc_emulator.dask_cluster import DaskCluster
from dask_dataproc_emulator.errors import (
    AlreadyExistsError,
    EmulatorError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    OperationCancelledError,
    UnavailableError,
    required,
)
from dask_dataproc_emulator.filters import cluster_matches, cluster_terms
from dask_dataproc_emulator.names import Key, check_request_id, cluster_path, where
from dask_dataproc_emulator.operations import Operations
from dask_dataproc_emulator.paging import page
from dask_dataproc_emulator.processes import Launcher
from dask_dataproc_emulator.settings import RETIRE_TIMEOUT_SECONDS
from dask_dataproc_emulator.state import ClusterRecord, ClusterState, Store, clone, now

log = logging.getLogger(__name__)

#: Details of a job ended because its cluster was deleted.
CLUSTER_DELETED = "Job terminated: cluster deleted"

OperationState = dataproc_v1.ClusterOperationStatus.State


class ClusterService(PowerMixin):
    """Serve ``google.cloud.dataproc.v1.ClusterController``.

    :param store: the emulator's state.
    :param operations: where operations are kept.
    :param launcher: starts the Dask processes.
    :param policy_exists: tells whether an autoscaling policy URI names an existing policy.
    """

    def __init__(
        self,
        store: Store,
        operations: Operations,
        launcher: Launcher,
        policy_exists: Callable[[str], bool],
    ) -> None:
        self.store = store
        self.operations = operations
        self.launcher = launcher
        self.policy_exists = policy_exists
        #: (project, region, CREATE/STOP/START, request_id) -> (operation name, cluster uuid) of the
        #: calls that gave a request id.
        self._requests: dict[tuple[str, str, str, str], tuple[str, str]] = {}
        self._threads: list[threading.Thread] = []

    # -- helpers ------------------------------------------------------------------------------------

    def _record(self, key: Key) -> ClusterRecord:
        record = self.store.clusters.get(key)
        if record is None:
            raise NotFoundError("Cluster", cluster_path(key))
        return record

    def _metadata(self, record: ClusterRecord, kind: str, description: str) -> dataproc_v1.ClusterOperationMetadata:
        return dataproc_v1.ClusterOperationMetadata(
            cluster_name=record.cluster.cluster_name,
            cluster_uuid=record.cluster.cluster_uuid,
            operation_type=kind,
            description=description,
            labels=dict(record.cluster.labels),
            status=dataproc_v1.ClusterOperationStatus(
                state=OperationState.RUNNING, inner_state="RUNNING", state_start_time=now()
            ),
        )

    def _repeated(
        self, request_key: tuple[str, str, str, str], cluster_uuid: str | None
    ) -> operations_pb2.Operation | None:
        """Return the first operation of a repeated request, or None.

        A request repeats when it gives the same ``request_id`` again while the cluster it acted on
        (of ``cluster_uuid``; None when there is no such cluster) still exists.
        """
        first = self._requests.get(request_key) if request_key[-1] else None
        if first is None or first[1] != cluster_uuid:
            return None
        return self.operations.get(first[0])

    @staticmethod
    def _check_uuid(record: ClusterRecord, cluster_uuid: str) -> None:
        """Raise FAILED_PRECONDITION when a request names a ``cluster_uuid`` that is not the cluster's."""
        if cluster_uuid and cluster_uuid != record.cluster.cluster_uuid:
            raise FailedPreconditionError(
                f"Cluster {cluster_path(record.key)} has uuid {record.cluster.cluster_uuid}, "
                f"not the requested {cluster_uuid}"
            )

    def _finish(
        self,
        name: str,
        metadata: dataproc_v1.ClusterOperationMetadata,
        *,
        response: Any = None,
        error: EmulatorError | None = None,
    ) -> None:
        metadata.status_history.append(clone(metadata.status))
        metadata.status = dataproc_v1.ClusterOperationStatus(
            state=OperationState.DONE,
            inner_state="FAILED" if error else "DONE",
            details=error.message if error else "",
            state_start_time=now(),
        )
        self.operations.finish(name, response=response, error=error, metadata=metadata)

    def _in_background(self, target: Callable[..., None], *args: Any, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self.store.lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    # -- CreateCluster ------------------------------------------------------------------------------

    def create_cluster(self, request: dataproc_v1.CreateClusterRequest) -> operations_pb2.Operation:
        """CreateCluster: start the Dask processes in the background and return the operation."""
        project, region = where(request.project_id, request.region)
        request_key = (project, region, "CREATE", check_request_id(request.request_id))
        cluster = clone(request.cluster)
        with self.store.lock:
            if self.store.closing:
                raise UnavailableError("The Dataproc emulator is shutting down")
            existing = self.store.clusters.get((project, region, cluster.cluster_name))
            repeated = self._repeated(request_key, existing.cluster.cluster_uuid if existing else None)
            if repeated is not None:
                return repeated
            cluster_config.check_new_cluster(cluster, project=project, policy_exists=self.policy_exists)
            warnings = cluster_config.check_init_actions(cluster.config, self.store.settings.gcs_dir)
            credentials.check_metadata(cluster)
            key = (project, region, cluster.cluster_name)
            if key in self.store.clusters:
                raise AlreadyExistsError("create cluster", "Cluster", cluster_path(key))
            cluster_config.prepare(cluster, project=project, region=region)
            directory = self.store.settings.data_dir / "clusters" / project / region / cluster.cluster_name
            dask = DaskCluster(
                name=cluster.cluster_name,
                resource=cluster_path(key),
                directory=directory,
                launcher=self.launcher,
                settings=self.store.settings,
            )
            record = ClusterRecord(key=key, cluster=cluster, dask=dask)
            record.set_state(ClusterState.CREATING)
            self.store.clusters[key] = record
            workers = cluster_config.dask_worker_names(cluster)
            metadata = self._metadata(record, "CREATE", f"Create cluster with {len(workers)} Dask workers")
            metadata.warnings.extend(warnings)
            operation = self.operations.start(project, region, metadata)
            if request.request_id:
                self._requests[request_key] = (operation.name, cluster.cluster_uuid)
            record.busy = self._in_background(
                self._provision, record, operation.name, metadata, name=f"create-{cluster.cluster_name}"
            )
        for bucket in (cluster.config.config_bucket, cluster.config.temp_bucket):
            (self.store.settings.gcs_dir / bucket).mkdir(parents=True, exist_ok=True)
        log.info("Creating cluster %s", cluster_path(key))
        for warning in warnings:
            log.warning("Cluster %s: %s", cluster_path(key), warning)
        return operation

    def _provision(self, record: ClusterRecord, operation: str, metadata: dataproc_v1.ClusterOperationMetadata) -> None:
        def install_credential() -> None:
            record.dask.credential = credentials.install(
                record.cluster, gcs_dir=self.store.settings.gcs_dir, directory=record.dask.directory
            )

        self._bring_up(record, operation, metadata, moving=ClusterState.CREATING, prepare=install_credential)

    def _bring_up(
        self,
        record: ClusterRecord,
        operation: str,
        metadata: dataproc_v1.ClusterOperationMetadata,
        *,
        moving: int,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        """Start the scheduler and one worker per node of a cluster in state ``moving`` (CREATING or STARTING).

        On success the cluster's addresses are published and it is RUNNING (a created one idle from now);
        on failure it is ERROR with its processes stopped; deleted meanwhile, the operation is cancelled.

        :param prepare: what must happen first, inside the same failure handling (a create's credential).
        """
        creating = moving == ClusterState.CREATING
        deadline = time.monotonic() + self.store.settings.start_timeout
        try:
            if prepare is not None:
                prepare()
            scheduler = record.dask.start_scheduler(deadline=deadline)
            with self.store.lock:
                workers = cluster_config.dask_worker_names(record.cluster)
            record.dask.add_workers(workers, deadline=deadline)
        except Exception as err:
            error = err if isinstance(err, EmulatorError) else EmulatorError(f"Cluster failed to start: {err!r}")
            level = logging.INFO if isinstance(error, OperationCancelledError) else logging.WARNING
            again = "" if creating else " again"
            log.log(level, "Cluster %s did not start%s: %s", cluster_path(record.key), again, error.message)
            with self.store.lock:
                if record.state == moving:
                    record.set_state(ClusterState.ERROR, error.message)
            self._finish(operation, metadata, error=error)
            if not isinstance(error, OperationCancelledError):
                record.dask.stop()
            return
        with self.store.lock:
            if record.state != moving:  # deleted meanwhile
                while_ = "being created" if creating else "starting"
                self._finish(operation, metadata, error=OperationCancelledError(f"Cluster deleted while {while_}"))
                return
            cluster_config.set_addresses(record.cluster, scheduler)
            record.set_state(ClusterState.RUNNING)
            if creating:  # a restarted cluster's idle time runs on from its last job (lifecycle.py)
                record.set_idle(True)
            self._finish(operation, metadata, response=clone(record.cluster))
        log.info("Cluster %s is RUNNING%s", cluster_path(record.key), "" if creating else " again")

    # -- GetCluster, ListClusters -------------------------------------------------------------------

    def get_cluster(self, request: dataproc_v1.GetClusterRequest) -> dataproc_v1.Cluster:
        """GetCluster."""
        project, region = where(request.project_id, request.region)
        required(request.cluster_name, "cluster_name")
        with self.store.lock:
            return clone(self._record((project, region, request.cluster_name)).cluster)

    def list_clusters(self, request: dataproc_v1.ListClustersRequest) -> dataproc_v1.ListClustersResponse:
        """ListClusters, with ``filter``, in pages by cluster name (``page_size``, ``page_token``)."""
        project, region = where(request.project_id, request.region)
        terms = cluster_terms(request.filter)
        with self.store.lock:
            found = [
                clone(record.cluster)
                for record in self.store.clusters_in(project, region)
                if cluster_matches(record.cluster, terms)
            ]
        clusters, token = page(
            found,
            key=lambda cluster: cluster.cluster_name,
            page_size=request.page_size,
            page_token=request.page_token,
            query=f"projects/{project}/regions/{region}/clusters?filter={request.filter}",
        )
        return dataproc_v1.ListClustersResponse(clusters=clusters, next_page_token=token)

    # -- DeleteCluster ------------------------------------------------------------------------------

    def delete_cluster(self, request: dataproc_v1.DeleteClusterRequest) -> operations_pb2.Operation:
        """DeleteCluster: end its jobs, stop its processes, forget it; repeating it returns the first operation."""
        project, region = where(request.project_id, request.region)
        required(request.cluster_name, "cluster_name")
        check_request_id(request.request_id)
        with self.store.lock:
            record = self._record((project, region, request.cluster_name))
            return self._start_delete(record, cluster_uuid=request.cluster_uuid)

    def _start_delete(self, record: ClusterRecord, *, cluster_uuid: str = "") -> operations_pb2.Operation:
        self._check_uuid(record, cluster_uuid)
        if record.delete_operation is not None:
            return self.operations.get(record.delete_operation)
        record.set_state(ClusterState.DELETING)
        metadata = self._metadata(record, "DELETE", "Delete cluster")
        operation = self.operations.start(record.key[0], record.key[1], metadata)
        record.delete_operation = operation.name
        record.dask.closing.set()  # a creation or resize under way stops at its next step
        self._in_background(self._delete, record, operation.name, metadata, name=f"delete-{record.key[2]}")
        log.info("Deleting cluster %s", cluster_path(record.key))
        return operation

    def _end_jobs(self, record: ClusterRecord, reason: str) -> None:
        """End the cluster's active jobs in ERROR with ``reason`` and wait (bounded) until they have."""
        with self.store.lock:
            runners = [job.runner for job in self.store.jobs_of_cluster(record.key) if not job.done and job.runner]
        for runner in runners:
            runner.terminate(reason)
        for runner in runners:
            runner.join(timeout=self.store.settings.stop_grace * 3)

    def _delete(self, record: ClusterRecord, operation: str, metadata: dataproc_v1.ClusterOperationMetadata) -> None:
        try:
            self._end_jobs(record, CLUSTER_DELETED)
            if record.busy is not None:
                record.busy.join()
        except Exception:  # never leave processes behind, whatever went wrong with the jobs
            log.exception("Cluster %s: ending its jobs failed", cluster_path(record.key))
        finally:
            record.dask.stop()
            with self.store.lock:
                if self.store.clusters.get(record.key) is record:
                    del self.store.clusters[record.key]
                self._finish(operation, metadata, response=empty_pb2.Empty())
        log.info("Cluster %s deleted", cluster_path(record.key))

    # -- UpdateCluster ------------------------------------------------------------------------------

    def update_cluster(self, request: dataproc_v1.UpdateClusterRequest) -> operations_pb2.Operation:
        """UpdateCluster: labels, lifecycle, autoscaling policy, and worker counts (a resize)."""
        project, region = where(request.project_id, request.region)
        required(request.cluster_name, "cluster_name")
        check_request_id(request.request_id)
        paths = list(request.update_mask.paths)
        required(paths, "update_mask")
        unsupported = sorted(set(paths) - cluster_config.UPDATABLE_PATHS)
        if unsupported:
            allowed = ", ".join(sorted(cluster_config.UPDATABLE_PATHS))
            raise InvalidArgumentError(f"Invalid update_mask paths {unsupported}: allowed paths are {allowed}")
        new = request.cluster
        with self.store.lock:
            record = self._record((project, region, request.cluster_name))
            if record.state != ClusterState.RUNNING:
                raise FailedPreconditionError(
                    f"Cluster {cluster_path(record.key)} is in state {ClusterState(record.state).name}; "
                    "only a RUNNING cluster can be updated"
                )
            config = record.cluster.config
            primary = len(config.worker_config.instance_names)
            secondary = len(config.secondary_worker_config.instance_names)
            if "config.worker_config.num_instances" in paths:
                primary = cluster_config.check_primary_count(
                    new.config.worker_config.num_instances,
                    single=cluster_config.single_node(config),
                    field="config.worker_config.num_instances",
                )
            if "config.secondary_worker_config.num_instances" in paths:
                secondary = cluster_config.check_secondary_count(
                    new.config.secondary_worker_config.num_instances,
                    field="config.secondary_worker_config.num_instances",
                )
            if "config.autoscaling_config.policy_uri" in paths:
                policy = new.config.autoscaling_config.policy_uri
                if policy and not self.policy_exists(policy):
                    raise InvalidArgumentError(
                        f"Invalid config.autoscaling_config.policy_uri {policy!r}: no such policy"
                    )
            cluster_config.check_lifecycle(new.config.lifecycle_config)
            self._apply_settings(record.cluster, new, paths)
            record.set_state(ClusterState.UPDATING)
            metadata = self._metadata(record, "UPDATE", f"Update cluster: {', '.join(paths)}")
            operation = self.operations.start(project, region, metadata)
            timeout = request.graceful_decommission_timeout.total_seconds() or RETIRE_TIMEOUT_SECONDS
            record.busy = self._in_background(
                self._resize,
                record,
                primary,
                secondary,
                timeout,
                operation.name,
                metadata,
                name=f"update-{request.cluster_name}",
            )
        return operation

    @staticmethod
    def _apply_settings(cluster: dataproc_v1.Cluster, new: dataproc_v1.Cluster, paths: list[str]) -> None:
        """Copy the non-resize fields of an update into the cluster."""
        if "labels" in paths:
            goog = {k: v for k, v in cluster.labels.items() if k.startswith("goog-dataproc-")}
            cluster.labels.clear()
            cluster.labels.update({**dict(new.labels), **goog})
        lifecycle = cluster.config.lifecycle_config
        for field in ("idle_delete_ttl", "auto_delete_ttl", "auto_delete_time"):
            if f"config.lifecycle_config.{field}" in paths:
                if field in new.config.lifecycle_config:
                    setattr(lifecycle, field, getattr(new.config.lifecycle_config, field))
                else:
                    dataproc_v1.LifecycleConfig.pb(lifecycle).ClearField(field)
        if "config.autoscaling_config.policy_uri" in paths:
            cluster.config.autoscaling_config.policy_uri = new.config.autoscaling_config.policy_uri

    def _resize(
        self,
        record: ClusterRecord,
        primary: int,
        secondary: int,
        timeout: float,
        operation: str,
        metadata: dataproc_v1.ClusterOperationMetadata,
    ) -> None:
        name = record.cluster.cluster_name
        with self.store.lock:
            config = record.cluster.config
            old_primary = list(config.worker_config.instance_names)
            old_secondary = list(config.secondary_worker_config.instance_names)
        add_primary = cluster_config.primary_names(name, max(primary - len(old_primary), 0), old_primary)
        add_secondary = cluster_config.secondary_names(name, max(secondary - len(old_secondary), 0), old_secondary)
        keep_primary = old_primary[:primary]
        keep_secondary = old_secondary[:secondary]
        leaving = old_primary[primary:] + old_secondary[secondary:]
        try:
            deadline = time.monotonic() + self.store.settings.start_timeout
            record.dask.add_workers(add_primary + add_secondary, deadline=deadline)
            record.dask.retire_workers(leaving, timeout=timeout)
        except Exception as err:
            error = err if isinstance(err, EmulatorError) else EmulatorError(f"Resize failed: {err!r}")
            if not isinstance(error, OperationCancelledError):  # roll back to the old size
                record.dask.retire_workers(add_primary + add_secondary, timeout=timeout)
            with self.store.lock:
                if record.state == ClusterState.UPDATING:
                    record.set_state(ClusterState.RUNNING, f"Resize failed: {error.message}")
            self._finish(operation, metadata, error=error)
            return
        with self.store.lock:
            config = record.cluster.config
            config.worker_config.instance_names = keep_primary + add_primary
            config.worker_config.num_instances = primary
            config.secondary_worker_config.instance_names = keep_secondary + add_secondary
            config.secondary_worker_config.num_instances = secondary
            if record.state == ClusterState.UPDATING:
                record.set_state(ClusterState.RUNNING)
            self._finish(operation, metadata, response=clone(record.cluster))
        log.info("Cluster %s resized to %s primary, %s secondary workers", cluster_path(record.key), primary, secondary)

    # -- the rest -----------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Delete every cluster (stopping every job and process) and wait until all are gone."""
        with self.store.lock:
            self.store.closing = True
            for record in list(self.store.clusters.values()):
                self._start_delete(record)
            threads = list(self._threads)
        for thread in threads:
            thread.join()

    def handler(self) -> Any:
        """Return the gRPC handler of ``google.cloud.dataproc.v1.ClusterController``."""
        d = dataproc_v1
        op = operations_pb2.Operation
        return rpc.service(
            "google.cloud.dataproc.v1.ClusterController",
            {
                "CreateCluster": rpc.unary(self.create_cluster, d.CreateClusterRequest, op),
                "UpdateCluster": rpc.unary(self.update_cluster, d.UpdateClusterRequest, op),
                "DeleteCluster": rpc.unary(self.delete_cluster, d.DeleteClusterRequest, op),
                "GetCluster": rpc.unary(self.get_cluster, d.GetClusterRequest, d.Cluster),
                "ListClusters": rpc.unary(self.list_clusters, d.ListClustersRequest, d.ListClustersResponse),
                "StopCluster": rpc.unary(self.stop_cluster, d.StopClusterRequest, op),
                "StartCluster": rpc.unary(self.start_cluster, d.StartClusterRequest, op),
                # Left to the catch-all (refusals.py), which answers UNIMPLEMENTED naming what is served.
                "DiagnoseCluster": rpc.NOT_SERVED,
            },
        )
