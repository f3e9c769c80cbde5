package backend

import (
	"context"
	"time"
)

// Backend is the core every store honours: what the gRPC services need from
// any backend. Features some backends lack are feature interfaces (Atomic,
// Scripter, Tabler, TTAdmin, KTAdmin) that a backend offers by listing their
// Capability; options of core calls that some backends refuse are listed
// the same way. Every method is safe for concurrent use.
type Backend interface {
	// Get reads one record; found is false when the key does not exist.
	Get(ctx context.Context, db string, key []byte) (rec Record, found bool, err error)
	// GetBulk reads many records and returns those that exist, in the order
	// of keys.
	GetBulk(ctx context.Context, db string, keys [][]byte, atomic bool) ([]Record, error)
	// Set stores a record, overwriting any existing value.
	Set(ctx context.Context, db string, key, value []byte, exp Expiry, opts WriteOptions) error
	// SetBulk stores many records and returns how many were stored.
	SetBulk(ctx context.Context, db string, entries []Entry, opts WriteOptions) (int64, error)
	// Add stores a record only if the key does not exist.
	Add(ctx context.Context, db string, key, value []byte, exp Expiry) (applied bool, err error)
	// Append appends value to the record, creating it when missing. keepLast
	// > 0 keeps only the last keepLast bytes of the result.
	Append(ctx context.Context, db string, key, value []byte, exp Expiry, keepLast int) error
	// Remove deletes a record; removed is false when it did not exist.
	Remove(ctx context.Context, db string, key []byte) (removed bool, err error)
	// RemoveBulk deletes many records and returns how many existed.
	RemoveBulk(ctx context.Context, db string, keys [][]byte, atomic bool) (int64, error)
	// Check reports a record's value size and expiration.
	Check(ctx context.Context, db string, key []byte) (info RecordInfo, found bool, err error)
	// Increment adds delta to an integer record and returns the new value.
	Increment(ctx context.Context, db string, key []byte, delta int64, opts IncrementOptions) (value int64, applied bool, err error)
	// IncrementDouble adds delta to a floating-point record and returns the
	// new value.
	IncrementDouble(ctx context.Context, db string, key []byte, delta float64, opts IncrementDoubleOptions) (value float64, applied bool, err error)
	// MatchKeys lists keys matching m; limit 0 means no limit.
	MatchKeys(ctx context.Context, db string, m Match, limit int64) ([][]byte, error)
	// Scan walks a key range and hands the records to fn in batches of at
	// most opts.BatchSize. It stops at the first error fn returns and returns
	// that error, which a walk in the server's own order rather than by key
	// may wrap in an *UnorderedScanError (errors.Is and errors.As see
	// through it).
	Scan(ctx context.Context, db string, opts ScanOptions, fn func(batch []Record) error) error
	// OpenCursor creates a stateful cursor on db. The caller must Close it.
	OpenCursor(ctx context.Context, db string) (Cursor, error)
	// Subscribe streams the update log from opts.After (exclusive) and then
	// follows new changes until ctx ends or fn returns an error. It returns
	// ctx.Err() when the context ends.
	Subscribe(ctx context.Context, opts SubscribeOptions, fn func(Update) error) error
	// Status describes a database.
	Status(ctx context.Context, db string) (Status, error)
	// Report returns the backend server's report fields.
	Report(ctx context.Context) (map[string]string, error)
	// Clear removes every record of db.
	Clear(ctx context.Context, db string) error
	// Synchronize flushes db to storage, running command afterwards when the
	// backend supports it.
	Synchronize(ctx context.Context, db string, hard bool, command string) error
	// Vacuum purges expired records; steps 0 means all the work.
	Vacuum(ctx context.Context, db string, steps int64) error
	// Databases lists the configured databases.
	Databases(ctx context.Context) ([]DatabaseInfo, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Capabilities lists what the backend offers beyond this interface.
	Capabilities() []Capability
	// Name identifies the backend kind and address in messages, for example
	// "kt://127.0.0.1:1978".
	Name() string
	// Close releases every resource the backend holds.
	Close() error
}

// Atomic is implemented by backends that read, test and write a record in
// one step (CapAtomic).
type Atomic interface {
	// Replace stores a record only if the key exists.
	Replace(ctx context.Context, db string, key, value []byte, exp Expiry) (applied bool, err error)
	// Seize reads and removes a record atomically.
	Seize(ctx context.Context, db string, key []byte) (rec Record, found bool, err error)
	// CompareAndSwap replaces the record if its value equals oldValue; a nil
	// oldValue means "must not exist" and a nil newValue means "remove".
	CompareAndSwap(ctx context.Context, db string, key, oldValue, newValue []byte, exp Expiry) (swapped bool, err error)
}

// Cursor is a stateful position in a database. Methods report ok=false when
// no record is found at the position they need; that is not an error.
type Cursor interface {
	// Jump moves to the first record at or after key; nil key means the
	// first record.
	Jump(ctx context.Context, key []byte) (ok bool, err error)
	// JumpBack moves to the last record at or before key; nil key means the
	// last record. Unordered databases return ErrUnsupported.
	JumpBack(ctx context.Context, key []byte) (ok bool, err error)
	// Step moves to the next record.
	Step(ctx context.Context) (ok bool, err error)
	// StepBack moves to the previous record. Unordered databases return
	// ErrUnsupported.
	StepBack(ctx context.Context) (ok bool, err error)
	// Get reads the current record, then steps when step is true.
	Get(ctx context.Context, step bool) (rec Record, ok bool, err error)
	// GetKey reads the current key, then steps when step is true.
	GetKey(ctx context.Context, step bool) (key []byte, ok bool, err error)
	// GetValue reads the current value, then steps when step is true.
	GetValue(ctx context.Context, step bool) (value []byte, ok bool, err error)
	// SetValue overwrites the current record's value, then steps when step is
	// true.
	SetValue(ctx context.Context, value []byte, exp Expiry, step bool) (ok bool, err error)
	// Remove deletes the current record and moves to the next.
	Remove(ctx context.Context) (ok bool, err error)
	// Seize reads and deletes the current record and moves to the next.
	Seize(ctx context.Context) (rec Record, ok bool, err error)
	// Close releases the cursor.
	Close() error
}

// Record is a stored record. ExpireTime is zero when it never expires.
type Record struct {
	Key        []byte
	Value      []byte
	ExpireTime time.Time
}

// RecordInfo describes a record without its value.
type RecordInfo struct {
	ValueSize  int64
	ExpireTime time.Time
}

// Expiry is a requested expiration: at most one of TTL and At is set; neither
// means never. TTL is kept relative so that backends with their own clock
// apply it themselves.
type Expiry struct {
	TTL time.Duration
	At  time.Time
}

// Never reports whether the expiry means "never expires".
func (e Expiry) Never() bool { return e.TTL == 0 && e.At.IsZero() }

// Deadline resolves the expiry against now; the zero time means never.
func (e Expiry) Deadline(now time.Time) time.Time {
	switch {
	case e.TTL != 0:
		return now.Add(e.TTL)
	default:
		return e.At
	}
}

// Entry is one record to store in a bulk write.
type Entry struct {
	Key    []byte
	Value  []byte
	Expiry Expiry
}

// WriteOptions tune Set and SetBulk.
type WriteOptions struct {
	// Atomic applies a bulk write under one lock where the backend can.
	Atomic bool
	// NoReply sends the write without waiting for its outcome.
	NoReply bool
}

// IncrementOptions tune Increment.
type IncrementOptions struct {
	// Initial is the value a missing record starts from (nil: 0).
	Initial *int64
	// MustExist makes a missing record a failure (applied=false).
	MustExist bool
	// Expiry applies to the written record.
	Expiry Expiry
}

// IncrementDoubleOptions tune IncrementDouble.
type IncrementDoubleOptions struct {
	// Initial is the value a missing record starts from (nil: 0).
	Initial *float64
	// MustExist makes a missing record a failure (applied=false).
	MustExist bool
	// Expiry applies to the written record.
	Expiry Expiry
}

// MatchKind selects how Match compares keys.
type MatchKind int

// The kinds of key matching.
const (
	MatchPrefix MatchKind = iota + 1
	MatchRegex
	MatchSimilar
)

// Match is a key pattern for MatchKeys.
type Match struct {
	Kind MatchKind
	// Prefix for MatchPrefix.
	Prefix []byte
	// Regex for MatchRegex.
	Regex string
	// Origin, MaxDistance and UTF8 for MatchSimilar.
	Origin      []byte
	MaxDistance int
	UTF8        bool
}

// ScanOptions select the records of a Scan: keys in [Start, End) that carry
// Prefix. Empty Start or End leave that side open.
type ScanOptions struct {
	Start, End []byte
	Prefix     []byte
	Reverse    bool
	// Limit is the most records to return; 0 means no limit.
	Limit     int64
	KeysOnly  bool
	BatchSize int
}

// UnorderedScanError wraps the error that ended a Scan whose walk followed
// the server's own order instead of key order (a Kyoto Tycoon hash
// database). It tells the caller that a new Scan from the last key seen
// would not continue where this one stopped: only a scan from the start
// covers the records not yet seen.
type UnorderedScanError struct{ Err error }

func (e *UnorderedScanError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *UnorderedScanError) Unwrap() error { return e.Err }

// Operation is the kind of a logged change.
type Operation int

// The logged operations.
const (
	OpSet Operation = iota + 1
	OpRemove
	OpClear
	OpAppend
	OpIncrement
	OpIncrementDouble
	OpSync
	OpOptimize
	OpMisc
)

// Event is one change from an update log.
type Event struct {
	Position   uint64
	OriginSID  uint32
	DB         string
	Op         Operation
	Key        []byte
	Value      []byte
	ExpireTime time.Time
	// Command is the backend's own name for the logged command.
	Command     string
	Args        [][]byte
	IntDelta    int64
	DoubleDelta float64
	KeepLast    uint32
	// Raw is the change exactly as the backend logged it.
	Raw []byte
}

// Update is one step of a subscription: the stream's new Position, and the
// Event that moved it there, or nil when the position moved without a
// delivered change (a heartbeat, or an event the filter withheld).
type Update struct {
	Position uint64
	Event    *Event
}

// SubscribeOptions say where a subscription starts and what it delivers.
type SubscribeOptions struct {
	// After is the exclusive start position; 0 replays the retained log.
	After uint64
	// Now starts from the current end of the log, ignoring After.
	Now bool
	// ServerID is the id presented to the backend (0: the backend picks).
	ServerID uint32
	// Filter withholds events; its zero value passes everything.
	Filter Filter
}

// Filter selects the events a subscription delivers.
type Filter struct {
	DBs       []string
	KeyPrefix []byte
	Ops       []Operation
	// Key, when not nil, passes only events on exactly this key (and those
	// without a key, as KeyPrefix does).
	Key []byte
	// NotOrigin, when not 0, withholds events that originated from this
	// server id.
	NotOrigin uint32
}

// Status describes a database.
type Status struct {
	Count  int64
	Size   int64
	Fields map[string]string
}

// DatabaseInfo describes one configured database.
type DatabaseInfo struct {
	Index   int
	Name    string
	Backend string
	Kind    string
	Healthy bool
	Error   string
}
