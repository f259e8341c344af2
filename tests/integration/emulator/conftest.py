"""One emulator subprocess for the emulator's tests, real google-cloud clients, and a shared cluster."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import RunningEmulator, dask_processes, run_emulator

PROJECT = "itest"
REGION = "europe-west1"
WHERE = {"project_id": PROJECT, "region": REGION}
SHARED = "shared"
#: A single-node cluster: one scheduler and one worker, the cheapest cluster there is.
SINGLE_NODE = {"software_config": {"properties": {"dataproc:dataproc.allow.zero.workers": "true"}}}


@pytest.fixture(scope="session")
def running(tmp_path_factory) -> RunningEmulator:
    """The emulator all tests of this directory share (tests that kill one start their own)."""
    with run_emulator(tmp_path_factory.mktemp("dataproc-emulator")) as emulator:
        yield emulator
    assert dask_processes(parent=emulator.pid) == []


@pytest.fixture(scope="session")
def clusters(running) -> dataproc_v1.ClusterControllerClient:
    return running.cluster_client()


@pytest.fixture(scope="session")
def jobs(running) -> dataproc_v1.JobControllerClient:
    return running.job_client()


@pytest.fixture(scope="session")
def policies(running) -> dataproc_v1.AutoscalingPolicyServiceClient:
    return running.autoscaling_client()


@pytest.fixture(scope="session")
def storage(running):
    return running.storage_client(project=PROJECT)


def create_cluster(clusters, name: str, config: dict, *, region: str = REGION) -> dataproc_v1.Cluster:
    """Create a cluster and wait for the operation, as ``operation.result()`` does it."""
    operation = clusters.create_cluster(
        project_id=PROJECT, region=region, cluster={"cluster_name": name, "config": config}
    )
    return operation.result(timeout=180)


def delete_cluster(clusters, name: str, *, region: str = REGION) -> None:
    """Delete a cluster if it exists and wait until it is gone."""
    try:
        clusters.delete_cluster(project_id=PROJECT, region=region, cluster_name=name).result(timeout=120)
    except NotFound:
        pass


@pytest.fixture(scope="session")
def shared_cluster(clusters) -> dataproc_v1.Cluster:
    """A RUNNING cluster with two primary workers, for every test that only reads or runs jobs."""
    cluster = create_cluster(clusters, SHARED, {"worker_config": {"num_instances": 2}})
    yield cluster
    delete_cluster(clusters, SHARED)


def scheduler_address(cluster: dataproc_v1.Cluster) -> str:
    """Return the scheduler address the provider derives from the cluster's metadata (TLS unless opted out)."""
    metadata = cluster.config.gce_cluster_config.metadata
    protocol = "tcp" if metadata.get("dask-allow-plaintext") == "true" else "tls"
    return f"{protocol}://{metadata['dask-scheduler-host']}:{metadata['dask-scheduler-port']}"


def dask_client(running: RunningEmulator, cluster: dataproc_v1.Cluster, *, region: str = REGION):
    """Return a ``distributed.Client`` of an emulated cluster, holding the cluster's credential."""
    from distributed import Client

    security = running.cluster_security(PROJECT, region, cluster.cluster_name)
    return Client(scheduler_address(cluster), security=security, timeout=30)


def write_script(directory: Path, body: str, name: str = "job.py") -> Path:
    """Write a job script and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


def submit(jobs, main: str | Path, *, cluster: str = SHARED, args: list[str] | None = None, **job) -> dataproc_v1.Job:
    """Submit a pyspark job whose main file is a plain Python script."""
    request = {
        "placement": {"cluster_name": cluster},
        "pyspark_job": {"main_python_file_uri": str(main), "args": args or []},
        **job,
    }
    return jobs.submit_job(**WHERE, job=request)


def wait_for_job(jobs, job_id: str, *, timeout: float = 120, until=None) -> dataproc_v1.Job:
    """Poll GetJob until the job is done (or ``until(job)`` holds)."""
    until = until or (lambda job: job.done)
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get_job(**WHERE, job_id=job_id)
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
