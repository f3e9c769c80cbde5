package backend

import (
	"context"
	"time"
)

// Scripter is implemented by backends that run server-side procedures
// (CapScripts).
type Scripter interface {
	// CallScript runs the named procedure. succeeded is false when the
	// procedure reported a logical failure. A lock other than LockNone
	// needs CapScriptLocks; backends without it refuse one with
	// ErrUnsupported rather than run the procedure unlocked.
	CallScript(ctx context.Context, name string, args []Pair, lock LockMode) (results []Pair, succeeded bool, err error)
}

// Pair is an ordered key/value pair.
type Pair struct {
	Key   []byte
	Value []byte
}

// LockMode asks a script backend to hold locks around a procedure call. Only
// backends reporting CapScriptLocks honour LockRecord and LockGlobal; the
// others run every procedure as LockNone (see Capabilities).
type LockMode int

// The lock modes. The zero value is LockNone.
const (
	// LockNone runs the procedure without a lock of the gateway's asking.
	LockNone LockMode = iota
	// LockRecord holds the lock of the record named by the first
	// argument's key around the call.
	LockRecord
	// LockGlobal holds every record lock around the call.
	LockGlobal
)

// Tabler is implemented by backends with table databases (CapTables).
type Tabler interface {
	TablePut(ctx context.Context, db string, key []byte, cols map[string][]byte, mode PutMode) (applied bool, err error)
	TableGet(ctx context.Context, db string, key []byte) (cols map[string][]byte, found bool, err error)
	TableSearch(ctx context.Context, db string, q Query) (SearchResult, error)
	TableSetIndex(ctx context.Context, db string, column string, typ IndexType, keep bool) (applied bool, err error)
	TableGenerateID(ctx context.Context, db string) (int64, error)
}

// PutMode says how TablePut treats an existing row.
type PutMode int

// The put modes. The zero value is PutOverwrite.
const (
	PutOverwrite PutMode = iota
	PutKeep
	PutConcat
)

// CondOp is a table query operator. The values are the gateway's own; each
// backend maps them to its protocol (the tt adapter to Tokyo Tyrant's
// operator numbers). The zero value is no operator and is refused.
type CondOp int

// The table query operators.
const (
	CondStrEq CondOp = iota + 1
	CondStrInclude
	CondStrBeginsWith
	CondStrEndsWith
	CondStrAnd
	CondStrOr
	CondStrOrEq
	CondStrRegex
	CondNumEq
	CondNumGT
	CondNumGE
	CondNumLT
	CondNumLE
	CondNumBetween
	CondNumOrEq
	CondFTSPhrase
	CondFTSAnd
	CondFTSOr
	CondFTSExpression
)

// Condition tests one column of a table row.
type Condition struct {
	Column  string
	Op      CondOp
	Expr    string
	Negate  bool
	NoIndex bool
}

// OrderType is how a column is compared for ordering. The values are the
// gateway's own; the zero value is no order type and is refused.
type OrderType int

// The order types.
const (
	OrderStrAsc OrderType = iota + 1
	OrderStrDesc
	OrderNumAsc
	OrderNumDesc
)

// SearchAction is what a table search does with the matches.
type SearchAction int

// The search actions. The zero value is SearchKeys.
const (
	SearchKeys SearchAction = iota
	SearchGet
	SearchCount
	SearchDelete
)

// Query is a table search.
type Query struct {
	Conditions []Condition
	// OrderColumn and Order apply when HasOrder is true.
	HasOrder    bool
	OrderColumn string
	Order       OrderType
	Limit       int64
	Offset      int64
	Action      SearchAction
	Columns     []string
}

// Row is one table record.
type Row struct {
	Key     []byte
	Columns map[string][]byte
}

// SearchResult is what a table search returns: Keys for SearchKeys, Rows for
// SearchGet, Count for SearchCount and SearchDelete.
type SearchResult struct {
	Keys  [][]byte
	Rows  []Row
	Count int64
}

// IndexType is a table index kind, or an action on a column's index. The
// values are the gateway's own; the zero value is no index type and is
// refused.
type IndexType int

// The index types and index actions.
const (
	// IndexLexical indexes a column's values as strings.
	IndexLexical IndexType = iota + 1
	// IndexDecimal indexes a column's values as numbers.
	IndexDecimal
	// IndexToken indexes the space-separated tokens of a column.
	IndexToken
	// IndexQGram indexes a column for full-text search.
	IndexQGram
	// IndexOptimize rebuilds a column's index.
	IndexOptimize
	// IndexVoid removes a column's index.
	IndexVoid
)

// TTAdmin is implemented by backends with Tokyo Tyrant's maintenance calls
// (CapMaintenance).
type TTAdmin interface {
	Optimize(ctx context.Context, db string, params string) error
	Copy(ctx context.Context, db string, path string) error
	Restore(ctx context.Context, db string, path string, position uint64, checkConsistency bool) error
	SetMaster(ctx context.Context, host string, port int, position uint64, checkConsistency bool) error
	// Misc calls a misc function; succeeded is false when it reported
	// failure.
	Misc(ctx context.Context, db string, name string, args [][]byte, noUpdateLog bool) (results [][]byte, succeeded bool, err error)
}

// KTAdmin is implemented by backends with Kyoto Tycoon's replication
// maintenance calls (CapReplicationAdmin).
type KTAdmin interface {
	// TuneReplication sets the master; position 0 and interval 0 keep the
	// current values.
	TuneReplication(ctx context.Context, host string, port int, position uint64, interval time.Duration) error
	ListUpdateLogs(ctx context.Context) ([]UpdateLogFile, error)
	// RemoveUpdateLogs deletes files whose newest change is at or before
	// *before; nil removes all but the newest.
	RemoveUpdateLogs(ctx context.Context, before *uint64) error
}

// UpdateLogFile describes one update-log file.
type UpdateLogFile struct {
	Path        string
	Size        int64
	MaxPosition uint64
}

// FilterChecker is implemented by backends whose events name databases in
// their own way. The replication hub, which filters one shared stream for
// every subscriber, uses it to check a subscriber's filter and rewrite its
// database names as the backend's events carry them.
type FilterChecker interface {
	CheckFilter(ctx context.Context, f Filter) (Filter, error)
}

// LogPositioner is implemented by backends that know the position of the
// newest change in their log without reading it, so that a start position
// beyond it can be refused as invalid.
type LogPositioner interface {
	LogPosition() uint64
}

// RetentionChecker is implemented by backends that can tell whether their
// update log still holds every change after a position. The replication
// hub asks it before serving a start position from the backend rather than
// from its window, so that a consumer whose history is gone is told so
// instead of resuming silently at the oldest change left.
type RetentionChecker interface {
	// CheckRetained returns an error wrapping ErrOutOfRange, naming the
	// oldest retained position, when changes after `after` may have been
	// removed from the log. After 0 (the whole retained log) always passes.
	CheckRetained(ctx context.Context, after uint64) error
}
