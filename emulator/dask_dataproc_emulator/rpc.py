"""Build gRPC method handlers from plain functions, with the emulator's error mapping.

google-cloud-dataproc ships client stubs only, so services are registered by hand with
:func:`service`; requests and responses are the library's own message types (proto-plus
``serialize``/``deserialize``, or protobuf ``SerializeToString``/``FromString``). A method of the real
API the emulator does not serve is declared :data:`NOT_SERVED`: it is left out of its service, so the
catch-all of :mod:`dask_dataproc_emulator.refusals` answers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import grpc

from dask_dataproc_emulator.errors import EmulatorError

log = logging.getLogger(__name__)


class NotServed:
    """The type of :data:`NOT_SERVED`."""

    def __repr__(self) -> str:
        return "NOT_SERVED"


#: What :func:`unary` returns for a method the emulator does not serve, and :func:`service` leaves out.
NOT_SERVED: Final = NotServed()


def _codec(message_type: Any) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """Return (deserializer, serializer) of a proto-plus or protobuf message type."""
    if hasattr(message_type, "deserialize"):  # proto-plus
        return message_type.deserialize, message_type.serialize
    return message_type.FromString, lambda message: message.SerializeToString()


def unary(
    function: Callable[[Any], Any] | NotServed, request_type: Any, response_type: Any
) -> grpc.RpcMethodHandler | NotServed:
    """Return a unary-unary handler that calls ``function(request)`` (:data:`NOT_SERVED` stays so).

    An :class:`EmulatorError` becomes ``context.abort`` with its code and message; any other
    exception is logged and returned as INTERNAL.
    """
    if isinstance(function, NotServed):
        return function
    deserialize, _ = _codec(request_type)
    _, serialize = _codec(response_type)
    name = getattr(function, "__qualname__", repr(function))

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return function(request)
        except EmulatorError as err:
            log.info("%s -> %s: %s", name, err.code.name, err.message)
            context.abort(err.code, err.message)
        except Exception as err:  # a bug in the emulator: report it, keep serving
            log.exception("%s failed", name)
            context.abort(grpc.StatusCode.INTERNAL, f"Dataproc emulator error in {name}: {err!r}")

    return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=deserialize, response_serializer=serialize)


class Service(grpc.GenericRpcHandler):
    """The generic handler of one served gRPC service, which tells its name and the methods it serves.

    :param name: the full service name, e.g. ``google.cloud.dataproc.v1.JobController``.
    :param methods: method name to handler; :data:`NOT_SERVED` methods are left out.
    """

    def __init__(self, name: str, methods: Mapping[str, grpc.RpcMethodHandler | NotServed]) -> None:
        self.name = name
        self._handlers = {
            f"/{name}/{method}": handler for method, handler in methods.items() if not isinstance(handler, NotServed)
        }
        #: The names of the methods served, in declaration order.
        self.methods = tuple(path.rsplit("/", 1)[1] for path in self._handlers)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        """Return the handler of a method of this service, or None to let the next handler try."""
        return self._handlers.get(handler_call_details.method)


def service(name: str, methods: Mapping[str, grpc.RpcMethodHandler | NotServed]) -> Service:
    """Return the generic handler of the gRPC service ``name``, e.g. ``google.cloud.dataproc.v1.JobController``."""
    return Service(name, methods)
