"""An idiomatic client for the ktgrpc gateway over the generated stubs."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import random
import time
from typing import (
    Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union,
)

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from . import errors
from .serializers import Serializer, resolve
from .v1 import admin_pb2, admin_pb2_grpc
from .v1 import cursor_pb2, cursor_pb2_grpc
from .v1 import kv_pb2, kv_pb2_grpc
from .v1 import replication_pb2, replication_pb2_grpc

__all__ = ["Client", "Record", "Event", "DEFAULT_ADDRESS", "DEFAULT_MAX_MESSAGE_SIZE"]

Key = Union[str, bytes]
TTL = Union[int, float, _dt.timedelta, None]
When = Union[_dt.datetime, int, float, None]

DEFAULT_ADDRESS = "127.0.0.1:7878"
# The gateway's own default --max-message-size. gRPC's default of 4 MiB for
# received messages would refuse large values.
DEFAULT_MAX_MESSAGE_SIZE = 128 << 20

_UTC = _dt.timezone.utc


@dataclasses.dataclass(frozen=True)
class Record:
    """A record: its key, its value (through the client's serializer) and
    when it expires (``None`` = never)."""

    key: Key
    value: Any
    expire_time: Optional[_dt.datetime] = None


@dataclasses.dataclass(frozen=True)
class Event:
    """A change from the update log, or a progress report.

    ``position`` is where a later ``watch(after=position)`` resumes; progress
    reports (``operation == "progress"``) carry only that. ``value`` is the raw
    bytes logged (pass it to ``client.serializer.loads`` for ``"set"``).
    """

    position: int
    operation: str
    db: str = ""
    key: Key = b""
    value: bytes = b""
    expire_time: Optional[_dt.datetime] = None
    command: str = ""
    int_delta: int = 0
    double_delta: float = 0.0

    @property
    def is_progress(self) -> bool:
        return self.operation == "progress"


_RETRYABLE = (errors.Unavailable,)


class Client:
    """A connection to a ktgrpc gateway.

    ``Client("127.0.0.1:7878")`` connects in plaintext. Keys are ``str``
    (UTF-8) or ``bytes``; keys read back are ``str`` in which bytes that are
    not UTF-8 survive as surrogate escapes (``raw_keys=True`` gives bytes).
    Values go through ``serializer`` ("bytes", the default; "str"; "json";
    "msgpack"; or an object with ``dumps``/``loads``).

    TLS: ``tls=True`` verifies the gateway with the system's CAs;
    ``root_certificates`` (PEM bytes or a file path) with another CA;
    ``certificate_chain`` and ``private_key`` add a client certificate for
    mutual TLS; ``server_name`` overrides the name checked. ``token`` (or
    ``token_file``) sends ``authorization: Bearer <token>`` with every call.
    ``timeout`` (seconds) bounds every unary call; ``None`` means no deadline.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        target: str = DEFAULT_ADDRESS,
        *,
        db: str = "",
        serializer: Union[str, Serializer, None] = "bytes",
        raw_keys: bool = False,
        timeout: Optional[float] = None,
        tls: bool = False,
        root_certificates: Union[bytes, str, None] = None,
        certificate_chain: Union[bytes, str, None] = None,
        private_key: Union[bytes, str, None] = None,
        server_name: Optional[str] = None,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        options: Sequence[Tuple[str, Any]] = (),
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        self.db = db
        self.serializer = resolve(serializer)
        self.raw_keys = raw_keys
        self.timeout = timeout
        if token_file is not None:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._owns_channel = channel is None
        if channel is None:
            opts = [
                ("grpc.max_receive_message_length", max_message_size),
                ("grpc.max_send_message_length", max_message_size),
                *options,
            ]
            if server_name:
                opts.append(("grpc.ssl_target_name_override", server_name))
            if tls or root_certificates or certificate_chain or private_key or server_name:
                creds = grpc.ssl_channel_credentials(
                    root_certificates=_pem(root_certificates),
                    private_key=_pem(private_key),
                    certificate_chain=_pem(certificate_chain),
                )
                channel = grpc.secure_channel(target, creds, options=opts)
            else:
                channel = grpc.insecure_channel(target, options=opts)
        self.channel = channel
        self.target = target
        self._kv = kv_pb2_grpc.KVStub(channel)
        self._cursor = cursor_pb2_grpc.CursorStub(channel)
        self._replication = replication_pb2_grpc.ReplicationStub(channel)
        self._admin = admin_pb2_grpc.AdminStub(channel)

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (unless it was passed in as ``channel``)."""
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def with_db(self, db: str) -> "Client":
        """A client for database ``db`` sharing this one's connection."""
        other = object.__new__(Client)
        other.__dict__.update(self.__dict__)
        other.db = db
        other._owns_channel = False
        return other

    def __repr__(self) -> str:
        return f"Client({self.target!r}, db={self.db!r})"

    # -- helpers -----------------------------------------------------------

    def _call(self, method: Any, request: Any, timeout: Optional[float] = None) -> Any:
        try:
            return method(
                request,
                timeout=self.timeout if timeout is None else timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    def _key(self, key: Key) -> bytes:
        if isinstance(key, str):
            return key.encode("utf-8", "surrogateescape")
        if isinstance(key, (bytes, bytearray, memoryview)):
            return bytes(key)
        raise TypeError(f"key must be str or bytes, not {type(key).__name__}")

    def _out_key(self, key: bytes) -> Key:
        return key if self.raw_keys else key.decode("utf-8", "surrogateescape")

    def _dumps(self, value: Any) -> bytes:
        return self.serializer.dumps(value)

    def _loads(self, data: bytes) -> Any:
        return self.serializer.loads(data)

    # -- single records ----------------------------------------------------

    def get(self, key: Key, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` (None) when it does not exist."""
        r = self._call(self._kv.Get, kv_pb2.GetRequest(db=self.db, key=self._key(key)))
        return self._loads(r.value) if r.found else default

    def get_record(self, key: Key) -> Optional[Record]:
        """The record of ``key`` with its expiry, or None."""
        r = self._call(self._kv.Get, kv_pb2.GetRequest(db=self.db, key=self._key(key)))
        if not r.found:
            return None
        return Record(self._out_key(self._key(key)), self._loads(r.value), _time(r, "expire_time"))

    def set(self, key: Key, value: Any, ttl: TTL = None, *, expire_at: When = None) -> None:
        """Stores ``value`` under ``key``; ``ttl`` (seconds or timedelta) or
        ``expire_at`` (datetime or Unix time) make it expire."""
        req = kv_pb2.SetRequest(db=self.db, key=self._key(key), value=self._dumps(value))
        _expiry(req, ttl, expire_at)
        self._call(self._kv.Set, req)

    def add(self, key: Key, value: Any, ttl: TTL = None, *, expire_at: When = None) -> bool:
        """Stores ``value`` only if ``key`` does not exist; True if it did."""
        req = kv_pb2.AddRequest(db=self.db, key=self._key(key), value=self._dumps(value))
        _expiry(req, ttl, expire_at)
        return self._call(self._kv.Add, req).applied

    def replace(self, key: Key, value: Any, ttl: TTL = None, *, expire_at: When = None) -> bool:
        """Stores ``value`` only if ``key`` exists; True if it did."""
        req = kv_pb2.ReplaceRequest(db=self.db, key=self._key(key), value=self._dumps(value))
        _expiry(req, ttl, expire_at)
        return self._call(self._kv.Replace, req).applied

    def append(self, key: Key, value: Any, ttl: TTL = None, *, expire_at: When = None) -> None:
        """Appends the serialized ``value`` to the record (creating it)."""
        req = kv_pb2.AppendRequest(db=self.db, key=self._key(key), value=self._dumps(value))
        _expiry(req, ttl, expire_at)
        self._call(self._kv.Append, req)

    def remove(self, key: Key) -> bool:
        """Removes ``key``; True if it existed."""
        return self._call(self._kv.Remove, kv_pb2.RemoveRequest(db=self.db, key=self._key(key))).removed

    delete = remove

    def seize(self, key: Key, default: Any = None) -> Any:
        """Removes ``key`` and returns its value (``default`` if missing), atomically."""
        r = self._call(self._kv.Seize, kv_pb2.SeizeRequest(db=self.db, key=self._key(key)))
        return self._loads(r.value) if r.found else default

    def check(self, key: Key) -> Optional[int]:
        """The size of ``key``'s value in bytes, or None when it does not exist."""
        r = self._call(self._kv.Check, kv_pb2.CheckRequest(db=self.db, key=self._key(key)))
        return r.value_size if r.found else None

    def exists(self, key: Key) -> bool:
        """Whether ``key`` exists."""
        return self.check(key) is not None

    def cas(self, key: Key, old: Any, new: Any, ttl: TTL = None, *, expire_at: When = None) -> bool:
        """Compare and swap: replaces ``old`` by ``new`` atomically.

        ``old=None`` means "only if the key does not exist", ``new=None``
        removes the record. Returns whether the swap happened."""
        req = kv_pb2.CompareAndSwapRequest(db=self.db, key=self._key(key))
        if old is not None:
            req.old_value = self._dumps(old)
        if new is not None:
            req.new_value = self._dumps(new)
        _expiry(req, ttl, expire_at)
        return self._call(self._kv.CompareAndSwap, req).swapped

    def incr(self, key: Key, delta: int = 1, *, initial: Optional[int] = None,
             must_exist: bool = False, ttl: TTL = None, expire_at: When = None) -> Optional[int]:
        """Adds ``delta`` to the integer counter ``key`` and returns the result.

        A missing key starts at ``initial`` (0). With ``must_exist``, a
        missing key is not created and the result is None."""
        req = kv_pb2.IncrementRequest(db=self.db, key=self._key(key), delta=delta, must_exist=must_exist)
        if initial is not None:
            req.initial = initial
        _expiry(req, ttl, expire_at)
        r = self._call(self._kv.Increment, req)
        return r.value if r.applied else None

    def decr(self, key: Key, delta: int = 1, **kwargs: Any) -> Optional[int]:
        """Subtracts ``delta``; see :meth:`incr`."""
        return self.incr(key, -delta, **kwargs)

    def incr_double(self, key: Key, delta: float = 1.0, *, initial: Optional[float] = None,
                    must_exist: bool = False, ttl: TTL = None, expire_at: When = None) -> Optional[float]:
        """Adds ``delta`` to the decimal counter ``key``; see :meth:`incr`."""
        req = kv_pb2.IncrementDoubleRequest(db=self.db, key=self._key(key), delta=delta, must_exist=must_exist)
        if initial is not None:
            req.initial = initial
        _expiry(req, ttl, expire_at)
        r = self._call(self._kv.IncrementDouble, req)
        return r.value if r.applied else None

    # -- bulk --------------------------------------------------------------

    def get_bulk(self, keys: Iterable[Key], *, atomic: bool = False) -> Dict[Key, Any]:
        """The values of the ``keys`` that exist, as a dict."""
        r = self._call(self._kv.GetBulk, kv_pb2.GetBulkRequest(
            db=self.db, keys=[self._key(k) for k in keys], atomic=atomic))
        return {self._out_key(rec.key): self._loads(rec.value) for rec in r.records}

    def set_bulk(self, records: Mapping[Key, Any], ttl: TTL = None, *,
                 expire_at: When = None, atomic: bool = False) -> int:
        """Stores every item of ``records``; returns how many were stored."""
        entries = []
        for k, v in records.items():
            e = kv_pb2.SetBulkRequest.Entry(key=self._key(k), value=self._dumps(v))
            _expiry(e, ttl, expire_at)
            entries.append(e)
        req = kv_pb2.SetBulkRequest(db=self.db, records=entries, atomic=atomic)
        return self._call(self._kv.SetBulk, req).stored

    def remove_bulk(self, keys: Iterable[Key], *, atomic: bool = False) -> int:
        """Removes the ``keys``; returns how many existed."""
        r = self._call(self._kv.RemoveBulk, kv_pb2.RemoveBulkRequest(
            db=self.db, keys=[self._key(k) for k in keys], atomic=atomic))
        return r.removed

    def match(self, prefix: Optional[Key] = None, *, regex: Optional[str] = None,
              similar: Optional[Key] = None, max_distance: int = 1, utf8: bool = True,
              limit: int = 0) -> List[Key]:
        """Keys by ``prefix``, ``regex`` or edit distance to ``similar``."""
        if sum(x is not None for x in (prefix, regex, similar)) != 1:
            raise ValueError("match needs exactly one of prefix, regex or similar")
        req = kv_pb2.MatchKeysRequest(db=self.db, limit=limit)
        if prefix is not None:
            req.prefix = self._key(prefix)
        elif regex is not None:
            req.regex = regex
        else:
            req.similar.CopyFrom(kv_pb2.Similarity(origin=self._key(similar), max_distance=max_distance, utf8=utf8))
        return [self._out_key(k) for k in self._call(self._kv.MatchKeys, req).keys]

    # -- dict-style access ---------------------------------------------------

    def __getitem__(self, key: Key) -> Any:
        r = self._call(self._kv.Get, kv_pb2.GetRequest(db=self.db, key=self._key(key)))
        if not r.found:
            raise KeyError(key)
        return self._loads(r.value)

    def __setitem__(self, key: Key, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: Key) -> None:
        if not self.remove(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (str, bytes)) and self.exists(key)

    def __len__(self) -> int:
        return self.status()["count"]

    def __iter__(self) -> Iterator[Key]:
        for rec in self.scan(keys_only=True):
            yield rec.key

    def keys(self, prefix: Optional[Key] = None) -> Iterator[Key]:
        """Every key (under ``prefix``), in key order, streamed."""
        for rec in self.scan(prefix=prefix, keys_only=True):
            yield rec.key

    def items(self, prefix: Optional[Key] = None) -> Iterator[Tuple[Key, Any]]:
        """Every (key, value) (under ``prefix``), in key order, streamed."""
        for rec in self.scan(prefix=prefix):
            yield rec.key, rec.value

    # -- admin ---------------------------------------------------------------

    def status(self) -> Dict[str, Any]:
        """The database's record count, size in bytes and backend fields."""
        r = self._call(self._admin.Status, admin_pb2.StatusRequest(db=self.db))
        return {"count": r.count, "size": r.size, "fields": dict(r.fields)}

    def clear(self) -> None:
        """Removes every record of the database."""
        self._call(self._admin.Clear, admin_pb2.ClearRequest(db=self.db))

    # -- streams -------------------------------------------------------------

    def scan(self, prefix: Optional[Key] = None, *, start: Optional[Key] = None,
             end: Optional[Key] = None, reverse: bool = False, limit: int = 0,
             keys_only: bool = False, batch_size: int = 0, retries: int = 5) -> Iterator[Record]:
        """Streams the records of a key range in key order (descending with
        ``reverse``): ``start`` inclusive, ``end`` exclusive, within ``prefix``.

        When the stream breaks (UNAVAILABLE), the scan resumes after the last
        record it yielded, up to ``retries`` times in a row without progress;
        no record comes twice.
        """
        req = cursor_pb2.ScanRequest(db=self.db, reverse=reverse, limit=limit,
                                     keys_only=keys_only, batch_size=batch_size)
        if prefix is not None:
            req.prefix = self._key(prefix)
        if start is not None:
            req.start_key = self._key(start)
        if end is not None:
            req.end_key = self._key(end)
        yielded = 0
        failures = 0
        while True:
            stream = self._cursor.Scan(req, metadata=self._metadata)
            try:
                for batch in stream:
                    for rec in batch.records:
                        failures = 0
                        yielded += 1
                        # Resume after this record: the next key in byte order
                        # going forward, or below it (end is exclusive) going back.
                        if reverse:
                            req.end_key = rec.key
                        else:
                            req.start_key = rec.key + b"\x00"
                        if limit:
                            req.limit = limit - yielded
                        yield Record(self._out_key(rec.key),
                                     None if keys_only else self._loads(rec.value),
                                     _time(rec, "expire_time"))
                return
            except grpc.RpcError as e:
                err = errors.from_rpc_error(e)
                if not isinstance(err, _RETRYABLE) or failures >= retries:
                    raise err from None
                failures += 1
                _backoff(failures)
            finally:
                stream.cancel()
            if limit and yielded >= limit:
                return

    def watch(self, after: Optional[int] = None, *, prefix: Optional[Key] = None,
              dbs: Sequence[str] = (), operations: Sequence[str] = (),
              progress: bool = False, progress_interval: Optional[float] = None,
              retries: Optional[int] = None, max_backoff: float = 10.0) -> Iterator[Event]:
        """Streams changes from the update log, resuming across failures.

        ``after=None`` starts with the changes from now on; ``after=0`` replays
        the retained log; any other position resumes after it (exclusive). When
        the stream breaks (UNAVAILABLE: a gateway restart, a network failure),
        it subscribes again after the last position seen, with exponential
        backoff, ``retries`` times in a row (None: forever). Persist
        ``event.position`` to resume after a restart of your own process;
        ``progress=True`` also yields progress reports (``event.is_progress``)
        so that the position advances while nothing changes.
        """
        req = replication_pb2.SubscribeRequest(dbs=list(dbs))
        if after is None:
            req.now = True
        else:
            req.after = after
        if prefix is not None:
            req.key_prefix = self._key(prefix)
        for op in operations:
            req.operations.append(replication_pb2.Operation.Value("OPERATION_" + op.upper()))
        if progress_interval is not None:
            req.progress_interval.CopyFrom(_duration(progress_interval))
        # Subscribing now, not at the first next(), makes "from now on" mean
        # from this call on.
        first = self._replication.Subscribe(req, metadata=self._metadata)
        return self._watch(req, first, progress, retries, max_backoff)

    def _watch(self, req: Any, stream: Any, progress: bool, retries: Optional[int],
               max_backoff: float) -> Iterator[Event]:
        failures = 0
        while True:
            if stream is None:
                stream = self._replication.Subscribe(req, metadata=self._metadata)
            try:
                for msg in stream:
                    failures = 0
                    kind = msg.WhichOneof("kind")
                    if kind == "progress":
                        req.after = msg.progress.position
                        if progress:
                            yield Event(position=msg.progress.position, operation="progress")
                        continue
                    ev = msg.event
                    req.after = ev.position
                    yield Event(
                        position=ev.position,
                        operation=replication_pb2.Operation.Name(ev.operation)[len("OPERATION_"):].lower(),
                        db=ev.db,
                        key=self._out_key(ev.key),
                        value=ev.value,
                        expire_time=_time(ev, "expire_time"),
                        command=ev.command,
                        int_delta=ev.int_delta,
                        double_delta=ev.double_delta,
                    )
                return
            except grpc.RpcError as e:
                err = errors.from_rpc_error(e)
                if not isinstance(err, _RETRYABLE) or (retries is not None and failures >= retries):
                    raise err from None
                failures += 1
                _backoff(failures, max_backoff)
            finally:
                stream.cancel()
                stream = None


def _pem(value: Union[bytes, str, None]) -> Optional[bytes]:
    if value is None or isinstance(value, bytes):
        return value
    with open(os.fspath(value), "rb") as f:
        return f.read()


def _duration(seconds: Union[int, float, _dt.timedelta]) -> duration_pb2.Duration:
    if isinstance(seconds, _dt.timedelta):
        seconds = seconds.total_seconds()
    if seconds <= 0:
        raise ValueError(f"a ttl must be positive, not {seconds}")
    d = duration_pb2.Duration()
    d.seconds = int(seconds)
    d.nanos = int(round((seconds - int(seconds)) * 1e9))
    return d


def _expiry(req: Any, ttl: TTL, expire_at: When) -> None:
    if ttl is not None and expire_at is not None:
        raise ValueError("give ttl or expire_at, not both")
    if ttl is not None:
        req.ttl.CopyFrom(_duration(ttl))
    elif expire_at is not None:
        ts = timestamp_pb2.Timestamp()
        if isinstance(expire_at, _dt.datetime):
            if expire_at.tzinfo is None:
                raise ValueError("expire_at must be an aware datetime (e.g. tzinfo=timezone.utc)")
            t = expire_at.timestamp()
        else:
            t = float(expire_at)
        ts.seconds = int(t)
        ts.nanos = int(round((t - int(t)) * 1e9))
        req.expire_time.CopyFrom(ts)


def _time(msg: Any, field: str) -> Optional[_dt.datetime]:
    if not msg.HasField(field):
        return None
    ts = getattr(msg, field)
    return _dt.datetime.fromtimestamp(ts.seconds, _UTC) + _dt.timedelta(microseconds=ts.nanos // 1000)


def _backoff(failures: int, max_delay: float = 10.0) -> None:
    """Waits before a reconnection: 0.1 s doubling up to max_delay, jittered."""
    delay = min(max_delay, 0.1 * (2 ** (failures - 1)))
    time.sleep(delay * (0.5 + random.random() / 2))
