from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ktgrpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

CURSOR_OPERATION_GET: CursorOperation
CURSOR_OPERATION_GET_KEY: CursorOperation
CURSOR_OPERATION_GET_VALUE: CursorOperation
CURSOR_OPERATION_JUMP: CursorOperation
CURSOR_OPERATION_JUMP_BACK: CursorOperation
CURSOR_OPERATION_REMOVE: CursorOperation
CURSOR_OPERATION_SEIZE: CursorOperation
CURSOR_OPERATION_SET_VALUE: CursorOperation
CURSOR_OPERATION_STEP: CursorOperation
CURSOR_OPERATION_STEP_BACK: CursorOperation
CURSOR_OPERATION_UNSPECIFIED: CursorOperation
DESCRIPTOR: _descriptor.FileDescriptor

class OpenRequest(_message.Message):
    __slots__ = ["db", "expire_time", "key", "operation", "step", "ttl", "value"]
    DB_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    expire_time: _timestamp_pb2.Timestamp
    key: bytes
    operation: CursorOperation
    step: bool
    ttl: _duration_pb2.Duration
    value: bytes
    def __init__(self, db: _Optional[str] = ..., operation: _Optional[_Union[CursorOperation, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., step: bool = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OpenResponse(_message.Message):
    __slots__ = ["expire_time", "key", "ok", "value"]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    key: bytes
    ok: bool
    value: bytes
    def __init__(self, ok: bool = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ["batch_size", "db", "end_key", "keys_only", "limit", "prefix", "reverse", "start_key"]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    END_KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REVERSE_FIELD_NUMBER: _ClassVar[int]
    START_KEY_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    db: str
    end_key: bytes
    keys_only: bool
    limit: int
    prefix: bytes
    reverse: bool
    start_key: bytes
    def __init__(self, db: _Optional[str] = ..., start_key: _Optional[bytes] = ..., end_key: _Optional[bytes] = ..., prefix: _Optional[bytes] = ..., reverse: bool = ..., limit: _Optional[int] = ..., keys_only: bool = ..., batch_size: _Optional[int] = ...) -> None: ...

class ScanResponse(_message.Message):
    __slots__ = ["records"]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    def __init__(self, records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ...) -> None: ...

class CursorOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
