"""Errors of the emulated API and the gRPC status codes they map to: the only place that knows them.

Services raise these; :func:`dask_dataproc_emulator.rpc.unary` turns them into
``context.abort(code, message)``, and long-running operations store them as ``google.rpc.Status``.
Messages follow the wording of real Dataproc where it is known.
"""

from __future__ import annotations

import grpc
from google.rpc import status_pb2


class EmulatorError(Exception):
    """An error the API returns to its caller, with the status code real Dataproc uses for it."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_status(self) -> status_pb2.Status:
        """Return the error as a ``google.rpc.Status`` (for a failed operation)."""
        return status_pb2.Status(code=self.code.value[0], message=self.message)


class NotFoundError(EmulatorError):
    """The named cluster, job, policy or operation does not exist."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"Not found: {kind} {name}")


class AlreadyExistsError(EmulatorError):
    """A resource of that name (or id) exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, action: str, kind: str, name: str) -> None:
        super().__init__(f"Already exists: Failed to {action}: {kind} {name}")


class InvalidArgumentError(EmulatorError):
    """A request field is missing, malformed or out of range; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPreconditionError(EmulatorError):
    """The resource is in a state that does not allow the request."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class UnimplementedError(EmulatorError):
    """The emulator does not offer this method (real Dataproc does)."""

    code = grpc.StatusCode.UNIMPLEMENTED

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not implemented by the Dataproc emulator")


class UnavailableError(EmulatorError):
    """The emulator is shutting down."""

    code = grpc.StatusCode.UNAVAILABLE


class ClusterStartError(EmulatorError):
    """A cluster's Dask processes did not start; the cluster goes to ERROR."""

    code = grpc.StatusCode.INTERNAL


class WorkflowFailedError(EmulatorError):
    """A workflow's step failed, or the workflow was cancelled; the message names the step and its job."""

    code = grpc.StatusCode.UNKNOWN


class OperationCancelledError(EmulatorError):
    """The operation was overtaken (a cluster deleted while being created or resized)."""

    code = grpc.StatusCode.CANCELLED


def required(value: object, field: str) -> None:
    """Raise INVALID_ARGUMENT naming ``field`` when ``value`` is empty."""
    if not value:
        raise InvalidArgumentError(f"Missing required field: {field}")
