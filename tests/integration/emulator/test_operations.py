"""google.longrunning.Operations: what the clients' operation futures poll."""

from __future__ import annotations

import grpc
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import dataproc_v1
from google.longrunning import operations_pb2

from .conftest import PROJECT, REGION, SHARED

OPERATIONS = f"projects/{PROJECT}/regions/{REGION}/operations"


@pytest.fixture(scope="module")
def create_operation(clusters, shared_cluster) -> operations_pb2.Operation:
    """The operation that created the shared cluster."""
    for operation in clusters.list_operations(request={"name": OPERATIONS}).operations:
        metadata = dataproc_v1.ClusterOperationMetadata.deserialize(operation.metadata.value)
        if metadata.cluster_uuid == shared_cluster.cluster_uuid and metadata.operation_type == "CREATE":
            return operation
    raise AssertionError("the shared cluster's create operation is not listed")


def test_create_operation_is_named_under_the_region(create_operation):
    assert create_operation.name.startswith(OPERATIONS + "/")


def test_create_operation_metadata_is_cluster_operation_metadata(create_operation):
    assert create_operation.metadata.type_url == "type.googleapis.com/google.cloud.dataproc.v1.ClusterOperationMetadata"
    metadata = dataproc_v1.ClusterOperationMetadata.deserialize(create_operation.metadata.value)
    assert metadata.cluster_name == SHARED
    assert metadata.status.state == dataproc_v1.ClusterOperationStatus.State.DONE


def test_create_operation_response_is_the_running_cluster(create_operation):
    assert create_operation.done
    cluster = dataproc_v1.Cluster.deserialize(create_operation.response.value)
    assert cluster.status.state == dataproc_v1.ClusterStatus.State.RUNNING


def test_get_operation_returns_it_by_name(clusters, create_operation):
    assert clusters.get_operation(request={"name": create_operation.name}).name == create_operation.name


def test_unknown_operation_is_not_found(clusters):
    with pytest.raises(NotFound, match="Operation"):
        clusters.get_operation(request={"name": f"{OPERATIONS}/nope"})


def test_wait_operation_returns_a_finished_operation(running, create_operation):
    wait = grpc.insecure_channel(running.grpc_target).unary_unary(
        "/google.longrunning.Operations/WaitOperation",
        request_serializer=operations_pb2.WaitOperationRequest.SerializeToString,
        response_deserializer=operations_pb2.Operation.FromString,
    )

    operation = wait(operations_pb2.WaitOperationRequest(name=create_operation.name), timeout=10)

    assert operation.done
