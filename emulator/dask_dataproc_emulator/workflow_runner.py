"""Run one workflow: find or create its cluster, run its steps in order, delete a managed cluster.

Everything goes through the emulator's own services, as a Dataproc workflow goes through Dataproc's:
a managed cluster is made with ClusterController's CreateCluster (named ``cluster_name`` plus a
suffix) and deleted with its DeleteCluster at the end, whether the steps succeeded or not; each step
is submitted with JobController's SubmitJob as job ``{step_id}-{suffix}`` once all of its
``prerequisite_step_ids`` are done, independent steps at the same time. The first step that fails
ends the workflow: steps not yet started never start, running ones are cancelled, and the
operation's error names the step and its job. The operation's ``WorkflowMetadata`` follows it all
(PENDING -> RUNNING -> DONE, a graph node per step).
"""

from __future__ import annotations

import logging
import threading
import time

from google.cloud import dataproc_v1

from dask_dataproc_emulator.clusters import ClusterService
from dask_dataproc_emulator.errors import (
    EmulatorError,
    FailedPreconditionError,
    NotFoundError,
    WorkflowFailedError,
)
from dask_dataproc_emulator.jobs import JobService
from dask_dataproc_emulator.operations import Operations
from dask_dataproc_emulator.state import ClusterState, JobState, Store, clone, now
from dask_dataproc_emulator.workflow_templates import suffix

log = logging.getLogger(__name__)

#: Seconds between two looks at the steps' jobs.
POLL_SECONDS = 0.25

WorkflowState = dataproc_v1.WorkflowMetadata.State
NodeState = dataproc_v1.WorkflowNode.NodeState

#: Labels Dataproc puts on a workflow's cluster and jobs.
TEMPLATE_LABEL = "goog-dataproc-workflow-template-id"
INSTANCE_LABEL = "goog-dataproc-workflow-instance-id"
STEP_LABEL = "goog-dataproc-workflow-step-id"


class WorkflowRun:
    """One instance of a workflow template, run by a thread of its own.

    :param store: the emulator's state.
    :param operations: where the workflow's operation lives.
    :param clusters: the ClusterController the managed cluster is created and deleted through.
    :param jobs: the JobController the steps are submitted through.
    :param project: the project of the request.
    :param region: the region of the request.
    :param template: the template, checked and with its parameters substituted.
    """

    def __init__(
        self,
        *,
        store: Store,
        operations: Operations,
        clusters: ClusterService,
        jobs: JobService,
        project: str,
        region: str,
        template: dataproc_v1.WorkflowTemplate,
    ) -> None:
        self.store = store
        self.operations = operations
        self.clusters = clusters
        self.jobs = jobs
        self.project = project
        self.region = region
        self.template = template
        self.operation = ""
        self.instance_id = ""
        self.thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stop_error: EmulatorError | None = None
        self.metadata = dataproc_v1.WorkflowMetadata(
            template=template.name,
            version=template.version,
            state=WorkflowState.PENDING,
            graph=dataproc_v1.WorkflowGraph(
                nodes=[
                    dataproc_v1.WorkflowNode(
                        step_id=job.step_id,
                        prerequisite_step_ids=list(job.prerequisite_step_ids),
                        state=NodeState.BLOCKED if job.prerequisite_step_ids else NodeState.RUNNABLE,
                    )
                    for job in template.jobs
                ]
            ),
        )
        self._nodes = {node.step_id: node for node in self.metadata.graph.nodes}
        self._jobs = {job.step_id: job for job in template.jobs}

    # -- control ------------------------------------------------------------------------------------

    def start(self, operation: str) -> None:
        """Run the workflow of ``operation`` in the background."""
        self.operation = operation
        self.instance_id = operation.rsplit("/", 1)[1]
        self.thread = threading.Thread(target=self._run, name=f"workflow-{self.instance_id[:8]}", daemon=True)
        self.thread.start()

    def cancel(self, error: EmulatorError | None = None) -> None:
        """Stop the workflow (CancelOperation, or the emulator stopping): its jobs are cancelled, its cluster deleted."""
        self._stop_error = error or WorkflowFailedError(f"Workflow {self.instance_id} was cancelled")
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workflow's thread to end."""
        if self.thread is not None:
            self.thread.join(timeout)

    # -- the run ------------------------------------------------------------------------------------

    def _publish(self) -> None:
        self.operations.set_metadata(self.operation, clone(self.metadata))

    def _run(self) -> None:
        error: EmulatorError | None = None
        managed = "managed_cluster" in self.template.placement
        cluster_name = ""
        self.metadata.state = WorkflowState.RUNNING
        self.metadata.start_time = now()
        self._publish()
        try:
            cluster_name = self._create_cluster() if managed else self._select_cluster()
            self._run_steps(cluster_name)
        except EmulatorError as err:
            error = err
        except Exception as err:  # a bug in the emulator: fail the workflow, never leave the cluster
            log.exception("Workflow %s failed", self.instance_id)
            error = EmulatorError(f"Dataproc emulator error in workflow {self.instance_id}: {err!r}")
        finally:
            if managed and self.metadata.create_cluster.operation_id:
                self._delete_cluster(self.metadata.cluster_name)
            self.metadata.state = WorkflowState.DONE
            self.metadata.end_time = now()
            self.operations.finish(self.operation, error=error, metadata=clone(self.metadata))
        log.info("Workflow %s done%s", self.instance_id, f": {error.message}" if error else "")

    def _check_stopping(self) -> None:
        if self._stopping.is_set():
            assert self._stop_error is not None  # cancel() sets it before the event
            raise self._stop_error

    def _wait(self, operation: str, *, stoppable: bool) -> dataproc_v1.ClusterOperation:
        """Wait for a cluster operation to end (or, if ``stoppable``, for the workflow to be cancelled)."""
        with self.store.lock:
            while True:
                found = self.operations.get(operation)
                if found.done or (stoppable and self._stopping.is_set()):
                    break
                self.store.changed.wait(POLL_SECONDS)
        return dataproc_v1.ClusterOperation(
            operation_id=operation, done=found.done, error=found.error.message if found.done else ""
        )

    def _create_cluster(self) -> str:
        managed = self.template.placement.managed_cluster
        name = f"{managed.cluster_name}-{suffix()}"
        labels = {**dict(managed.labels), INSTANCE_LABEL: self.instance_id}
        if self.template.id:
            labels[TEMPLATE_LABEL] = self.template.id
        cluster = dataproc_v1.Cluster(cluster_name=name, config=managed.config, labels=labels)
        self._check_stopping()
        operation = self.clusters.create_cluster(
            dataproc_v1.CreateClusterRequest(project_id=self.project, region=self.region, cluster=cluster)
        )
        self.metadata.cluster_name = name
        self.metadata.create_cluster = dataproc_v1.ClusterOperation(operation_id=operation.name)
        self._publish()
        self.metadata.create_cluster = self._wait(operation.name, stoppable=True)
        self._publish()
        self._check_stopping()
        if self.metadata.create_cluster.error:
            raise WorkflowFailedError(f"Managed cluster {name} failed to start: {self.metadata.create_cluster.error}")
        found = self.clusters.get_cluster(
            dataproc_v1.GetClusterRequest(project_id=self.project, region=self.region, cluster_name=name)
        )
        self.metadata.cluster_uuid = found.cluster_uuid
        self._publish()
        return name

    def _delete_cluster(self, name: str) -> None:
        request = dataproc_v1.DeleteClusterRequest(project_id=self.project, region=self.region, cluster_name=name)
        try:
            operation = self.clusters.delete_cluster(request)
        except NotFoundError:  # deleted already (by its owner, or the emulator stopping)
            self.metadata.delete_cluster = dataproc_v1.ClusterOperation(done=True)
            return
        self.metadata.delete_cluster = dataproc_v1.ClusterOperation(operation_id=operation.name)
        self._publish()
        self.metadata.delete_cluster = self._wait(operation.name, stoppable=False)

    def _select_cluster(self) -> str:
        """Return the RUNNING cluster whose labels include ``cluster_labels``, the least busy first.

        As on Dataproc, ``cluster_selector.zone`` does not take part in the choice.
        """
        wanted = dict(self.template.placement.cluster_selector.cluster_labels)
        listed = self.clusters.list_clusters(
            dataproc_v1.ListClustersRequest(project_id=self.project, region=self.region)
        )
        candidates = [
            cluster
            for cluster in listed.clusters
            if cluster.status.state == ClusterState.RUNNING and wanted.items() <= dict(cluster.labels).items()
        ]
        if not candidates:
            raise FailedPreconditionError(
                f"No RUNNING cluster in projects/{self.project}/regions/{self.region} has the labels {wanted} "
                "of placement.cluster_selector.cluster_labels"
            )

        def active_jobs(cluster: dataproc_v1.Cluster) -> int:
            request = dataproc_v1.ListJobsRequest(
                project_id=self.project,
                region=self.region,
                cluster_name=cluster.cluster_name,
                job_state_matcher=dataproc_v1.ListJobsRequest.JobStateMatcher.ACTIVE,
            )
            return len(self.jobs.list_jobs(request).jobs)

        chosen = min(candidates, key=lambda cluster: (active_jobs(cluster), cluster.cluster_name))
        self.metadata.cluster_name = chosen.cluster_name
        self.metadata.cluster_uuid = chosen.cluster_uuid
        self._publish()
        return chosen.cluster_name

    # -- the steps ----------------------------------------------------------------------------------

    def _submit(self, step_id: str, cluster_name: str) -> str:
        ordered = dataproc_v1.OrderedJob.to_dict(self._jobs[step_id])
        for field in ("step_id", "prerequisite_step_ids"):
            ordered.pop(field, None)
        job = dataproc_v1.Job(ordered)
        job_id = f"{step_id}-{suffix()}"
        job.reference = dataproc_v1.JobReference(project_id=self.project, job_id=job_id)
        job.placement = dataproc_v1.JobPlacement(cluster_name=cluster_name)
        job.labels.update({STEP_LABEL: step_id, INSTANCE_LABEL: self.instance_id})
        if self.template.id:
            job.labels[TEMPLATE_LABEL] = self.template.id
        self.jobs.submit_job(dataproc_v1.SubmitJobRequest(project_id=self.project, region=self.region, job=job))
        return job_id

    def _job(self, job_id: str) -> dataproc_v1.Job:
        return self.jobs.get_job(dataproc_v1.GetJobRequest(project_id=self.project, region=self.region, job_id=job_id))

    def _run_steps(self, cluster_name: str) -> None:
        running: dict[str, str] = {}  # step id -> job id
        try:
            while True:
                self._check_stopping()
                for step_id, job_id in list(running.items()):
                    job = self._job(job_id)
                    if not job.done:
                        continue
                    del running[step_id]
                    node = self._nodes[step_id]
                    if job.status.state == JobState.DONE:
                        node.state = NodeState.COMPLETED
                        continue
                    ended = f"ended in {JobState(job.status.state).name}: {job.status.details}"
                    node.state = NodeState.FAILED
                    node.error = f"Job {job_id} {ended}"
                    raise WorkflowFailedError(
                        f"Workflow {self.instance_id} failed: step {step_id} (job {job_id}) {ended}"
                    )
                self._start_ready(cluster_name, running)
                self._publish()
                if not running:
                    return
                self._stopping.wait(POLL_SECONDS)
        except EmulatorError as err:
            self._cancel(running, f"Cancelled: {err.message}")
            raise

    def _start_ready(self, cluster_name: str, running: dict[str, str]) -> None:
        for step_id, node in self._nodes.items():
            if node.state not in (NodeState.BLOCKED, NodeState.RUNNABLE):
                continue
            if any(self._nodes[p].state != NodeState.COMPLETED for p in node.prerequisite_step_ids):
                continue
            node.state = NodeState.RUNNABLE
            try:
                node.job_id = self._submit(step_id, cluster_name)
            except EmulatorError as err:
                node.state = NodeState.FAILED
                node.error = err.message
                raise WorkflowFailedError(
                    f"Workflow {self.instance_id} failed: step {step_id} could not be submitted: {err.message}"
                ) from None
            node.state = NodeState.RUNNING
            running[step_id] = node.job_id

    def _cancel(self, running: dict[str, str], reason: str) -> None:
        """Cancel the running steps' jobs and wait (bounded) until they have ended."""
        for step_id, job_id in running.items():
            try:
                self.jobs.cancel_job(
                    dataproc_v1.CancelJobRequest(project_id=self.project, region=self.region, job_id=job_id)
                )
            except (FailedPreconditionError, NotFoundError):  # ended meanwhile
                pass
            node = self._nodes[step_id]
            node.state = NodeState.FAILED
            node.error = reason
        deadline = time.monotonic() + self.store.settings.stop_grace * 3 + 5
        for job_id in running.values():
            while time.monotonic() < deadline:
                try:
                    if self._job(job_id).done:
                        break
                except NotFoundError:
                    break
                time.sleep(POLL_SECONDS)
        self._publish()
