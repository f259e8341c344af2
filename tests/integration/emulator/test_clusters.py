"""ClusterController through the real google-cloud-dataproc client, over gRPC, with real Dask processes."""

from __future__ import annotations

import time
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
from google.api_core.exceptions import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import dask_processes

from .conftest import PROJECT, REGION, SHARED, SINGLE_NODE, WHERE, dask_client, submit, write_script

State = dataproc_v1.ClusterStatus.State
OTHER_REGION = "us-central1"


def test_create_operation_ends_with_a_running_cluster(shared_cluster):
    assert shared_cluster.status.state == State.RUNNING
    assert shared_cluster.cluster_name == SHARED
    assert uuid.UUID(shared_cluster.cluster_uuid).version == 4


def test_status_history_records_creating_before_running(clusters, shared_cluster):
    cluster = clusters.get_cluster(**WHERE, cluster_name=SHARED)

    assert [status.state for status in cluster.status_history] == [State.CREATING]
    assert cluster.status.state_start_time >= cluster.status_history[0].state_start_time


def test_metadata_names_the_live_scheduler(running, shared_cluster):
    metadata = shared_cluster.config.gce_cluster_config.metadata

    assert metadata["dask-scheduler-host"] == "127.0.0.1"
    with dask_client(running, shared_cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def test_http_ports_carry_the_dashboard_behind_the_gateway_path(shared_cluster):
    [url] = shared_cluster.config.endpoint_config.http_ports.values()

    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/gateway/default/dask/")
    assert shared_cluster.config.endpoint_config.http_ports["Dask Dashboard"] == url


def test_dashboard_status_page_answers_200(shared_cluster):
    [url] = shared_cluster.config.endpoint_config.http_ports.values()

    with urllib.request.urlopen(url + "status", timeout=60) as response:
        assert response.status == 200


def test_instance_names_and_buckets_are_filled_in(shared_cluster):
    config = shared_cluster.config

    assert list(config.master_config.instance_names) == ["shared-m"]
    assert list(config.worker_config.instance_names) == ["shared-w-0", "shared-w-1"]
    assert config.worker_config.num_instances == 2
    assert config.config_bucket == f"dataproc-staging-{REGION}-emulator"
    assert config.temp_bucket == f"dataproc-temp-{REGION}-emulator"
    assert shared_cluster.labels["goog-dataproc-cluster-uuid"] == shared_cluster.cluster_uuid


def test_duplicate_cluster_name_is_already_exists(clusters, shared_cluster):
    with pytest.raises(AlreadyExists, match=f"projects/{PROJECT}/regions/{REGION}/clusters/{SHARED}"):
        clusters.create_cluster(**WHERE, cluster={"cluster_name": SHARED, "config": {}})


def test_same_request_id_returns_the_same_operation(clusters, shared_cluster):
    request_id = str(uuid.uuid4())
    request = {
        **WHERE,
        "cluster": {"cluster_name": "same-request", "config": SINGLE_NODE},
        "request_id": request_id,
    }
    first = clusters.create_cluster(request=request)
    try:
        second = clusters.create_cluster(request=request)

        assert second.operation.name == first.operation.name
    finally:
        clusters.delete_cluster(**WHERE, cluster_name="same-request").result(timeout=120)


@pytest.mark.parametrize("name", ["Upper", "1starts-with-digit", "ends-with-", "under_score", "a" * 52, ""])
def test_bad_cluster_name_is_invalid_argument(clusters, name):
    with pytest.raises(InvalidArgument, match="cluster_name"):
        clusters.create_cluster(**WHERE, cluster={"cluster_name": name, "config": {}})


def test_one_primary_worker_is_invalid_argument(clusters):
    with pytest.raises(InvalidArgument, match="config.worker_config.num_instances=1"):
        clusters.create_cluster(
            **WHERE, cluster={"cluster_name": "one", "config": {"worker_config": {"num_instances": 1}}}
        )


def test_missing_cluster_is_not_found_with_dataprocs_message(clusters):
    with pytest.raises(NotFound, match=f"Not found: Cluster projects/{PROJECT}/regions/{REGION}/clusters/nope"):
        clusters.get_cluster(**WHERE, cluster_name="nope")


def test_delete_with_another_uuid_is_failed_precondition(clusters, shared_cluster):
    with pytest.raises(FailedPrecondition, match="uuid"):
        clusters.delete_cluster(request={**WHERE, "cluster_name": SHARED, "cluster_uuid": str(uuid.uuid4())})


@pytest.mark.parametrize(
    ("filter_", "found"),
    [
        ("status.state = ACTIVE", True),
        ("status.state = running AND clusterName = shared", True),
        ("labels.goog-dataproc-cluster-name = shared", True),
        ("status.state = ERROR", False),
        ("labels.team = *", False),
    ],
)
def test_list_clusters_applies_the_filter(clusters, shared_cluster, filter_, found):
    names = [c.cluster_name for c in clusters.list_clusters(request={**WHERE, "filter": filter_})]

    assert (SHARED in names) is found


def test_diagnose_cluster_is_unimplemented(clusters, shared_cluster):
    from google.api_core.exceptions import MethodNotImplemented

    with pytest.raises(MethodNotImplemented, match="DiagnoseCluster"):
        clusters.diagnose_cluster(request={**WHERE, "cluster_name": SHARED})


# -- deletion: one cluster in another region, with a job running, deleted once for these tests ------


@pytest.fixture(scope="module")
def deleted(running, clusters, jobs, tmp_path_factory):
    """Create a cluster named like the shared one in another region, run a job on it, delete it."""
    tmp = tmp_path_factory.mktemp("deleted")
    before = clusters.create_cluster(
        project_id=PROJECT, region=OTHER_REGION, cluster={"cluster_name": SHARED, "config": SINGLE_NODE}
    ).result(timeout=180)
    pid_file = tmp / "pid"
    script = write_script(
        tmp, f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n"
    )
    job = jobs.submit_job(
        project_id=PROJECT,
        region=OTHER_REGION,
        job={"placement": {"cluster_name": SHARED}, "pyspark_job": {"main_python_file_uri": str(script)}},
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    owners = (
        f"projects/{PROJECT}/regions/{OTHER_REGION}/clusters/{SHARED}",
        f"projects/{PROJECT}/regions/{OTHER_REGION}/jobs/{job.reference.job_id}",
    )
    pids = [process.pid for process in dask_processes(parent=running.pid) if process.resource in owners]
    result = clusters.delete_cluster(project_id=PROJECT, region=OTHER_REGION, cluster_name=SHARED).result(timeout=120)
    final_job = jobs.get_job(project_id=PROJECT, region=OTHER_REGION, job_id=job.reference.job_id)
    return SimpleNamespace(before=before, pids=pids, result=result, job=final_job)


def test_same_name_in_another_region_is_another_cluster(deleted, shared_cluster):
    assert deleted.before.status.state == State.RUNNING
    assert deleted.before.cluster_uuid != shared_cluster.cluster_uuid


def test_deleted_cluster_is_not_found(deleted, clusters):
    with pytest.raises(NotFound):
        clusters.get_cluster(project_id=PROJECT, region=OTHER_REGION, cluster_name=SHARED)


def test_delete_leaves_no_process_of_the_cluster(deleted):
    import psutil

    assert len(deleted.pids) == 3  # scheduler, worker, job driver
    assert [pid for pid in deleted.pids if psutil.pid_exists(pid)] == []


def test_delete_ends_running_jobs_in_error(deleted):
    assert deleted.job.status.state == dataproc_v1.JobStatus.State.ERROR
    assert "cluster deleted" in deleted.job.status.details


def test_submit_to_a_creating_cluster_is_failed_precondition(clusters, jobs, tmp_path):
    clusters.create_cluster(**WHERE, cluster={"cluster_name": "creating", "config": SINGLE_NODE})
    try:
        with pytest.raises(FailedPrecondition, match="RUNNING"):
            submit(jobs, write_script(tmp_path, "print(1)\n"), cluster="creating")
    finally:
        clusters.delete_cluster(**WHERE, cluster_name="creating").result(timeout=120)


def test_delete_during_creation_fails_the_create_operation(clusters):
    creation = clusters.create_cluster(**WHERE, cluster={"cluster_name": "cut-short", "config": SINGLE_NODE})

    clusters.delete_cluster(**WHERE, cluster_name="cut-short").result(timeout=120)

    assert creation.exception(timeout=60) is not None
