from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ktgrpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
OPERATION_APPEND: Operation
OPERATION_CLEAR: Operation
OPERATION_INCREMENT: Operation
OPERATION_INCREMENT_DOUBLE: Operation
OPERATION_MISC: Operation
OPERATION_OPTIMIZE: Operation
OPERATION_REMOVE: Operation
OPERATION_SET: Operation
OPERATION_SYNC: Operation
OPERATION_UNSPECIFIED: Operation

class Event(_message.Message):
    __slots__ = ["args", "command", "db", "double_delta", "expire_time", "int_delta", "keep_last", "key", "operation", "origin_server_id", "position", "raw", "value"]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_DELTA_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    INT_DELTA_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    command: str
    db: str
    double_delta: float
    expire_time: _timestamp_pb2.Timestamp
    int_delta: int
    keep_last: int
    key: bytes
    operation: Operation
    origin_server_id: int
    position: int
    raw: bytes
    value: bytes
    def __init__(self, position: _Optional[int] = ..., origin_server_id: _Optional[int] = ..., db: _Optional[str] = ..., operation: _Optional[_Union[Operation, str]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[bytes]] = ..., int_delta: _Optional[int] = ..., double_delta: _Optional[float] = ..., keep_last: _Optional[int] = ..., raw: _Optional[bytes] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ["position"]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ["after", "dbs", "key_prefix", "max_events_per_message", "now", "operations", "progress_interval", "server_id"]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    DBS_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENTS_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    after: int
    dbs: _containers.RepeatedScalarFieldContainer[str]
    key_prefix: bytes
    max_events_per_message: int
    now: bool
    operations: _containers.RepeatedScalarFieldContainer[Operation]
    progress_interval: _duration_pb2.Duration
    server_id: int
    def __init__(self, after: _Optional[int] = ..., now: bool = ..., dbs: _Optional[_Iterable[str]] = ..., key_prefix: _Optional[bytes] = ..., operations: _Optional[_Iterable[_Union[Operation, str]]] = ..., progress_interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., server_id: _Optional[int] = ..., max_events_per_message: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ["event", "events", "progress"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    event: Event
    events: EventBatch
    progress: Progress
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., events: _Optional[_Union[EventBatch, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ["after", "db", "key", "max_events_per_message", "prefix", "progress_interval", "snapshot_batch_size"]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENTS_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    after: int
    db: str
    key: bytes
    max_events_per_message: int
    prefix: bytes
    progress_interval: _duration_pb2.Duration
    snapshot_batch_size: int
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., prefix: _Optional[bytes] = ..., after: _Optional[int] = ..., progress_interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., snapshot_batch_size: _Optional[int] = ..., max_events_per_message: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ["event", "events", "progress", "snapshot"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    event: Event
    events: EventBatch
    progress: Progress
    snapshot: WatchSnapshot
    def __init__(self, snapshot: _Optional[_Union[WatchSnapshot, _Mapping]] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., events: _Optional[_Union[EventBatch, _Mapping]] = ...) -> None: ...

class WatchSnapshot(_message.Message):
    __slots__ = ["last", "position", "records"]
    LAST_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    last: bool
    position: int
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    def __init__(self, records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ..., position: _Optional[int] = ..., last: bool = ...) -> None: ...

class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
