"""Clear refusals of what the emulator does not serve: other services, other methods, other job types.

Real Dataproc has more services than the emulator (BatchController, SessionController,
SessionTemplateController, NodeGroupController, ...) and methods it does not serve (DiagnoseCluster).
Without a refusal, grpc answers those with a bare ``Method not found!``. :class:`CatchAll` is
registered after every served service, so anything served matches first, and answers the rest with
UNIMPLEMENTED naming the emulator, the method asked and what it serves, read from the registered
services themselves (so a service added to the server is named without a change here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc

from dask_dataproc_emulator.errors import InvalidArgumentError
from dask_dataproc_emulator.rpc import Service

log = logging.getLogger(__name__)

#: The job types the emulator runs (a Dask driver is a pyspark job whose main file is a Python script).
RUNNABLE_JOB_TYPES = ("pyspark_job",)


def split_method(path: str) -> tuple[str, str]:
    """Return (service, method) of a gRPC method path ``/package.Service/Method``."""
    service, _, method = path.lstrip("/").rpartition("/")
    return service, method


def not_served(path: str, services: Sequence[Service]) -> str:
    """Return the message refusing the gRPC method ``path``: what was asked, and what is served."""
    service, method = split_method(path)
    names = ", ".join(served.name for served in services)
    same = next((served for served in services if served.name == service), None)
    if same is None:
        return f"The Dataproc emulator does not serve {service} ({method} was called); it serves only {names}"
    return (
        f"The Dataproc emulator does not serve {service}/{method}; of {service} it serves only "
        f"{', '.join(same.methods)} (its services: {names})"
    )


class CatchAll(grpc.GenericRpcHandler):
    """Answer every method no served service handles with UNIMPLEMENTED and a clear message.

    Register it last: it matches every method.

    :param services: the handlers registered before it; those made by :func:`~dask_dataproc_emulator.rpc.service`
        are named in its messages.
    """

    def __init__(self, services: Sequence[grpc.GenericRpcHandler]) -> None:
        self.services = tuple(service for service in services if isinstance(service, Service))

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """Return a handler refusing the method (the request is not even read as a message)."""
        message = not_served(handler_call_details.method, self.services)

        def refuse(request: Any, context: grpc.ServicerContext) -> None:
            log.info("%s -> UNIMPLEMENTED: %s", handler_call_details.method, message)
            context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

        return grpc.unary_unary_rpc_method_handler(refuse)


def check_job_type(kind: str | None) -> None:
    """Raise INVALID_ARGUMENT for a job of a type the emulator does not run (``kind`` is the ``type_job`` set)."""
    runs = ", ".join(RUNNABLE_JOB_TYPES)
    if kind is None:
        raise InvalidArgumentError(
            f"Missing required field: job.{RUNNABLE_JOB_TYPES[0]} (the Dataproc emulator runs {runs})"
        )
    if kind not in RUNNABLE_JOB_TYPES:
        raise InvalidArgumentError(
            f"Unsupported job type job.{kind}: the Dataproc emulator runs {runs} only "
            "(a Dask driver is a pyspark job whose main file is a plain Python script)"
        )
