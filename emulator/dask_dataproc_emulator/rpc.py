"""Build gRPC method handlers from plain functions, with the emulator's error mapping.

google-cloud-dataproc ships client stubs only, so services are registered by hand with
``grpc.method_handlers_generic_handler``; requests and responses are the library's own message types
(proto-plus ``serialize``/``deserialize``, or protobuf ``SerializeToString``/``FromString``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from dask_dataproc_emulator.errors import EmulatorError

log = logging.getLogger(__name__)


def _codec(message_type: Any) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """Return (deserializer, serializer) of a proto-plus or protobuf message type."""
    if hasattr(message_type, "deserialize"):  # proto-plus
        return message_type.deserialize, message_type.serialize
    return message_type.FromString, lambda message: message.SerializeToString()


def unary(function: Callable[[Any], Any], request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    """Return a unary-unary handler that calls ``function(request)``.

    An :class:`EmulatorError` becomes ``context.abort`` with its code and message; any other
    exception is logged and returned as INTERNAL.
    """
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


def service(name: str, methods: Mapping[str, grpc.RpcMethodHandler]) -> grpc.GenericRpcHandler:
    """Return the generic handler of the gRPC service ``name``, e.g. ``google.cloud.dataproc.v1.JobController``."""
    return grpc.method_handlers_generic_handler(name, dict(methods))
