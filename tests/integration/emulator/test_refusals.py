"""What the emulator does not serve is refused clearly: the code a client expects, a message naming the
emulator, what was asked, and what it serves instead.

Requests are built by the real google-cloud-dataproc clients, so the method paths are the real API's.
"""

from __future__ import annotations

import grpc
import pytest
from google.api_core.exceptions import InvalidArgument, MethodNotImplemented
from google.auth.credentials import AnonymousCredentials
from google.cloud import dataproc_v1

from .conftest import PROJECT, REGION, SHARED, WHERE

PARENT = f"projects/{PROJECT}/regions/{REGION}"

#: The services the emulator serves, as every refusal of an unserved method lists them.
SERVED = (
    "google.cloud.dataproc.v1.ClusterController",
    "google.cloud.dataproc.v1.JobController",
    "google.cloud.dataproc.v1.AutoscalingPolicyService",
    "google.cloud.dataproc.v1.WorkflowTemplateService",
    "google.longrunning.Operations",
)


def client(running, client_class):
    """Return a real client of ``client_class`` talking to the emulator."""
    transport = client_class.get_transport_class("grpc")(
        channel=grpc.insecure_channel(running.grpc_target), credentials=AnonymousCredentials()
    )
    return client_class(transport=transport)


@pytest.mark.parametrize(
    ("client_class", "method", "call"),
    [
        (
            dataproc_v1.BatchControllerClient,
            "BatchController/CreateBatch",
            lambda c: c.create_batch(parent=PARENT, batch={"pyspark_batch": {"main_python_file_uri": "gs://b/m.py"}}),
        ),
        (
            dataproc_v1.BatchControllerClient,
            "BatchController/ListBatches",
            lambda c: list(c.list_batches(parent=PARENT)),
        ),
        (
            dataproc_v1.SessionControllerClient,
            "SessionController/CreateSession",
            lambda c: c.create_session(parent=PARENT, session={"name": "s"}, session_id="s"),
        ),
        (
            dataproc_v1.SessionTemplateControllerClient,
            "SessionTemplateController/CreateSessionTemplate",
            lambda c: c.create_session_template(
                parent=PARENT, session_template={"name": f"{PARENT}/sessionTemplates/t"}
            ),
        ),
        (
            dataproc_v1.NodeGroupControllerClient,
            "NodeGroupController/GetNodeGroup",
            lambda c: c.get_node_group(name=f"{PARENT}/clusters/{SHARED}/nodeGroups/g"),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_an_unserved_service_is_unimplemented_naming_it_and_the_served_ones(running, client_class, method, call):
    with pytest.raises(MethodNotImplemented) as refused:
        call(client(running, client_class))

    message = refused.value.message
    service, name = method.split("/")
    assert "Dataproc emulator" in message
    assert f"google.cloud.dataproc.v1.{service}" in message and name in message
    assert all(served in message for served in SERVED), message


def test_an_unserved_method_of_a_served_service_names_what_that_service_serves(clusters):
    with pytest.raises(MethodNotImplemented) as refused:
        clusters.diagnose_cluster(request={**WHERE, "cluster_name": SHARED})

    message = refused.value.message
    assert "Dataproc emulator" in message and "DiagnoseCluster" in message
    assert "google.cloud.dataproc.v1.ClusterController" in message
    assert all(method in message for method in ("CreateCluster", "GetCluster", "ListClusters", "DeleteCluster"))


def test_served_methods_still_answer_beside_the_catch_all(clusters, jobs, policies):
    assert isinstance(list(clusters.list_clusters(**WHERE)), list)
    assert isinstance(list(jobs.list_jobs(**WHERE)), list)
    assert isinstance(list(policies.list_autoscaling_policies(parent=PARENT)), list)


#: Every job type of the Dataproc API but the one the emulator runs.
UNSERVED_JOB_TYPES = [
    field.name
    for field in dataproc_v1.Job.pb().DESCRIPTOR.oneofs_by_name["type_job"].fields
    if field.name != "pyspark_job"
]


def test_every_other_dataproc_job_type_is_listed():
    assert set(UNSERVED_JOB_TYPES) >= {
        "spark_job",
        "hadoop_job",
        "hive_job",
        "pig_job",
        "spark_sql_job",
        "spark_r_job",
        "presto_job",
        "trino_job",
        "flink_job",
    }


@pytest.mark.parametrize("kind", UNSERVED_JOB_TYPES)
@pytest.mark.parametrize("as_operation", [False, True], ids=["SubmitJob", "SubmitJobAsOperation"])
def test_an_unserved_job_type_is_invalid_argument_naming_it_and_pyspark(jobs, kind, as_operation):
    job = dataproc_v1.Job.pb(dataproc_v1.Job(placement={"cluster_name": SHARED}))
    getattr(job, kind).SetInParent()  # the job type set, as an empty message of that type
    submit = jobs.submit_job_as_operation if as_operation else jobs.submit_job

    with pytest.raises(InvalidArgument) as refused:
        submit(**WHERE, job=dataproc_v1.Job.wrap(job))

    message = refused.value.message
    assert "Dataproc emulator" in message
    assert f"job.{kind}" in message and "pyspark_job" in message
