from ktgrpc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
LOCK_MODE_GLOBAL: LockMode
LOCK_MODE_NONE: LockMode
LOCK_MODE_RECORD: LockMode
LOCK_MODE_UNSPECIFIED: LockMode

class CallRequest(_message.Message):
    __slots__ = ["args", "lock", "name"]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedCompositeFieldContainer[_common_pb2.Pair]
    lock: LockMode
    name: str
    def __init__(self, name: _Optional[str] = ..., args: _Optional[_Iterable[_Union[_common_pb2.Pair, _Mapping]]] = ..., lock: _Optional[_Union[LockMode, str]] = ...) -> None: ...

class CallResponse(_message.Message):
    __slots__ = ["results", "succeeded"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.Pair]
    succeeded: bool
    def __init__(self, succeeded: bool = ..., results: _Optional[_Iterable[_Union[_common_pb2.Pair, _Mapping]]] = ...) -> None: ...

class LockMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
