from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ktgrpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddRequest(_message.Message):
    __slots__ = ["db", "expire_time", "key", "ttl", "value"]
    DB_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    expire_time: _timestamp_pb2.Timestamp
    key: bytes
    ttl: _duration_pb2.Duration
    value: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddResponse(_message.Message):
    __slots__ = ["applied"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: bool = ...) -> None: ...

class AppendRequest(_message.Message):
    __slots__ = ["db", "expire_time", "keep_last", "key", "ttl", "value"]
    DB_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    expire_time: _timestamp_pb2.Timestamp
    keep_last: int
    key: bytes
    ttl: _duration_pb2.Duration
    value: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., keep_last: _Optional[int] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ["db", "key"]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ["expire_time", "found", "value_size"]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    found: bool
    value_size: int
    def __init__(self, found: bool = ..., value_size: _Optional[int] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompareAndSwapRequest(_message.Message):
    __slots__ = ["db", "expire_time", "key", "new_value", "old_value", "ttl"]
    DB_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    db: str
    expire_time: _timestamp_pb2.Timestamp
    key: bytes
    new_value: bytes
    old_value: bytes
    ttl: _duration_pb2.Duration
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., old_value: _Optional[bytes] = ..., new_value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompareAndSwapResponse(_message.Message):
    __slots__ = ["swapped"]
    SWAPPED_FIELD_NUMBER: _ClassVar[int]
    swapped: bool
    def __init__(self, swapped: bool = ...) -> None: ...

class GetBulkRequest(_message.Message):
    __slots__ = ["atomic", "db", "keys"]
    ATOMIC_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    atomic: bool
    db: str
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, db: _Optional[str] = ..., keys: _Optional[_Iterable[bytes]] = ..., atomic: bool = ...) -> None: ...

class GetBulkResponse(_message.Message):
    __slots__ = ["records"]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    def __init__(self, records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ["db", "key"]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ["expire_time", "found", "value"]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    found: bool
    value: bytes
    def __init__(self, found: bool = ..., value: _Optional[bytes] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IncrementDoubleRequest(_message.Message):
    __slots__ = ["db", "delta", "expire_time", "initial", "key", "must_exist", "ttl"]
    DB_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MUST_EXIST_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    db: str
    delta: float
    expire_time: _timestamp_pb2.Timestamp
    initial: float
    key: bytes
    must_exist: bool
    ttl: _duration_pb2.Duration
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., delta: _Optional[float] = ..., initial: _Optional[float] = ..., must_exist: bool = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IncrementDoubleResponse(_message.Message):
    __slots__ = ["applied", "value"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    value: float
    def __init__(self, applied: bool = ..., value: _Optional[float] = ...) -> None: ...

class IncrementRequest(_message.Message):
    __slots__ = ["db", "delta", "expire_time", "initial", "key", "must_exist", "ttl"]
    DB_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MUST_EXIST_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    db: str
    delta: int
    expire_time: _timestamp_pb2.Timestamp
    initial: int
    key: bytes
    must_exist: bool
    ttl: _duration_pb2.Duration
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., delta: _Optional[int] = ..., initial: _Optional[int] = ..., must_exist: bool = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IncrementResponse(_message.Message):
    __slots__ = ["applied", "value"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    value: int
    def __init__(self, applied: bool = ..., value: _Optional[int] = ...) -> None: ...

class MatchKeysRequest(_message.Message):
    __slots__ = ["db", "limit", "prefix", "regex", "similar"]
    DB_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    db: str
    limit: int
    prefix: bytes
    regex: str
    similar: Similarity
    def __init__(self, db: _Optional[str] = ..., prefix: _Optional[bytes] = ..., regex: _Optional[str] = ..., similar: _Optional[_Union[Similarity, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class MatchKeysResponse(_message.Message):
    __slots__ = ["keys"]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PipelineRequest(_message.Message):
    __slots__ = ["get", "get_bulk", "id", "remove", "remove_bulk", "set", "set_bulk"]
    GET_BULK_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REMOVE_BULK_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    SET_BULK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    get: GetRequest
    get_bulk: GetBulkRequest
    id: int
    remove: RemoveRequest
    remove_bulk: RemoveBulkRequest
    set: SetRequest
    set_bulk: SetBulkRequest
    def __init__(self, id: _Optional[int] = ..., get: _Optional[_Union[GetRequest, _Mapping]] = ..., set: _Optional[_Union[SetRequest, _Mapping]] = ..., remove: _Optional[_Union[RemoveRequest, _Mapping]] = ..., get_bulk: _Optional[_Union[GetBulkRequest, _Mapping]] = ..., set_bulk: _Optional[_Union[SetBulkRequest, _Mapping]] = ..., remove_bulk: _Optional[_Union[RemoveBulkRequest, _Mapping]] = ...) -> None: ...

class PipelineResponse(_message.Message):
    __slots__ = ["error", "get", "get_bulk", "id", "remove", "remove_bulk", "set", "set_bulk"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    GET_BULK_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REMOVE_BULK_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    SET_BULK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    error: RequestStatus
    get: GetResponse
    get_bulk: GetBulkResponse
    id: int
    remove: RemoveResponse
    remove_bulk: RemoveBulkResponse
    set: SetResponse
    set_bulk: SetBulkResponse
    def __init__(self, id: _Optional[int] = ..., error: _Optional[_Union[RequestStatus, _Mapping]] = ..., get: _Optional[_Union[GetResponse, _Mapping]] = ..., set: _Optional[_Union[SetResponse, _Mapping]] = ..., remove: _Optional[_Union[RemoveResponse, _Mapping]] = ..., get_bulk: _Optional[_Union[GetBulkResponse, _Mapping]] = ..., set_bulk: _Optional[_Union[SetBulkResponse, _Mapping]] = ..., remove_bulk: _Optional[_Union[RemoveBulkResponse, _Mapping]] = ...) -> None: ...

class RemoveBulkRequest(_message.Message):
    __slots__ = ["atomic", "db", "keys"]
    ATOMIC_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    atomic: bool
    db: str
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, db: _Optional[str] = ..., keys: _Optional[_Iterable[bytes]] = ..., atomic: bool = ...) -> None: ...

class RemoveBulkResponse(_message.Message):
    __slots__ = ["removed"]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ["db", "key"]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class RemoveResponse(_message.Message):
    __slots__ = ["removed"]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: bool = ...) -> None: ...

class ReplaceRequest(_message.Message):
    __slots__ = ["db", "expire_time", "key", "ttl", "value"]
    DB_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    expire_time: _timestamp_pb2.Timestamp
    key: bytes
    ttl: _duration_pb2.Duration
    value: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReplaceResponse(_message.Message):
    __slots__ = ["applied"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: bool = ...) -> None: ...

class RequestStatus(_message.Message):
    __slots__ = ["code", "details", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    details: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class SeizeRequest(_message.Message):
    __slots__ = ["db", "key"]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class SeizeResponse(_message.Message):
    __slots__ = ["expire_time", "found", "value"]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    found: bool
    value: bytes
    def __init__(self, found: bool = ..., value: _Optional[bytes] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetBulkRequest(_message.Message):
    __slots__ = ["atomic", "db", "no_reply", "records"]
    class Entry(_message.Message):
        __slots__ = ["expire_time", "key", "ttl", "value"]
        EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
        KEY_FIELD_NUMBER: _ClassVar[int]
        TTL_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        expire_time: _timestamp_pb2.Timestamp
        key: bytes
        ttl: _duration_pb2.Duration
        value: bytes
        def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    ATOMIC_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    NO_REPLY_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    atomic: bool
    db: str
    no_reply: bool
    records: _containers.RepeatedCompositeFieldContainer[SetBulkRequest.Entry]
    def __init__(self, db: _Optional[str] = ..., records: _Optional[_Iterable[_Union[SetBulkRequest.Entry, _Mapping]]] = ..., atomic: bool = ..., no_reply: bool = ...) -> None: ...

class SetBulkResponse(_message.Message):
    __slots__ = ["stored"]
    STORED_FIELD_NUMBER: _ClassVar[int]
    stored: int
    def __init__(self, stored: _Optional[int] = ...) -> None: ...

class SetRequest(_message.Message):
    __slots__ = ["db", "expire_time", "key", "no_reply", "ttl", "value"]
    DB_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NO_REPLY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    expire_time: _timestamp_pb2.Timestamp
    key: bytes
    no_reply: bool
    ttl: _duration_pb2.Duration
    value: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., no_reply: bool = ...) -> None: ...

class SetResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class Similarity(_message.Message):
    __slots__ = ["max_distance", "origin", "utf8"]
    MAX_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    UTF8_FIELD_NUMBER: _ClassVar[int]
    max_distance: int
    origin: bytes
    utf8: bool
    def __init__(self, origin: _Optional[bytes] = ..., max_distance: _Optional[int] = ..., utf8: bool = ...) -> None: ...
