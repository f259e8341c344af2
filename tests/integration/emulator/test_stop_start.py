"""StopCluster and StartCluster through the real google-cloud-dataproc client, with real Dask processes.

One module cluster goes through a whole cycle (a job running, stopped, refused while stopped, started
again, a job run after the start); what each step saw is kept in ``cycle`` and checked by one test
each. Deletion while stopped, and the emulator's shutdown with clusters stopped, stopping and starting,
use clusters of their own.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.request
import uuid

import pytest
from google.api_core.exceptions import FailedPrecondition, NotFound
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import dask_processes, run_emulator

from .conftest import PROJECT, REGION, SINGLE_NODE, WHERE, dask_client, submit, wait_for_job, write_script

State = dataproc_v1.ClusterStatus.State
JobState = dataproc_v1.JobStatus.State
NAME = "stop-start"
LABELS = {"team": "dask"}

ENDLESS = """
import time
print("started", flush=True)
time.sleep(600)
"""

SUM = """
from distributed import Client
with Client() as client:
    print("total", client.submit(sum, range(10)).result(), "workers", len(client.scheduler_info()["workers"]))
"""


def cluster_processes(emulator_pid: int, name: str, *, wait: float = 0.0) -> list:
    """Return the live Dask processes of one cluster (``wait``: keep looking until none is left)."""
    return [p for p in dask_processes(parent=emulator_pid, wait=wait) if p.resource.endswith(f"/clusters/{name}")]


@dataclasses.dataclass
class Cycle:
    """What each step of the stop/start cycle saw."""

    created: dataproc_v1.Cluster
    credential: str
    processes_before: list
    stop_metadata: dataproc_v1.ClusterOperationMetadata
    stopped: dataproc_v1.Cluster
    processes_while_stopped: list
    job_running_at_stop: dataproc_v1.Job
    refusals: dict[str, str]
    start_name: str
    start_again_name: str
    started: dataproc_v1.Cluster
    credential_after: str
    workers_after: int
    job_after_start: dataproc_v1.Job
    output_after_start: str


@pytest.fixture(scope="module")
def cycle(running, clusters, jobs, tmp_path_factory) -> Cycle:
    scripts = tmp_path_factory.mktemp("stop-start-jobs")
    created = clusters.create_cluster(
        **WHERE, cluster={"cluster_name": NAME, "config": SINGLE_NODE, "labels": LABELS}
    ).result(timeout=180)
    credential_file = running.cluster_credential(PROJECT, REGION, NAME)
    credential = credential_file.read_text()
    processes_before = cluster_processes(running.pid, NAME)
    endless = submit(jobs, write_script(scripts, ENDLESS, "endless.py"), cluster=NAME)
    wait_for_job(jobs, endless.reference.job_id, until=lambda job: job.status.state == JobState.RUNNING)

    stop = clusters.stop_cluster(request={**WHERE, "cluster_name": NAME, "cluster_uuid": created.cluster_uuid})
    stopped = stop.result(timeout=120)
    processes_while_stopped = cluster_processes(running.pid, NAME, wait=20)
    job_running_at_stop = jobs.get_job(**WHERE, job_id=endless.reference.job_id)

    refusals = {}
    calls = {
        "submit": lambda: submit(jobs, write_script(scripts, SUM, "sum.py"), cluster=NAME),
        "update": lambda: clusters.update_cluster(
            **WHERE,
            cluster_name=NAME,
            cluster={"labels": {"team": "other"}},
            update_mask={"paths": ["labels"]},
        ),
        "stop": lambda: clusters.stop_cluster(request={**WHERE, "cluster_name": NAME}),
        "start_wrong_uuid": lambda: clusters.start_cluster(
            request={**WHERE, "cluster_name": NAME, "cluster_uuid": str(uuid.uuid4())}
        ),
    }
    for what, call in calls.items():
        with pytest.raises(FailedPrecondition) as refused:
            call()
        refusals[what] = refused.value.message

    request_id = str(uuid.uuid4())
    start = clusters.start_cluster(request={**WHERE, "cluster_name": NAME, "request_id": request_id})
    start_again = clusters.start_cluster(request={**WHERE, "cluster_name": NAME, "request_id": request_id})
    started = start.result(timeout=180)
    with pytest.raises(FailedPrecondition) as refused:
        clusters.start_cluster(request={**WHERE, "cluster_name": NAME})
    refusals["start_running"] = refused.value.message
    with dask_client(running, started) as client:
        workers_after = len(client.scheduler_info()["workers"])
    after = submit(jobs, write_script(scripts, SUM, "sum.py"), cluster=NAME)
    job_after_start = wait_for_job(jobs, after.reference.job_id)
    output_after_start = running.local_path(job_after_start.driver_output_resource_uri + ".000000000").read_text()
    yield Cycle(
        created=created,
        credential=credential,
        processes_before=processes_before,
        stop_metadata=stop.metadata,
        stopped=stopped,
        processes_while_stopped=processes_while_stopped,
        job_running_at_stop=job_running_at_stop,
        refusals=refusals,
        start_name=start.operation.name,
        start_again_name=start_again.operation.name,
        started=started,
        credential_after=credential_file.read_text(),
        workers_after=workers_after,
        job_after_start=job_after_start,
        output_after_start=output_after_start,
    )
    clusters.delete_cluster(**WHERE, cluster_name=NAME).result(timeout=120)


def test_stop_goes_running_stopping_stopped(cycle):
    states = [status.state for status in cycle.stopped.status_history] + [cycle.stopped.status.state]

    assert states == [State.CREATING, State.RUNNING, State.STOPPING, State.STOPPED]


def test_stop_is_an_operation_with_cluster_operation_metadata(cycle):
    metadata = cycle.stop_metadata

    assert (metadata.operation_type, metadata.cluster_name) == ("STOP", NAME)
    assert metadata.cluster_uuid == cycle.created.cluster_uuid


def test_a_stopped_cluster_has_no_dask_process(cycle):
    assert len(cycle.processes_before) == 2  # the scheduler and the single node's worker
    assert cycle.processes_while_stopped == []


def test_a_job_running_when_the_cluster_stops_ends_in_error(cycle):
    job = cycle.job_running_at_stop

    assert job.status.state == JobState.ERROR
    assert job.status.details == "Job terminated: cluster stopped"


@pytest.mark.parametrize("what", ["submit", "update", "stop"])
def test_a_stopped_cluster_refuses_jobs_updates_and_a_second_stop_naming_its_state(cycle, what):
    assert f"clusters/{NAME} is in state STOPPED" in cycle.refusals[what]


def test_start_refuses_a_uuid_that_is_not_the_clusters(cycle):
    assert f"has uuid {cycle.created.cluster_uuid}, not the requested" in cycle.refusals["start_wrong_uuid"]


def test_start_with_the_same_request_id_returns_the_first_operation(cycle):
    assert cycle.start_again_name == cycle.start_name


def test_start_goes_stopped_starting_running(cycle):
    states = [status.state for status in cycle.started.status_history][-3:] + [cycle.started.status.state]

    assert states == [State.STOPPING, State.STOPPED, State.STARTING, State.RUNNING]


def test_a_running_cluster_cannot_be_started(cycle):
    assert "is in state RUNNING; only a STOPPED cluster can be started" in cycle.refusals["start_running"]


def test_config_labels_and_credential_are_kept(cycle):
    assert cycle.started.cluster_uuid == cycle.created.cluster_uuid
    assert cycle.started.labels["team"] == "dask"
    assert list(cycle.started.config.master_config.instance_names) == [f"{NAME}-m"]
    assert cycle.credential_after == cycle.credential


def test_the_started_cluster_publishes_its_new_scheduler_and_dashboard(cycle):
    dashboard = cycle.started.config.endpoint_config.http_ports["Dask Dashboard"]

    # The client reached the scheduler at the dask-scheduler-host/port metadata, with the kept credential.
    assert cycle.workers_after == 1
    with urllib.request.urlopen(dashboard + "status", timeout=60) as response:
        assert response.status == 200


def test_a_job_runs_after_the_start(cycle):
    assert cycle.job_after_start.status.state == JobState.DONE
    assert "total 45 workers 1" in cycle.output_after_start


def test_a_stopped_cluster_can_be_deleted(running, clusters):
    name = "stop-then-delete"
    clusters.create_cluster(**WHERE, cluster={"cluster_name": name, "config": SINGLE_NODE}).result(timeout=180)
    clusters.stop_cluster(request={**WHERE, "cluster_name": name}).result(timeout=120)

    clusters.delete_cluster(**WHERE, cluster_name=name).result(timeout=120)

    with pytest.raises(NotFound):
        clusters.get_cluster(**WHERE, cluster_name=name)
    assert cluster_processes(running.pid, name, wait=20) == []


def test_shutdown_leaves_no_process_with_clusters_stopped_stopping_and_starting(tmp_path):
    with run_emulator(tmp_path / "emulator") as emulator:
        client = emulator.cluster_client()
        names = ["stopped", "stopping", "starting"]
        for name in names:
            client.create_cluster(**WHERE, cluster={"cluster_name": name, "config": SINGLE_NODE}).result(timeout=180)
        client.stop_cluster(request={**WHERE, "cluster_name": "stopped"}).result(timeout=120)
        client.stop_cluster(request={**WHERE, "cluster_name": "starting"}).result(timeout=120)
        client.start_cluster(request={**WHERE, "cluster_name": "starting"})
        client.stop_cluster(request={**WHERE, "cluster_name": "stopping"})
        states = {name: client.get_cluster(**WHERE, cluster_name=name).status.state for name in names}
        time.sleep(0.5)  # the start has spawned its scheduler
    # run_emulator raised had the emulator left a process behind; this checks it once more.
    assert dask_processes(parent=emulator.pid) == []
    assert states["stopped"] == State.STOPPED


def test_a_stopped_cluster_is_still_deleted_by_its_idle_ttl(tmp_path):
    # At 240 emulated seconds per real second, the 1-hour idle TTL passes 15 s after the cluster runs:
    # time enough to stop it first.
    with run_emulator(tmp_path / "fast", time_scale=240) as emulator:
        client = emulator.cluster_client()
        config = {**SINGLE_NODE, "lifecycle_config": {"idle_delete_ttl": {"seconds": 3600}}}
        client.create_cluster(**WHERE, cluster={"cluster_name": "idle", "config": config}).result(timeout=180)
        client.stop_cluster(request={**WHERE, "cluster_name": "idle"}).result(timeout=120)
        assert client.get_cluster(**WHERE, cluster_name="idle").status.state == State.STOPPED
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                client.get_cluster(**WHERE, cluster_name="idle")
            except NotFound:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the stopped cluster was not deleted by its idle_delete_ttl")
