"""Long-running operations and the ``google.longrunning.Operations`` service.

Cluster creation, update and deletion, and SubmitJobAsOperation, return an ``Operation`` named
``projects/{p}/regions/{r}/operations/{uuid}`` at once; a background thread finishes it with a
response (packed in ``Any``) or an error (``google.rpc.Status``). Clients poll it with GetOperation on
the same channel, which is what ``operation.result()`` of google-api-core does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2

from dask_dataproc_emulator import rpc
from dask_dataproc_emulator.errors import EmulatorError, NotFoundError, UnimplementedError, required
from dask_dataproc_emulator.names import operation_path
from dask_dataproc_emulator.state import Store

#: Longest WaitOperation when the request names no timeout, in seconds.
DEFAULT_WAIT_SECONDS = 60.0


def pack(message: Any) -> any_pb2.Any:
    """Pack a proto-plus or protobuf message into ``Any``."""
    packed = any_pb2.Any()
    packed.Pack(type(message).pb(message) if hasattr(type(message), "pb") else message)
    return packed


class Operations:
    """Every operation of the emulator, and the gRPC service that reads them.

    :param store: the emulator's state; its lock guards operations too.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._operations: dict[str, operations_pb2.Operation] = {}
        self._cancellers: dict[str, Callable[[], None]] = {}

    # -- used by the services ---------------------------------------------------------------------

    def start(
        self, project: str, region: str, metadata: Any, *, on_cancel: Callable[[], None] | None = None
    ) -> operations_pb2.Operation:
        """Create a running operation with ``metadata`` and return a copy of it.

        :param on_cancel: called by CancelOperation; without it, cancelling is UNIMPLEMENTED.
        """
        name = operation_path(project, region, str(uuid.uuid4()))
        operation = operations_pb2.Operation(name=name, metadata=pack(metadata), done=False)
        with self.store.lock:
            self._operations[name] = operation
            if on_cancel is not None:
                self._cancellers[name] = on_cancel
            return self._copy(operation)

    def set_metadata(self, name: str, metadata: Any) -> None:
        """Replace an operation's metadata."""
        with self.store.lock:
            self._operations[name].metadata.CopyFrom(pack(metadata))

    def finish(
        self, name: str, *, response: Any = None, error: EmulatorError | None = None, metadata: Any = None
    ) -> None:
        """Mark an operation done with a response message or an error."""
        with self.store.lock:
            operation = self._operations.get(name)
            if operation is None or operation.done:
                return
            if metadata is not None:
                operation.metadata.CopyFrom(pack(metadata))
            if error is not None:
                operation.error.CopyFrom(error.to_status())
            else:
                operation.response.CopyFrom(pack(response if response is not None else empty_pb2.Empty()))
            operation.done = True
            self._cancellers.pop(name, None)
            self.store.changed.notify_all()

    def get(self, name: str) -> operations_pb2.Operation:
        """Return a copy of an operation, or raise NOT_FOUND."""
        required(name, "name")
        with self.store.lock:
            operation = self._operations.get(name)
            if operation is None:
                raise NotFoundError("Operation", name)
            return self._copy(operation)

    @staticmethod
    def _copy(operation: operations_pb2.Operation) -> operations_pb2.Operation:
        copy = operations_pb2.Operation()
        copy.CopyFrom(operation)
        return copy

    # -- the google.longrunning.Operations service ------------------------------------------------

    def get_operation(self, request: operations_pb2.GetOperationRequest) -> operations_pb2.Operation:
        """GetOperation."""
        return self.get(request.name)

    def list_operations(self, request: operations_pb2.ListOperationsRequest) -> operations_pb2.ListOperationsResponse:
        """ListOperations: every operation under ``name`` (``projects/{p}/regions/{r}/operations``).

        ``filter`` and paging are ignored: all operations come in one page.
        """
        required(request.name, "name")
        prefix = request.name.rstrip("/") + "/"
        with self.store.lock:
            found = [self._copy(op) for name, op in sorted(self._operations.items()) if name.startswith(prefix)]
        return operations_pb2.ListOperationsResponse(operations=found)

    def delete_operation(self, request: operations_pb2.DeleteOperationRequest) -> empty_pb2.Empty:
        """DeleteOperation: forget an operation (its work goes on)."""
        self.get(request.name)
        with self.store.lock:
            self._operations.pop(request.name, None)
            self._cancellers.pop(request.name, None)
        return empty_pb2.Empty()

    def cancel_operation(self, request: operations_pb2.CancelOperationRequest) -> empty_pb2.Empty:
        """CancelOperation: cancel the job of a SubmitJobAsOperation; a finished operation is left alone."""
        operation = self.get(request.name)
        if operation.done:
            return empty_pb2.Empty()
        with self.store.lock:
            cancel = self._cancellers.get(request.name)
        if cancel is None:
            raise UnimplementedError("Cancelling a cluster operation (delete the cluster instead)")
        cancel()
        return empty_pb2.Empty()

    def wait_operation(self, request: operations_pb2.WaitOperationRequest) -> operations_pb2.Operation:
        """WaitOperation: return the operation once done, or when ``timeout`` has passed."""
        timeout = request.timeout.ToTimedelta().total_seconds() if request.HasField("timeout") else 0
        deadline = time.monotonic() + (timeout or DEFAULT_WAIT_SECONDS)
        with self.store.lock:
            operation = self.get(request.name)
            while not operation.done and (left := deadline - time.monotonic()) > 0:
                self.store.changed.wait(left)
                operation = self.get(request.name)
            return operation

    def handler(self) -> Any:
        """Return the gRPC handler of ``google.longrunning.Operations``."""
        op = operations_pb2
        return rpc.service(
            "google.longrunning.Operations",
            {
                "GetOperation": rpc.unary(self.get_operation, op.GetOperationRequest, op.Operation),
                "ListOperations": rpc.unary(self.list_operations, op.ListOperationsRequest, op.ListOperationsResponse),
                "DeleteOperation": rpc.unary(self.delete_operation, op.DeleteOperationRequest, empty_pb2.Empty),
                "CancelOperation": rpc.unary(self.cancel_operation, op.CancelOperationRequest, empty_pb2.Empty),
                "WaitOperation": rpc.unary(self.wait_operation, op.WaitOperationRequest, op.Operation),
            },
        )
