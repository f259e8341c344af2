"""The ``JobController`` service: Dask drivers submitted as pyspark jobs.

Dataproc has no Dask job type; a Dask driver is submitted as a pyspark job whose main file is a plain
Python script that connects to the cluster's scheduler (see
:mod:`dask_dataproc_emulator.job_runner` for how it runs). Other job types are refused with
INVALID_ARGUMENT naming the type and the one the emulator runs (see
:func:`dask_dataproc_emulator.refusals.check_job_type`). The driver output is written where Dataproc
writes it:
``gs://{config_bucket}/google-cloud-dataproc-metainfo/{cluster_uuid}/jobs/{job_id}/driveroutput.000000000``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from google.cloud import dataproc_v1
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from dask_dataproc_emulator import rpc
from dask_dataproc_emulator.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    required,
)
from dask_dataproc_emulator.filters import job_matches, job_terms
from dask_dataproc_emulator.job_runner import JobRunner
from dask_dataproc_emulator.names import Key, check_job_id, check_request_id, cluster_path, job_path, where
from dask_dataproc_emulator.operations import Operations
from dask_dataproc_emulator.paging import page
from dask_dataproc_emulator.processes import Launcher
from dask_dataproc_emulator.refusals import check_job_type
from dask_dataproc_emulator.state import (
    ClusterRecord,
    ClusterState,
    JobRecord,
    JobState,
    Store,
    clone,
    now,
)
from dask_dataproc_emulator.uris import local_path

log = logging.getLogger(__name__)

Matcher = dataproc_v1.ListJobsRequest.JobStateMatcher


def driver_output_uri(cluster: dataproc_v1.Cluster, job_id: str) -> str:
    """Return a job's ``driver_output_resource_uri`` (the chunks are this plus ``.000000000``, ...)."""
    bucket = cluster.config.config_bucket
    return f"gs://{bucket}/google-cloud-dataproc-metainfo/{cluster.cluster_uuid}/jobs/{job_id}/driveroutput"


class JobService:
    """Serve ``google.cloud.dataproc.v1.JobController``.

    :param store: the emulator's state.
    :param operations: where SubmitJobAsOperation's operations are kept.
    :param launcher: starts the drivers.
    """

    def __init__(self, store: Store, operations: Operations, launcher: Launcher) -> None:
        self.store = store
        self.operations = operations
        self.launcher = launcher

    def _record(self, project: str, region: str, job_id: str) -> JobRecord:
        required(job_id, "job_id")
        record = self.store.jobs.get((project, region, job_id))
        if record is None:
            raise NotFoundError("Job", job_path((project, region, job_id)))
        return record

    # -- submitting ---------------------------------------------------------------------------------

    def _check_job(self, job: dataproc_v1.Job, project: str) -> None:
        check_job_type(dataproc_v1.Job.pb(job).WhichOneof("type_job"))
        pyspark = job.pyspark_job
        required(pyspark.main_python_file_uri, "job.pyspark_job.main_python_file_uri")
        gcs = self.store.settings.gcs_dir
        local_path(pyspark.main_python_file_uri, gcs, field="job.pyspark_job.main_python_file_uri")
        for field in ("file_uris", "python_file_uris"):
            for uri in getattr(pyspark, field):
                local_path(uri, gcs, field=f"job.pyspark_job.{field}")
        if job.reference.project_id and job.reference.project_id != project:
            raise InvalidArgumentError(
                f"Invalid job.reference.project_id {job.reference.project_id!r}: must match project_id {project!r}"
            )
        if not job.placement.cluster_name and not job.placement.cluster_labels:
            raise InvalidArgumentError("Missing required field: job.placement.cluster_name")

    def _cluster_for(self, job: dataproc_v1.Job, project: str, region: str) -> ClusterRecord:
        placement = job.placement
        if placement.cluster_name:
            key = (project, region, placement.cluster_name)
            record = self.store.clusters.get(key)
            if record is None:
                raise NotFoundError("Cluster", cluster_path(key))
        else:
            wanted = dict(placement.cluster_labels)
            candidates = [
                r
                for r in self.store.clusters_in(project, region)
                if r.state == ClusterState.RUNNING and wanted.items() <= dict(r.cluster.labels).items()
            ]
            if not candidates:
                raise NotFoundError("Cluster", f"with labels {wanted} in projects/{project}/regions/{region}")
            record = candidates[0]
        if record.state != ClusterState.RUNNING:
            raise FailedPreconditionError(
                f"Cluster {cluster_path(record.key)} is in state {ClusterState(record.state).name}; "
                "jobs can only be submitted to a RUNNING cluster"
            )
        return record

    def _submit(self, request: Any, *, as_operation: bool) -> tuple[dataproc_v1.Job, operations_pb2.Operation | None]:
        """Register and start a job; return it as submitted (PENDING) and its operation, if any."""
        project, region = where(request.project_id, request.region)
        check_request_id(request.request_id)
        job = clone(request.job)
        self._check_job(job, project)
        job_id = check_job_id(job.reference.job_id or uuid.uuid4().hex)
        key: Key = (project, region, job_id)
        with self.store.lock:
            if self.store.closing:
                raise UnavailableError("The Dataproc emulator is shutting down")
            request_key = (project, region, request.request_id)
            if request.request_id and request_key in self.store.job_requests:
                record = self.store.jobs.get(self.store.job_requests[request_key])
                if record is not None:
                    operation = self.operations.get(record.operation) if record.operation else None
                    return clone(record.job), operation
            cluster = self._cluster_for(job, project, region)
            if key in self.store.jobs:
                raise AlreadyExistsError("submit job", "Job", job_path(key))
            job.reference.project_id = project
            job.reference.job_id = job_id
            job.placement.cluster_name = cluster.cluster.cluster_name
            job.placement.cluster_uuid = cluster.cluster.cluster_uuid
            job.job_uuid = str(uuid.uuid4())
            job.driver_output_resource_uri = driver_output_uri(cluster.cluster, job_id)
            job.driver_control_files_uri = job.driver_output_resource_uri.rsplit("/", 1)[0] + "/"
            record = JobRecord(key=key, job=job, cluster_key=cluster.key)
            record.set_state(JobState.PENDING)
            bucket, _, name = job.driver_output_resource_uri[len("gs://") :].partition("/")
            runner = JobRunner(
                store=self.store,
                record=record,
                launcher=self.launcher,
                scheduler_address=cluster.dask.info.address if cluster.dask.info else "",
                credential=cluster.dask.credential,
                driver_output=self.store.settings.gcs_dir / bucket / f"{name}.000000000",
                on_finish=self._finished,
            )
            record.runner = runner
            operation = None
            if as_operation:
                operation = self.operations.start(project, region, self._metadata(record), on_cancel=runner.cancel)
                record.operation = operation.name
            self.store.jobs[key] = record
            cluster.set_idle(False)
            if request.request_id:
                self.store.job_requests[request_key] = key
            submitted = clone(job)
            runner.start()
        log.info("Job %s submitted to cluster %s", job_path(key), cluster_path(cluster.key))
        return submitted, operation

    @staticmethod
    def _metadata(record: JobRecord) -> dataproc_v1.JobMetadata:
        return dataproc_v1.JobMetadata(
            job_id=record.key[2],
            status=clone(record.job.status),
            operation_type="SUBMIT",
            start_time=record.job.status_history[0].state_start_time if record.job.status_history else now(),
        )

    def _finished(self, record: JobRecord) -> None:
        """Mark the cluster idle if this was its last job; finish the job's operation, if any."""
        with self.store.lock:
            cluster = self.store.clusters.get(record.cluster_key)
            if (
                cluster is not None
                and cluster.cluster.cluster_uuid == record.job.placement.cluster_uuid
                and all(job.done for job in self.store.jobs_of_cluster(record.cluster_key))
            ):
                cluster.set_idle(True)
            job, metadata = clone(record.job), self._metadata(record)
        if record.operation:
            self.operations.finish(record.operation, response=job, metadata=metadata)

    def submit_job(self, request: dataproc_v1.SubmitJobRequest) -> dataproc_v1.Job:
        """SubmitJob: return the PENDING job; it runs in the background."""
        submitted, _ = self._submit(request, as_operation=False)
        return submitted

    def submit_job_as_operation(self, request: dataproc_v1.SubmitJobRequest) -> operations_pb2.Operation:
        """SubmitJobAsOperation: the operation ends, with the Job as response, when the job ends."""
        _, operation = self._submit(request, as_operation=True)
        if operation is None:
            raise AlreadyExistsError("submit job", "Job", "with this request_id (submitted without an operation)")
        return operation

    # -- reading ------------------------------------------------------------------------------------

    def get_job(self, request: dataproc_v1.GetJobRequest) -> dataproc_v1.Job:
        """GetJob."""
        project, region = where(request.project_id, request.region)
        with self.store.lock:
            return clone(self._record(project, region, request.job_id).job)

    def list_jobs(self, request: dataproc_v1.ListJobsRequest) -> dataproc_v1.ListJobsResponse:
        """ListJobs, by ``cluster_name``, ``job_state_matcher`` and ``filter``, in pages by job id."""
        project, region = where(request.project_id, request.region)
        terms = job_terms(request.filter)
        if request.job_state_matcher == Matcher.ACTIVE:
            terms.append(("status.state", "ACTIVE"))
        elif request.job_state_matcher == Matcher.NON_ACTIVE:
            terms.append(("status.state", "NON_ACTIVE"))
        with self.store.lock:
            found = [
                clone(record.job)
                for key, record in self.store.jobs.items()
                if key[:2] == (project, region)
                and (not request.cluster_name or record.job.placement.cluster_name == request.cluster_name)
                and job_matches(record.job, terms)
            ]
        query = (
            f"projects/{project}/regions/{region}/jobs?cluster_name={request.cluster_name}"
            f"&job_state_matcher={int(request.job_state_matcher)}&filter={request.filter}"
        )
        jobs, token = page(
            found,
            key=lambda job: job.reference.job_id,
            page_size=request.page_size,
            page_token=request.page_token,
            query=query,
        )
        return dataproc_v1.ListJobsResponse(jobs=jobs, next_page_token=token)

    # -- changing -----------------------------------------------------------------------------------

    def update_job(self, request: dataproc_v1.UpdateJobRequest) -> dataproc_v1.Job:
        """UpdateJob: only ``labels`` can change, as on Dataproc."""
        project, region = where(request.project_id, request.region)
        paths = list(request.update_mask.paths)
        required(paths, "update_mask")
        if set(paths) != {"labels"}:
            raise InvalidArgumentError(f"Invalid update_mask paths {paths}: only 'labels' can be updated")
        with self.store.lock:
            record = self._record(project, region, request.job_id)
            record.job.labels.clear()
            record.job.labels.update(dict(request.job.labels))
            return clone(record.job)

    def cancel_job(self, request: dataproc_v1.CancelJobRequest) -> dataproc_v1.Job:
        """CancelJob: the job goes CANCEL_PENDING now and CANCELLED once its driver has stopped."""
        project, region = where(request.project_id, request.region)
        with self.store.lock:
            record = self._record(project, region, request.job_id)
            if record.done:
                raise FailedPreconditionError(
                    f"Job {job_path(record.key)} cannot be cancelled: it is already {JobState(record.state).name}"
                )
            if record.runner is None:
                raise FailedPreconditionError(f"Job {job_path(record.key)} has no driver to cancel")
            return record.runner.cancel()

    def delete_job(self, request: dataproc_v1.DeleteJobRequest) -> empty_pb2.Empty:
        """DeleteJob: forget a finished job (its driver output stays)."""
        project, region = where(request.project_id, request.region)
        with self.store.lock:
            record = self._record(project, region, request.job_id)
            if not record.done:
                raise FailedPreconditionError(
                    f"Job {job_path(record.key)} is still active (state {JobState(record.state).name}); "
                    "cancel it before deleting it"
                )
            del self.store.jobs[record.key]
        return empty_pb2.Empty()

    def handler(self) -> Any:
        """Return the gRPC handler of ``google.cloud.dataproc.v1.JobController``."""
        d = dataproc_v1
        return rpc.service(
            "google.cloud.dataproc.v1.JobController",
            {
                "SubmitJob": rpc.unary(self.submit_job, d.SubmitJobRequest, d.Job),
                "SubmitJobAsOperation": rpc.unary(
                    self.submit_job_as_operation, d.SubmitJobRequest, operations_pb2.Operation
                ),
                "GetJob": rpc.unary(self.get_job, d.GetJobRequest, d.Job),
                "ListJobs": rpc.unary(self.list_jobs, d.ListJobsRequest, d.ListJobsResponse),
                "UpdateJob": rpc.unary(self.update_job, d.UpdateJobRequest, d.Job),
                "CancelJob": rpc.unary(self.cancel_job, d.CancelJobRequest, d.Job),
                "DeleteJob": rpc.unary(self.delete_job, d.DeleteJobRequest, empty_pb2.Empty),
            },
        )
