"""Value serializers: how Python values become the bytes the gateway stores.

A serializer is any object with ``dumps(value) -> bytes`` and
``loads(data: bytes) -> value``. :class:`ktgrpc.Client` takes one instance or
one of the names ``"bytes"``, ``"str"``, ``"json"`` and ``"msgpack"``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, Union

__all__ = [
    "Serializer",
    "BytesSerializer",
    "StrSerializer",
    "JSONSerializer",
    "MsgpackSerializer",
    "resolve",
]


class Serializer(Protocol):
    """Turns values into bytes and back."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class BytesSerializer:
    """Values are bytes as stored; ``str`` is accepted on write as UTF-8."""

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError(f"value must be bytes or str with the bytes serializer, not {type(value).__name__}")

    def loads(self, data: bytes) -> bytes:
        return data


class StrSerializer:
    """Values are text in ``encoding``; undecodable bytes follow ``errors``."""

    def __init__(self, encoding: str = "utf-8", errors: str = "strict") -> None:
        self.encoding = encoding
        self.errors = errors

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if not isinstance(value, str):
            raise TypeError(f"value must be str with the str serializer, not {type(value).__name__}")
        return value.encode(self.encoding, self.errors)

    def loads(self, data: bytes) -> str:
        return data.decode(self.encoding, self.errors)


class JSONSerializer:
    """Values are JSON documents (UTF-8, compact)."""

    def __init__(self, **dumps_options: Any) -> None:
        self.options = {"separators": (",", ":"), "ensure_ascii": False, **dumps_options}

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, **self.options).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class MsgpackSerializer:
    """Values are MessagePack documents; needs the ``msgpack`` package."""

    def __init__(self) -> None:
        try:
            import msgpack
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the msgpack serializer needs the msgpack package "
                "(pip install 'ktgrpc[msgpack]', or Debian's python3-msgpack)"
            ) from e
        self._msgpack = msgpack

    def dumps(self, value: Any) -> bytes:
        return self._msgpack.packb(value, use_bin_type=True)

    def loads(self, data: bytes) -> Any:
        return self._msgpack.unpackb(data, raw=False)


_NAMED = {
    "bytes": BytesSerializer,
    "str": StrSerializer,
    "json": JSONSerializer,
    "msgpack": MsgpackSerializer,
}


def resolve(serializer: Union[str, Serializer, None]) -> Serializer:
    """Returns the serializer named, or ``serializer`` itself."""
    if serializer is None:
        return BytesSerializer()
    if isinstance(serializer, str):
        try:
            return _NAMED[serializer]()
        except KeyError:
            raise ValueError(
                f"unknown serializer {serializer!r}; use one of {', '.join(sorted(_NAMED))} or an object with dumps/loads"
            ) from None
    if not (hasattr(serializer, "dumps") and hasattr(serializer, "loads")):
        raise TypeError("a serializer needs dumps(value) -> bytes and loads(bytes) -> value")
    return serializer
