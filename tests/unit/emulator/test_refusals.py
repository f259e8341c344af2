"""The refusal messages and what a served service declares: no server, no network."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import empty_pb2

from dask_dataproc_emulator import rpc
from dask_dataproc_emulator.errors import InvalidArgumentError
from dask_dataproc_emulator.refusals import CatchAll, check_job_type, not_served


def handler() -> grpc.RpcMethodHandler:
    return rpc.unary(lambda request: request, empty_pb2.Empty, empty_pb2.Empty)


SERVICES = (
    rpc.service(
        "pkg.Clusters", {"Get": handler(), "List": handler(), "Diagnose": rpc.unary(rpc.NOT_SERVED, None, None)}
    ),
    rpc.service("pkg.Jobs", {"Submit": handler()}),
)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def test_a_service_serves_its_methods_and_leaves_not_served_ones_to_the_next_handler():
    clusters = SERVICES[0]

    assert clusters.methods == ("Get", "List")
    assert clusters.service(Details("/pkg.Clusters/Get")) is not None
    assert clusters.service(Details("/pkg.Clusters/Diagnose")) is None
    assert clusters.service(Details("/pkg.Jobs/Submit")) is None


def test_an_unknown_service_is_named_with_every_served_one():
    message = not_served("/pkg.Batches/CreateBatch", SERVICES)

    assert message.startswith("The Dataproc emulator does not serve pkg.Batches (CreateBatch was called)")
    assert message.endswith("it serves only pkg.Clusters, pkg.Jobs")


def test_an_unknown_method_of_a_served_service_is_named_with_the_methods_served():
    message = not_served("/pkg.Clusters/Diagnose", SERVICES)

    assert "does not serve pkg.Clusters/Diagnose; of pkg.Clusters it serves only Get, List" in message
    assert "pkg.Jobs" in message


def test_the_catch_all_answers_every_method():
    found = CatchAll(SERVICES).service(Details("/anything.At/All"))

    assert found is not None and found.unary_unary is not None


@pytest.mark.parametrize(
    ("kind", "match"), [(None, "Missing required field: job.pyspark_job"), ("spark_job", "job.spark_job")]
)
def test_only_pyspark_jobs_run(kind, match):
    check_job_type("pyspark_job")
    with pytest.raises(InvalidArgumentError, match=match):
        check_job_type(kind)
