"""Exceptions raised by :class:`ktgrpc.Client`, one class per gRPC status.

Every exception is a :class:`KtgrpcError` carrying the status ``code``, the
gateway's ``message`` and, when the gateway attached a ``google.rpc.ErrorInfo``
detail, its ``reason``, ``domain`` and ``metadata``. A condition that is not
met (add on an existing key, a CAS mismatch) is a return value, never one of
these.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type

import grpc

__all__ = [
    "KtgrpcError",
    "Cancelled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
    "from_rpc_error",
    "register_reason",
]


class KtgrpcError(Exception):
    """A call to the gateway failed with a gRPC status other than OK."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: Optional[grpc.StatusCode] = None,
        reason: str = "",
        domain: str = "",
        metadata: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, grpc.StatusCode) else str(self.code)
        return f"{name}: {self.message}"


class Cancelled(KtgrpcError):
    """The call was cancelled, usually by the caller."""

    code = grpc.StatusCode.CANCELLED


class Unknown(KtgrpcError):
    """The gateway or the transport failed without a more precise status."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(KtgrpcError, ValueError):
    """Bad input: an empty key, a size over the limits, an unknown database."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(KtgrpcError, TimeoutError):
    """The call's deadline, or the backend's timeout, passed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(KtgrpcError):
    """What the call names does not exist (a script procedure, a resume position)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(KtgrpcError):
    """The thing the call creates exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(KtgrpcError, PermissionError):
    """The caller lacks the right the call needs, or the gateway is read-only."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(KtgrpcError):
    """A limit was hit: message size, rate limit, streams per connection."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(KtgrpcError):
    """The record cannot take the operation (incrementing text)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(KtgrpcError):
    """The call was aborted by a conflict."""

    code = grpc.StatusCode.ABORTED


class OutOfRange(KtgrpcError):
    """A value was outside its valid range."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(KtgrpcError, NotImplementedError):
    """The backend lacks the operation; the reason is CAPABILITY_MISSING and
    metadata["capability"] names what it lacks (Admin.Capabilities lists
    what the backend offers)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(KtgrpcError):
    """The gateway or backend failed internally."""

    code = grpc.StatusCode.INTERNAL


class Unavailable(KtgrpcError, ConnectionError):
    """The gateway or its backend cannot be reached; retrying may help."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(KtgrpcError):
    """Unrecoverable data loss or corruption."""

    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(KtgrpcError, PermissionError):
    """No valid credential (bearer token or client certificate) was presented."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: Dict[grpc.StatusCode, Type[KtgrpcError]] = {
    cls.code: cls
    for cls in (
        Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
        PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange,
        Unimplemented, Internal, Unavailable, DataLoss, Unauthenticated,
    )
}

_BY_REASON: Dict[Tuple[str, str], Type[KtgrpcError]] = {}


def register_reason(reason: str, cls: Type[KtgrpcError], domain: str = "") -> None:
    """Raise ``cls`` for errors whose ``google.rpc.ErrorInfo`` carries ``reason``.

    ``domain`` "" matches any domain. ``cls`` should subclass the class of the
    status code the gateway sends with that reason, so that ``except`` clauses
    written for the code keep catching it.
    """
    _BY_REASON[(domain, reason)] = cls


_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


def from_rpc_error(err: grpc.RpcError) -> KtgrpcError:
    """Turns a ``grpc.RpcError`` from a stub call into the matching exception."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    reason, domain, metadata = "", "", {}
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            info = _error_info(value)
            if info is not None:
                reason, domain, metadata = info
    cls = _BY_REASON.get((domain, reason)) or _BY_REASON.get(("", reason)) if reason else None
    if cls is None:
        cls = _BY_CODE.get(code, KtgrpcError)
    exc = cls(message or "", code=code, reason=reason, domain=domain, metadata=metadata)
    exc.__cause__ = err
    return exc


# google.rpc.Status and google.rpc.ErrorInfo are read with a minimal wire
# decoder so that the package needs no googleapis-common-protos: Status is
# {1: code, 2: message, 3: repeated Any}, Any is {1: type_url, 2: value},
# ErrorInfo is {1: reason, 2: domain, 3: map<string, string> metadata}.


def _error_info(status: bytes) -> Optional[Tuple[str, str, Dict[str, str]]]:
    try:
        for num, value in _fields(status):
            if num != 3:
                continue
            any_fields = dict(_fields(value))
            if any_fields.get(1, b"").decode() != _ERROR_INFO_TYPE:
                continue
            reason, domain, metadata = "", "", {}
            for fnum, fvalue in _fields(any_fields.get(2, b"")):
                if fnum == 1:
                    reason = fvalue.decode()
                elif fnum == 2:
                    domain = fvalue.decode()
                elif fnum == 3:
                    entry = dict(_fields(fvalue))
                    metadata[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
            return reason, domain, metadata
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return None


def _varint(buf: bytes, i: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """Yields (field number, value) for length-delimited fields; skips others."""
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            yield num, bytes(buf[i:i + n])
            i += n
        else:
            raise ValueError(f"unsupported wire type {wire}")
