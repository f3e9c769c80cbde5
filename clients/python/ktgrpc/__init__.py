"""Python client for the ktgrpc gateway (Kyoto Tycoon / Tokyo Tyrant over gRPC).

::

    import ktgrpc

    with ktgrpc.Client("127.0.0.1:7878") as client:
        client.set("greeting", "hello", ttl=3600)
        client.get("greeting")        # b'hello'
        client.get("missing")         # None

The generated messages and stubs are in ``ktgrpc.v1``, for example
``from ktgrpc.v1 import kv_pb2, kv_pb2_grpc``; ``ktgrpc.testing`` starts a
gateway binary for tests.
"""

from . import errors, serializers
from .client import DEFAULT_ADDRESS, DEFAULT_MAX_MESSAGE_SIZE, Client, Event, Record
from .errors import *  # noqa: F401,F403 - the exception classes
from .serializers import BytesSerializer, JSONSerializer, MsgpackSerializer, StrSerializer

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Record",
    "Event",
    "DEFAULT_ADDRESS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "BytesSerializer",
    "StrSerializer",
    "JSONSerializer",
    "MsgpackSerializer",
    "errors",
    "serializers",
    *errors.__all__,
]
