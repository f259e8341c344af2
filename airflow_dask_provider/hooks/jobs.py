"""The Dataproc hook's calls about jobs: submit a Dask driver script, read, list, cancel and await jobs.

A mixin of :class:`~airflow_dask_provider.hooks.dataproc.DaskDataprocHook`, which gives it its
clients (``get_job_client``), its bounded polling (``poll``) and its log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from airflow_dask_provider import defaults
from airflow_dask_provider.checks import job_verdict
from airflow_dask_provider.hooks.bounded import teardown
from airflow_dask_provider.hooks.resources import JobInfo, job_info


class JobCalls:
    """Submit, read, list, cancel and await Dataproc jobs; plain data in and out."""

    def submit_dask_job(
        self,
        *,
        project_id: str,
        region: str,
        cluster_name: str,
        job_id: str,
        main_python_file_uri: str,
        args: Sequence[str] = (),
        python_file_uris: Sequence[str] = (),
        file_uris: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> JobInfo:
        """Submit a Dask driver script as a pyspark job whose main file is a plain Python script.

        Dataproc has no Dask job type; a pyspark job runs the script on the master node, where the
        scheduler runs, and gets tracking, cancelling and driver output. When ``job_id`` is taken,
        the existing job is returned with ``submitted_now=False``.
        """
        from google.api_core.exceptions import AlreadyExists

        client = self.get_job_client(region)
        job = {
            "reference": {"project_id": project_id, "job_id": job_id},
            "placement": {"cluster_name": cluster_name},
            "labels": dict(labels or {}),
            "pyspark_job": {
                "main_python_file_uri": main_python_file_uri,
                "args": list(args),
                "python_file_uris": list(python_file_uris),
                "file_uris": list(file_uris),
                "properties": dict(properties or {}),
            },
        }
        try:
            submitted = client.submit_job(request={"project_id": project_id, "region": region, "job": job})
        except AlreadyExists:
            existing = self.get_job_info(project_id=project_id, region=region, job_id=job_id)
            if existing is None:
                raise
            return existing
        return job_info(submitted, project_id=project_id, region=region, submitted_now=True)

    def get_job_info(self, *, project_id: str, region: str, job_id: str) -> JobInfo | None:
        """Return the job, or None when it does not exist."""
        from google.api_core.exceptions import NotFound

        try:
            job = self.get_job_client(region).get_job(project_id=project_id, region=region, job_id=job_id)
        except NotFound:
            return None
        return job_info(job, project_id=project_id, region=region)

    def list_active_jobs(self, *, project_id: str, region: str, cluster_name: str) -> list[JobInfo]:
        """Return the jobs that are pending or running on the cluster, with their labels."""
        from google.cloud.dataproc_v1 import ListJobsRequest

        jobs = self.get_job_client(region).list_jobs(
            request={
                "project_id": project_id,
                "region": region,
                "cluster_name": cluster_name,
                "job_state_matcher": ListJobsRequest.JobStateMatcher.ACTIVE,
            }
        )
        return [job_info(job, project_id=project_id, region=region) for job in jobs]

    def count_active_jobs(self, *, project_id: str, region: str, cluster_name: str) -> int:
        """Return how many Dataproc jobs are pending or running on the cluster."""
        return len(self.list_active_jobs(project_id=project_id, region=region, cluster_name=cluster_name))

    def cancel_dask_job(self, *, project_id: str, region: str, job_id: str) -> JobInfo | None:
        """Ask Dataproc to cancel a job (a teardown); return its state, or None when it does not exist."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        try:
            with teardown():
                job = self.get_job_client(region).cancel_job(project_id=project_id, region=region, job_id=job_id)
        except NotFound:
            return None
        except FailedPrecondition:
            with teardown():
                return self.get_job_info(project_id=project_id, region=region, job_id=job_id)
        return job_info(job, project_id=project_id, region=region)

    def wait_for_dask_job(
        self,
        *,
        project_id: str,
        region: str,
        job_id: str,
        timeout: float,
        on_poll: Callable[[JobInfo], None] | None = None,
    ) -> JobInfo:
        """Wait until the job has ended and return it; ``on_poll`` sees every state read."""

        def fetch() -> JobInfo:
            info = self.get_job_info(project_id=project_id, region=region, job_id=job_id)
            if info is None:
                raise LookupError(f"Job {job_id} disappeared while it was awaited")
            return info

        return self.poll(
            fetch,
            until=lambda info: job_verdict(info, job_id=job_id).done,
            timeout=timeout,
            what=f"Dask job {job_id}",
            state_of=lambda info: info.state,
            on_poll=on_poll,
            maximum=defaults.JOB_POLL_MAXIMUM_SECONDS,
        )
