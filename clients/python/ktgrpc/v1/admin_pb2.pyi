from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CapabilitiesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CapabilitiesResponse(_message.Message):
    __slots__ = ["backend", "capabilities"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    backend: str
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    def __init__(self, backend: _Optional[str] = ..., capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ...) -> None: ...

class Capability(_message.Message):
    __slots__ = ["description", "name", "offered"]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    description: str
    name: str
    offered: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., offered: bool = ...) -> None: ...

class ClearRequest(_message.Message):
    __slots__ = ["db"]
    DB_FIELD_NUMBER: _ClassVar[int]
    db: str
    def __init__(self, db: _Optional[str] = ...) -> None: ...

class ClearResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CopyRequest(_message.Message):
    __slots__ = ["db", "path"]
    DB_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    db: str
    path: str
    def __init__(self, db: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class CopyResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DatabaseInfo(_message.Message):
    __slots__ = ["backend", "error", "healthy", "index", "kind", "name"]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    backend: str
    error: str
    healthy: bool
    index: int
    kind: str
    name: str
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., backend: _Optional[str] = ..., kind: _Optional[str] = ..., healthy: bool = ..., error: _Optional[str] = ...) -> None: ...

class DatabasesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DatabasesResponse(_message.Message):
    __slots__ = ["databases"]
    DATABASES_FIELD_NUMBER: _ClassVar[int]
    databases: _containers.RepeatedCompositeFieldContainer[DatabaseInfo]
    def __init__(self, databases: _Optional[_Iterable[_Union[DatabaseInfo, _Mapping]]] = ...) -> None: ...

class ListUpdateLogsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListUpdateLogsResponse(_message.Message):
    __slots__ = ["files"]
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[UpdateLogFile]
    def __init__(self, files: _Optional[_Iterable[_Union[UpdateLogFile, _Mapping]]] = ...) -> None: ...

class MiscRequest(_message.Message):
    __slots__ = ["args", "db", "name", "no_update_log"]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NO_UPDATE_LOG_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    db: str
    name: str
    no_update_log: bool
    def __init__(self, db: _Optional[str] = ..., name: _Optional[str] = ..., args: _Optional[_Iterable[bytes]] = ..., no_update_log: bool = ...) -> None: ...

class MiscResponse(_message.Message):
    __slots__ = ["results", "succeeded"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedScalarFieldContainer[bytes]
    succeeded: bool
    def __init__(self, succeeded: bool = ..., results: _Optional[_Iterable[bytes]] = ...) -> None: ...

class OptimizeRequest(_message.Message):
    __slots__ = ["db", "params"]
    DB_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    db: str
    params: str
    def __init__(self, db: _Optional[str] = ..., params: _Optional[str] = ...) -> None: ...

class OptimizeResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class RemoveUpdateLogsRequest(_message.Message):
    __slots__ = ["before"]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    before: int
    def __init__(self, before: _Optional[int] = ...) -> None: ...

class RemoveUpdateLogsResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ReplicationStatusRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ReplicationStatusResponse(_message.Message):
    __slots__ = ["catch_up_readers", "events_dropped", "position", "slow_subscribers_ended", "subscribers", "upstream_connections", "upstream_reconnects", "window_bytes", "window_events", "window_oldest_position"]
    CATCH_UP_READERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SLOW_SUBSCRIBERS_ENDED_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_BYTES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_EVENTS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_OLDEST_POSITION_FIELD_NUMBER: _ClassVar[int]
    catch_up_readers: int
    events_dropped: int
    position: int
    slow_subscribers_ended: int
    subscribers: int
    upstream_connections: int
    upstream_reconnects: int
    window_bytes: int
    window_events: int
    window_oldest_position: int
    def __init__(self, subscribers: _Optional[int] = ..., upstream_connections: _Optional[int] = ..., catch_up_readers: _Optional[int] = ..., window_events: _Optional[int] = ..., window_bytes: _Optional[int] = ..., window_oldest_position: _Optional[int] = ..., position: _Optional[int] = ..., slow_subscribers_ended: _Optional[int] = ..., events_dropped: _Optional[int] = ..., upstream_reconnects: _Optional[int] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ["fields"]
    class FieldsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ["check_consistency", "db", "path", "position"]
    CHECK_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    check_consistency: bool
    db: str
    path: str
    position: int
    def __init__(self, db: _Optional[str] = ..., path: _Optional[str] = ..., position: _Optional[int] = ..., check_consistency: bool = ...) -> None: ...

class RestoreResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class SetMasterRequest(_message.Message):
    __slots__ = ["check_consistency", "host", "port", "position"]
    CHECK_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    check_consistency: bool
    host: str
    port: int
    position: int
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., position: _Optional[int] = ..., check_consistency: bool = ...) -> None: ...

class SetMasterResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ["db"]
    DB_FIELD_NUMBER: _ClassVar[int]
    db: str
    def __init__(self, db: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ["count", "fields", "size"]
    class FieldsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    count: int
    fields: _containers.ScalarMap[str, str]
    size: int
    def __init__(self, count: _Optional[int] = ..., size: _Optional[int] = ..., fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SynchronizeRequest(_message.Message):
    __slots__ = ["command", "db", "hard"]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    command: str
    db: str
    hard: bool
    def __init__(self, db: _Optional[str] = ..., hard: bool = ..., command: _Optional[str] = ...) -> None: ...

class SynchronizeResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class TuneReplicationRequest(_message.Message):
    __slots__ = ["host", "interval", "port", "position"]
    HOST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    host: str
    interval: _duration_pb2.Duration
    port: int
    position: int
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., position: _Optional[int] = ..., interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TuneReplicationResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class UpdateLogFile(_message.Message):
    __slots__ = ["max_position", "path", "size"]
    MAX_POSITION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    max_position: int
    path: str
    size: int
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ..., max_position: _Optional[int] = ...) -> None: ...

class VacuumRequest(_message.Message):
    __slots__ = ["db", "steps"]
    DB_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    db: str
    steps: int
    def __init__(self, db: _Optional[str] = ..., steps: _Optional[int] = ...) -> None: ...

class VacuumResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...
