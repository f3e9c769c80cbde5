from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

CONDITION_OPERATOR_FTS_AND: ConditionOperator
CONDITION_OPERATOR_FTS_EXPRESSION: ConditionOperator
CONDITION_OPERATOR_FTS_OR: ConditionOperator
CONDITION_OPERATOR_FTS_PHRASE: ConditionOperator
CONDITION_OPERATOR_NUM_BETWEEN: ConditionOperator
CONDITION_OPERATOR_NUM_EQ: ConditionOperator
CONDITION_OPERATOR_NUM_GE: ConditionOperator
CONDITION_OPERATOR_NUM_GT: ConditionOperator
CONDITION_OPERATOR_NUM_LE: ConditionOperator
CONDITION_OPERATOR_NUM_LT: ConditionOperator
CONDITION_OPERATOR_NUM_OR_EQ: ConditionOperator
CONDITION_OPERATOR_STR_AND: ConditionOperator
CONDITION_OPERATOR_STR_BEGINS_WITH: ConditionOperator
CONDITION_OPERATOR_STR_ENDS_WITH: ConditionOperator
CONDITION_OPERATOR_STR_EQ: ConditionOperator
CONDITION_OPERATOR_STR_INCLUDE: ConditionOperator
CONDITION_OPERATOR_STR_OR: ConditionOperator
CONDITION_OPERATOR_STR_OR_EQ: ConditionOperator
CONDITION_OPERATOR_STR_REGEX: ConditionOperator
CONDITION_OPERATOR_UNSPECIFIED: ConditionOperator
DESCRIPTOR: _descriptor.FileDescriptor
INDEX_TYPE_DECIMAL: IndexType
INDEX_TYPE_LEXICAL: IndexType
INDEX_TYPE_OPTIMIZE: IndexType
INDEX_TYPE_QGRAM: IndexType
INDEX_TYPE_TOKEN: IndexType
INDEX_TYPE_UNSPECIFIED: IndexType
INDEX_TYPE_VOID: IndexType
ORDER_TYPE_NUM_ASC: OrderType
ORDER_TYPE_NUM_DESC: OrderType
ORDER_TYPE_STR_ASC: OrderType
ORDER_TYPE_STR_DESC: OrderType
ORDER_TYPE_UNSPECIFIED: OrderType
PUT_MODE_CONCAT: PutMode
PUT_MODE_KEEP: PutMode
PUT_MODE_OVERWRITE: PutMode
PUT_MODE_UNSPECIFIED: PutMode
SEARCH_ACTION_COUNT: SearchAction
SEARCH_ACTION_DELETE: SearchAction
SEARCH_ACTION_GET: SearchAction
SEARCH_ACTION_KEYS: SearchAction
SEARCH_ACTION_UNSPECIFIED: SearchAction

class Condition(_message.Message):
    __slots__ = ["column", "expr", "negate", "no_index", "operator"]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    EXPR_FIELD_NUMBER: _ClassVar[int]
    NEGATE_FIELD_NUMBER: _ClassVar[int]
    NO_INDEX_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    column: str
    expr: str
    negate: bool
    no_index: bool
    operator: ConditionOperator
    def __init__(self, column: _Optional[str] = ..., operator: _Optional[_Union[ConditionOperator, str]] = ..., expr: _Optional[str] = ..., negate: bool = ..., no_index: bool = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ["column", "type"]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    column: str
    type: OrderType
    def __init__(self, column: _Optional[str] = ..., type: _Optional[_Union[OrderType, str]] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ["columns", "key"]
    class ColumnsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.ScalarMap[str, bytes]
    key: bytes
    def __init__(self, key: _Optional[bytes] = ..., columns: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class TableGenerateIDRequest(_message.Message):
    __slots__ = ["db"]
    DB_FIELD_NUMBER: _ClassVar[int]
    db: str
    def __init__(self, db: _Optional[str] = ...) -> None: ...

class TableGenerateIDResponse(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class TableGetRequest(_message.Message):
    __slots__ = ["db", "key"]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class TableGetResponse(_message.Message):
    __slots__ = ["columns", "found"]
    class ColumnsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.ScalarMap[str, bytes]
    found: bool
    def __init__(self, found: bool = ..., columns: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class TablePutRequest(_message.Message):
    __slots__ = ["columns", "db", "key", "mode"]
    class ColumnsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.ScalarMap[str, bytes]
    db: str
    key: bytes
    mode: PutMode
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., columns: _Optional[_Mapping[str, bytes]] = ..., mode: _Optional[_Union[PutMode, str]] = ...) -> None: ...

class TablePutResponse(_message.Message):
    __slots__ = ["applied"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: bool = ...) -> None: ...

class TableSearchRequest(_message.Message):
    __slots__ = ["action", "columns", "conditions", "db", "limit", "offset", "order"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    action: SearchAction
    columns: _containers.RepeatedScalarFieldContainer[str]
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    db: str
    limit: int
    offset: int
    order: Order
    def __init__(self, db: _Optional[str] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., order: _Optional[_Union[Order, _Mapping]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., action: _Optional[_Union[SearchAction, str]] = ..., columns: _Optional[_Iterable[str]] = ...) -> None: ...

class TableSearchResponse(_message.Message):
    __slots__ = ["count", "keys", "rows"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    count: int
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...

class TableSetIndexRequest(_message.Message):
    __slots__ = ["column", "db", "keep", "type"]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    column: str
    db: str
    keep: bool
    type: IndexType
    def __init__(self, db: _Optional[str] = ..., column: _Optional[str] = ..., type: _Optional[_Union[IndexType, str]] = ..., keep: bool = ...) -> None: ...

class TableSetIndexResponse(_message.Message):
    __slots__ = ["applied"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: bool = ...) -> None: ...

class PutMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ConditionOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class SearchAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class IndexType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
