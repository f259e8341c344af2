"""StopCluster and StartCluster: a mixin of :class:`~dask_dataproc_emulator.clusters.ClusterService`.

StopCluster (RUNNING -> STOPPING -> STOPPED) and StartCluster (STOPPED -> STARTING -> RUNNING) follow
Dataproc's start/stop guide: a stop ends the cluster's running jobs in ERROR ("the running jobs will
fail"), then stops every Dask process, so a STOPPED cluster has none; its config, labels, instance
names and Dask TLS credential stay. Only a RUNNING cluster can be stopped (a cluster being updated
cannot, as on Dataproc), only a STOPPED one started; once it is STOPPING, jobs and updates are refused
with FAILED_PRECONDITION naming the state (see ``jobs.py`` and :meth:`ClusterService.update_cluster`),
and DeleteCluster works in every state. A start brings up a new scheduler and one worker per node, as
at creation (initialization actions do not run again, as on Dataproc); their ports may change, so the
``dask-scheduler-*`` metadata and the dashboard URL in ``endpoint_config.http_ports`` are filled
again once it is RUNNING. While STOPPED, those still name the old, closed ports. How scheduled
deletion treats a stopped cluster is in :mod:`dask_dataproc_emulator.lifecycle`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from google.cloud import dataproc_v1
from google.longrunning import operations_pb2

from dask_dataproc_emulator.errors import (
    FailedPreconditionError,
    OperationCancelledError,
    UnavailableError,
    required,
)
from dask_dataproc_emulator.names import check_request_id, cluster_path, where
from dask_dataproc_emulator.state import ClusterRecord, ClusterState, clone

log = logging.getLogger(__name__)

#: Details of a job ended because its cluster was stopped.
CLUSTER_STOPPED = "Job terminated: cluster stopped"
#: The participle of each StopCluster/StartCluster operation type, for messages.
PAST = {"STOP": "stopped", "START": "started"}


class PowerMixin:
    """StopCluster and StartCluster; the rest of the service is :class:`ClusterService`'s."""

    def stop_cluster(self, request: dataproc_v1.StopClusterRequest) -> operations_pb2.Operation:
        """StopCluster: end the running jobs and stop every Dask process; RUNNING -> STOPPING -> STOPPED."""
        return self._power(request, "STOP", ClusterState.RUNNING, ClusterState.STOPPING, self._stop)

    def start_cluster(self, request: dataproc_v1.StartClusterRequest) -> operations_pb2.Operation:
        """StartCluster: start the scheduler and the workers again; STOPPED -> STARTING -> RUNNING."""
        return self._power(request, "START", ClusterState.STOPPED, ClusterState.STARTING, self._start)

    def _power(
        self,
        request: dataproc_v1.StopClusterRequest | dataproc_v1.StartClusterRequest,
        kind: str,
        allowed: int,
        moving: int,
        work: Callable[[ClusterRecord, str, dataproc_v1.ClusterOperationMetadata], None],
    ) -> operations_pb2.Operation:
        """Move a cluster in state ``allowed`` to ``moving`` and run ``work`` in the background.

        ``request_id`` returns the first operation of a repeated request while that cluster exists;
        ``cluster_uuid`` must be the cluster's.
        """
        project, region = where(request.project_id, request.region)
        required(request.cluster_name, "cluster_name")
        request_key = (project, region, kind, check_request_id(request.request_id))
        verb = kind.lower()
        with self.store.lock:
            if self.store.closing:
                raise UnavailableError("The Dataproc emulator is shutting down")
            record = self._record((project, region, request.cluster_name))
            self._check_uuid(record, request.cluster_uuid)
            repeated = self._repeated(request_key, record.cluster.cluster_uuid)
            if repeated is not None:
                return repeated
            if record.state != allowed:
                raise FailedPreconditionError(
                    f"Cluster {cluster_path(record.key)} is in state {ClusterState(record.state).name}; "
                    f"only a {ClusterState(allowed).name} cluster can be {PAST[kind]}"
                )
            record.set_state(moving)
            metadata = self._metadata(record, kind, f"{kind.capitalize()} cluster")
            operation = self.operations.start(project, region, metadata)
            if request.request_id:
                self._requests[request_key] = (operation.name, record.cluster.cluster_uuid)
            record.busy = self._in_background(
                work, record, operation.name, metadata, name=f"{verb}-{request.cluster_name}"
            )
        log.info("Cluster %s: %s requested", cluster_path(record.key), verb)
        return operation

    def _stop(self, record: ClusterRecord, operation: str, metadata: dataproc_v1.ClusterOperationMetadata) -> None:
        try:
            self._end_jobs(record, CLUSTER_STOPPED)
        except Exception:  # stop the processes whatever went wrong with the jobs
            log.exception("Cluster %s: ending its jobs failed", cluster_path(record.key))
        finally:
            record.dask.stop(final=False)
            with self.store.lock:
                stopped = record.state == ClusterState.STOPPING  # else deleted meanwhile
                if stopped:
                    record.set_state(ClusterState.STOPPED)
                    self._finish(operation, metadata, response=clone(record.cluster))
                else:
                    self._finish(operation, metadata, error=OperationCancelledError("Cluster deleted while stopping"))
        if stopped:
            log.info("Cluster %s is STOPPED", cluster_path(record.key))

    def _start(self, record: ClusterRecord, operation: str, metadata: dataproc_v1.ClusterOperationMetadata) -> None:
        self._bring_up(record, operation, metadata, moving=ClusterState.STARTING)
