"""WorkflowTemplateService on the emulator, through the real google-cloud-dataproc client."""

from __future__ import annotations

import textwrap
import time

import grpc
import pytest
from google.api_core.exceptions import FailedPrecondition, GoogleAPICallError, InvalidArgument, NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import dataproc_v1

from dask_dataproc_emulator.testing import dask_processes, run_emulator

from .conftest import PROJECT, REGION, SHARED, SINGLE_NODE, WHERE

PARENT = f"projects/{PROJECT}/regions/{REGION}"
BUCKET = "workflows"
Node = dataproc_v1.WorkflowNode.NodeState
State = dataproc_v1.WorkflowMetadata.State

#: A step: appends "NAME SCHEDULER-ANSWER" to the file in argv[1] after checking the files in argv[2:]
#: exist (what the prerequisite steps wrote), then exits with argv's last word if it is a number.
STEP = """
import os, sys, time
from distributed import Client

name, out, *needs = sys.argv[1:]
code = int(needs.pop()) if needs and needs[-1].isdigit() else 0
for need in needs:
    assert os.path.exists(need), f"{need} was not written before {name} ran"
if name.startswith("slow"):
    time.sleep(120)
with Client() as client:
    answer = client.submit(sum, range(11)).result()
with open(out, "w") as handle:
    handle.write(f"{name} {answer}")
sys.exit(code)
"""


@pytest.fixture(scope="module")
def templates(running) -> dataproc_v1.WorkflowTemplateServiceClient:
    client_class = dataproc_v1.WorkflowTemplateServiceClient
    transport = client_class.get_transport_class("grpc")(
        channel=grpc.insecure_channel(running.grpc_target), credentials=AnonymousCredentials()
    )
    return client_class(transport=transport)


@pytest.fixture(scope="module")
def step_uri(running) -> str:
    path = running.local_path(f"gs://{BUCKET}/jobs/step.py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(STEP))
    return f"gs://{BUCKET}/jobs/step.py"


def step(step_id: str, main: str, *args: str, after: tuple[str, ...] = ()) -> dict:
    return {
        "step_id": step_id,
        "pyspark_job": {"main_python_file_uri": main, "args": [step_id, *args]},
        "prerequisite_step_ids": list(after),
    }


def managed(prefix: str) -> dict:
    return {"managed_cluster": {"cluster_name": prefix, "config": SINGLE_NODE}}


def one_step(template_id: str, step_uri: str, prefix: str) -> dict:
    """A template of one step on a managed cluster named after ``prefix``, for tests of the API's rules."""
    return {"id": template_id, "placement": managed(prefix), "jobs": [step("only", step_uri, "gs://x/y")]}


def out(running, tmp_name: str) -> tuple[str, object]:
    uri = f"gs://{BUCKET}/out/{tmp_name}"
    return uri, running.local_path(uri)


# -- CRUD -------------------------------------------------------------------------------------------


def test_create_fills_name_version_and_times(templates, step_uri):
    created = templates.create_workflow_template(
        parent=PARENT,
        template=one_step("crud-one", step_uri, "crud"),
    )

    assert created.name == f"{PARENT}/workflowTemplates/crud-one"
    assert created.version == 1
    assert created.create_time == created.update_time
    assert templates.get_workflow_template(name=created.name) == created


def test_create_twice_is_already_exists(templates, step_uri):
    template = one_step("crud-twice", step_uri, "crud")
    templates.create_workflow_template(parent=PARENT, template=template)

    with pytest.raises(GoogleAPICallError, match="crud-twice") as caught:
        templates.create_workflow_template(parent=PARENT, template=template)
    assert caught.value.grpc_status_code == grpc.StatusCode.ALREADY_EXISTS


def test_update_needs_the_current_version_and_increments_it(templates, step_uri):
    created = templates.create_workflow_template(
        parent=PARENT,
        template=one_step("crud-update", step_uri, "crud"),
    )
    created.labels["team"] = "data"

    updated = templates.update_workflow_template(template=created)

    assert updated.version == 2
    assert updated.labels["team"] == "data"
    assert updated.create_time == created.create_time
    assert updated.update_time > created.update_time
    with pytest.raises(FailedPrecondition, match="version 1 was requested, the current version is 2"):
        templates.update_workflow_template(template=created)  # still version 1


def test_get_a_version_never_instantiated_is_not_found(templates, step_uri):
    created = templates.create_workflow_template(
        parent=PARENT,
        template=one_step("crud-versions", step_uri, "crud"),
    )
    templates.update_workflow_template(template=created)

    assert templates.get_workflow_template(request={"name": created.name, "version": 2}).version == 2
    with pytest.raises(NotFound, match="version 1"):
        templates.get_workflow_template(request={"name": created.name, "version": 1})


def test_delete_checks_the_version_then_forgets_the_template(templates, step_uri):
    created = templates.create_workflow_template(
        parent=PARENT,
        template=one_step("crud-delete", step_uri, "crud"),
    )

    with pytest.raises(FailedPrecondition, match="version 7"):
        templates.delete_workflow_template(request={"name": created.name, "version": 7})
    templates.delete_workflow_template(request={"name": created.name, "version": 1})

    with pytest.raises(NotFound, match="crud-delete"):
        templates.get_workflow_template(name=created.name)


def test_list_pages_through_every_template_of_the_region(templates, step_uri):
    parent = f"projects/{PROJECT}/regions/paging-region"
    ids = [f"paged-{index:02d}" for index in range(5)]
    for template_id in ids:
        templates.create_workflow_template(
            parent=parent,
            template=one_step(template_id, step_uri, "paged"),
        )

    first = templates.list_workflow_templates(request={"parent": parent, "page_size": 2})
    pages = list(first.pages)

    assert [len(p.templates) for p in pages] == [2, 2, 1]
    assert [t.id for p in pages for t in p.templates] == ids
    assert pages[0].next_page_token and not pages[-1].next_page_token


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t.pop("placement"), "template.placement"),
        (lambda t: t["jobs"][1].pop("step_id"), "template.jobs[1].step_id"),
        (lambda t: t["jobs"][1].update(step_id="first"), "template.jobs[1].step_id 'first'"),
        (lambda t: t["jobs"][1].update(prerequisite_step_ids=["nope"]), "template.jobs[1].prerequisite_step_ids"),
        (lambda t: t["jobs"][0].update(prerequisite_step_ids=["second"]), "cycle first -> second -> first"),
        (lambda t: t.update(jobs=[]), "template.jobs"),
        (lambda t: t["placement"]["managed_cluster"].pop("cluster_name"), "managed_cluster.cluster_name"),
        (lambda t: t.update(placement={"cluster_selector": {}}), "cluster_selector.cluster_labels"),
    ],
    ids=[
        "no-placement",
        "no-step-id",
        "duplicate-step-id",
        "unknown-prerequisite",
        "cycle",
        "no-jobs",
        "no-prefix",
        "no-labels",
    ],
)
def test_a_bad_template_is_refused_naming_the_field(templates, step_uri, change, field):
    template = {
        "id": "bad-template",
        "placement": managed("bad"),
        "jobs": [step("first", step_uri, "gs://x/1"), step("second", step_uri, "gs://x/2", after=("first",))],
    }
    change(template)

    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        templates.create_workflow_template(parent=PARENT, template=template)
    with pytest.raises(InvalidArgument, match=field.replace("[", r"\[").replace("]", r"\]")):
        templates.instantiate_inline_workflow_template(parent=PARENT, template=template)


# -- running workflows ------------------------------------------------------------------------------


def test_inline_workflow_runs_steps_in_order_on_a_managed_cluster_then_deletes_it(
    running, templates, clusters, jobs, step_uri
):
    first_uri, first_file = out(running, "inline-first.txt")
    second_uri, second_file = out(running, "inline-second.txt")
    template = {
        "placement": managed("inline"),
        "jobs": [
            # listed first, but waits for "first": the order comes from the prerequisites
            step("second", step_uri, second_uri, first_uri, after=("first",)),
            step("first", step_uri, first_uri),
        ],
    }

    operation = templates.instantiate_inline_workflow_template(parent=PARENT, template=template)
    operation.result(timeout=240)
    metadata = operation.metadata

    assert first_file.read_text() == "first 55"
    assert second_file.read_text() == "second 55"
    assert metadata.state == State.DONE
    assert metadata.cluster_name.startswith("inline-") and len(metadata.cluster_name) == len("inline-") + 13
    assert metadata.cluster_uuid
    assert metadata.create_cluster.done and not metadata.create_cluster.error
    assert metadata.delete_cluster.done and not metadata.delete_cluster.error
    assert metadata.start_time <= metadata.end_time
    nodes = {node.step_id: node for node in metadata.graph.nodes}
    assert {step_id: node.state for step_id, node in nodes.items()} == {
        "first": Node.COMPLETED,
        "second": Node.COMPLETED,
    }
    assert list(nodes["second"].prerequisite_step_ids) == ["first"]
    second_job = jobs.get_job(**WHERE, job_id=nodes["second"].job_id)
    assert nodes["second"].job_id.startswith("second-")
    assert second_job.labels["goog-dataproc-workflow-step-id"] == "second"
    assert second_job.labels["goog-dataproc-workflow-instance-id"] == operation.operation.name.rsplit("/", 1)[1]
    assert second_job.placement.cluster_name == metadata.cluster_name
    with pytest.raises(NotFound):
        clusters.get_cluster(**WHERE, cluster_name=metadata.cluster_name)


def test_stored_template_runs_on_the_selected_cluster_with_parameters(
    running, templates, clusters, shared_cluster, step_uri
):
    default_uri, _ = out(running, "selector-default.txt")
    chosen_uri, chosen_file = out(running, "selector-param.txt")
    created = templates.create_workflow_template(
        parent=PARENT,
        template={
            "id": "on-shared",
            "placement": {"cluster_selector": {"cluster_labels": {"goog-dataproc-cluster-name": SHARED}}},
            "jobs": [step("write", step_uri, default_uri)],
            "parameters": [{"name": "OUT", "fields": ["jobs['write'].pysparkJob.args[1]"]}],
        },
    )

    operation = templates.instantiate_workflow_template(
        request={"name": created.name, "version": 1, "parameters": {"OUT": chosen_uri}, "request_id": "on-shared-1"}
    )
    again = templates.instantiate_workflow_template(request={"name": created.name, "request_id": "on-shared-1"})
    operation.result(timeout=120)

    assert again.operation.name == operation.operation.name
    assert chosen_file.read_text() == "write 55"
    assert not running.local_path(default_uri).exists()
    assert operation.metadata.cluster_name == SHARED
    assert operation.metadata.cluster_uuid == shared_cluster.cluster_uuid
    assert operation.metadata.template == created.name and operation.metadata.version == 1
    assert dict(operation.metadata.parameters) == {"OUT": chosen_uri}
    assert not operation.metadata.create_cluster.operation_id  # nothing created, nothing deleted
    assert clusters.get_cluster(**WHERE, cluster_name=SHARED).status.state == dataproc_v1.ClusterStatus.State.RUNNING


def test_instantiate_with_a_stale_version_or_unknown_parameter_is_refused(templates, step_uri):
    created = templates.create_workflow_template(
        parent=PARENT,
        template=one_step("refused", step_uri, "refused"),
    )

    with pytest.raises(FailedPrecondition, match="version 3 was requested, the current version is 1"):
        templates.instantiate_workflow_template(request={"name": created.name, "version": 3})
    with pytest.raises(InvalidArgument, match="parameters\\['NOPE'\\]: not a parameter"):
        templates.instantiate_workflow_template(name=created.name, parameters={"NOPE": "x"})


def test_a_selector_matching_no_cluster_fails_the_workflow_naming_the_labels(templates, step_uri):
    template = {
        "placement": {"cluster_selector": {"cluster_labels": {"team": "nobody"}}},
        "jobs": [step("only", step_uri, "gs://x/y")],
    }

    operation = templates.instantiate_inline_workflow_template(parent=PARENT, template=template)

    with pytest.raises(GoogleAPICallError, match=r"No RUNNING cluster .* labels \{'team': 'nobody'\}"):
        operation.result(timeout=60)
    assert operation.metadata.state == State.DONE


def test_a_step_the_job_service_refuses_fails_the_workflow_naming_step_and_job_type(templates, shared_cluster):
    template = {
        "placement": {"cluster_selector": {"cluster_labels": {"goog-dataproc-cluster-name": SHARED}}},
        "jobs": [{"step_id": "jar-step", "spark_job": {"main_class": "org.example.Main"}}],
    }

    operation = templates.instantiate_inline_workflow_template(parent=PARENT, template=template)

    with pytest.raises(GoogleAPICallError, match=r"step jar-step could not be submitted: .*job\.spark_job"):
        operation.result(timeout=60)
    assert operation.metadata.graph.nodes[0].state == Node.FAILED


def test_a_failing_step_fails_the_workflow_and_the_managed_cluster_is_still_deleted(
    running, templates, clusters, jobs, step_uri
):
    boom_uri, _ = out(running, "fail-boom.txt")
    after_uri, after_file = out(running, "fail-after.txt")
    slow_uri, slow_file = out(running, "fail-slow.txt")
    template = {
        "placement": managed("failing"),
        "jobs": [
            step("boom", step_uri, boom_uri, "3"),
            step("after", step_uri, after_uri, after=("boom",)),
            step("slow-one", step_uri, slow_uri),
        ],
    }

    operation = templates.instantiate_inline_workflow_template(parent=PARENT, template=template)
    with pytest.raises(GoogleAPICallError) as caught:
        operation.result(timeout=240)
    metadata = operation.metadata
    nodes = {node.step_id: node for node in metadata.graph.nodes}

    assert f"step boom (job {nodes['boom'].job_id}) ended in ERROR" in caught.value.message
    assert nodes["boom"].state == Node.FAILED
    assert nodes["after"].state == Node.BLOCKED and not nodes["after"].job_id  # never started
    assert nodes["slow-one"].state == Node.FAILED
    slow_job = jobs.get_job(**WHERE, job_id=nodes["slow-one"].job_id)
    assert slow_job.status.state == dataproc_v1.JobStatus.State.CANCELLED
    assert not after_file.exists() and not slow_file.exists()
    assert metadata.state == State.DONE
    assert metadata.delete_cluster.done
    with pytest.raises(NotFound):
        clusters.get_cluster(**WHERE, cluster_name=metadata.cluster_name)


# -- no orphans -------------------------------------------------------------------------------------


def wait_until_running(operation, step_id: str, *, timeout: float = 180) -> dataproc_v1.WorkflowMetadata:
    """Refresh the operation until ``step_id``'s job runs; return the metadata then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation.done()  # refreshes the operation
        nodes = {node.step_id: node for node in operation.metadata.graph.nodes} if operation.metadata else {}
        if step_id in nodes and nodes[step_id].state == Node.RUNNING:
            return operation.metadata
        time.sleep(0.2)
    raise AssertionError(f"step {step_id} did not start within {timeout} s")


def cluster_processes(running, cluster_name: str) -> list:
    return [p for p in dask_processes(parent=running.pid, wait=5.0) if f"/clusters/{cluster_name}" in p.resource]


def test_cancelling_the_operation_cancels_the_step_and_deletes_the_managed_cluster(
    running, templates, clusters, jobs, step_uri
):
    slow_uri, slow_file = out(running, "cancel-slow.txt")
    template = {"placement": managed("cancelled"), "jobs": [step("slow-step", step_uri, slow_uri)]}
    operation = templates.instantiate_inline_workflow_template(parent=PARENT, template=template)
    metadata = wait_until_running(operation, "slow-step")

    templates.transport.operations_client.cancel_operation(operation.operation.name)

    with pytest.raises(GoogleAPICallError, match="was cancelled"):
        operation.result(timeout=120)
    job_id = operation.metadata.graph.nodes[0].job_id
    assert jobs.get_job(**WHERE, job_id=job_id).status.state == dataproc_v1.JobStatus.State.CANCELLED
    assert not slow_file.exists()
    with pytest.raises(NotFound):
        clusters.get_cluster(**WHERE, cluster_name=metadata.cluster_name)
    assert cluster_processes(running, metadata.cluster_name) == []


def test_deleting_the_managed_cluster_fails_the_workflow_and_leaves_no_process(running, templates, clusters, step_uri):
    slow_uri, _ = out(running, "deleted-slow.txt")
    template = {"placement": managed("deleted"), "jobs": [step("slow-step", step_uri, slow_uri)]}
    operation = templates.instantiate_inline_workflow_template(parent=PARENT, template=template)
    metadata = wait_until_running(operation, "slow-step")

    clusters.delete_cluster(**WHERE, cluster_name=metadata.cluster_name).result(timeout=120)

    with pytest.raises(GoogleAPICallError, match="step slow-step .* cluster deleted"):
        operation.result(timeout=120)
    assert operation.metadata.state == State.DONE
    assert cluster_processes(running, metadata.cluster_name) == []


def test_stopping_the_emulator_stops_its_workflows_and_leaves_no_process(tmp_path):
    with run_emulator(tmp_path / "emulator") as emulator:  # raises if it does not stop cleanly
        main = emulator.local_path(f"gs://{BUCKET}/jobs/step.py")
        main.parent.mkdir(parents=True, exist_ok=True)
        main.write_text(textwrap.dedent(STEP))
        client_class = dataproc_v1.WorkflowTemplateServiceClient
        transport = client_class.get_transport_class("grpc")(
            channel=grpc.insecure_channel(emulator.grpc_target), credentials=AnonymousCredentials()
        )
        client = client_class(transport=transport)
        template = {
            "placement": managed("stopped"),
            "jobs": [step("slow-step", f"gs://{BUCKET}/jobs/step.py", f"gs://{BUCKET}/out/stopped.txt")],
        }
        operation = client.instantiate_inline_workflow_template(parent=PARENT, template=template)
        wait_until_running(operation, "slow-step")
        assert dask_processes(parent=emulator.pid) != []

    assert emulator.process.returncode == 0
    assert dask_processes(parent=emulator.pid) == []
    assert "shutting down: the workflow was stopped" in emulator.log_file.read_text()
