package ktgrpc

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Option adjusts one call, or every call of a Client when given to New or
// With. Each option says which calls read it; the others ignore it. When
// two options set the same thing, the later one wins, and a call's options
// come after the client's.
type Option func(*settings)

// settings is the merged effect of a call's options.
type settings struct {
	db string

	ttl      time.Duration
	expireAt time.Time
	atomic   bool
	noReply  bool

	keepLast    uint32
	initialInt  *int64
	initialF    *float64
	mustExist   bool
	utf8        bool
	lock        LockMode
	noUpdateLog bool
	key         *string

	limit     int64
	start     string
	end       string
	prefix    string
	reverse   bool
	keysOnly  bool
	batchSize uint32

	after    uint64
	now      bool
	snapshot bool
	ops      []Op
	progress time.Duration

	backoffInitial time.Duration
	backoffMax     time.Duration
	maxRetries     int
	// wait pauses Watch between attempts; nil means sleepCtx. Tests set it
	// to observe the delays instead of sleeping through them.
	wait func(ctx context.Context, d time.Duration) error
}

// WithDB selects the database: an index such as "1" or a name such as
// "users". "" is the backend's default database. Every call reads it;
// Subscribe delivers only that database's changes when it is not "".
func WithDB(db string) Option { return func(s *settings) { s.db = db } }

// WithTTL makes written records expire d from now (Set, Add, Replace,
// Append, Increment, SetMulti). It replaces an earlier WithExpireAt; 0 means
// the records never expire.
func WithTTL(d time.Duration) Option {
	return func(s *settings) { s.ttl, s.expireAt = d, time.Time{} }
}

// WithExpireAt makes written records expire at t (the calls of WithTTL). It
// replaces an earlier WithTTL; the zero time means never.
func WithExpireAt(t time.Time) Option {
	return func(s *settings) { s.expireAt, s.ttl = t, 0 }
}

// WithAtomic asks GetMulti, SetMulti and RemoveMulti to run under one lock,
// where the backend supports it.
func WithAtomic() Option { return func(s *settings) { s.atomic = true } }

// WithNoReply sends Set and SetMulti without waiting for the backend's
// acknowledgement: faster, but a failed write goes unnoticed.
func WithNoReply() Option { return func(s *settings) { s.noReply = true } }

// WithKeepLast makes Append keep only the last n bytes of an existing
// record after appending (Tokyo Tyrant putshl); 0 keeps everything.
func WithKeepLast(n uint32) Option { return func(s *settings) { s.keepLast = n } }

// WithInitial makes Increment start a missing record from n instead of 0.
func WithInitial(n int64) Option { return func(s *settings) { s.initialInt = &n } }

// WithInitialFloat makes IncrementFloat start a missing record from f
// instead of 0.
func WithInitialFloat(f float64) Option { return func(s *settings) { s.initialF = &f } }

// WithMustExist makes Increment and IncrementFloat fail with an error
// matching ErrNotFound, writing nothing, when the record is missing.
func WithMustExist() Option { return func(s *settings) { s.mustExist = true } }

// WithUTF8 makes MatchSimilar count the edit distance in UTF-8 characters
// instead of bytes.
func WithUTF8() Option { return func(s *settings) { s.utf8 = true } }

// WithLock sets how Tokyo Tyrant locks around CallScript; Kyoto Tycoon
// ignores it.
func WithLock(m LockMode) Option { return func(s *settings) { s.lock = m } }

// WithNoUpdateLog keeps a Misc call out of the update log (for reads).
func WithNoUpdateLog() Option { return func(s *settings) { s.noUpdateLog = true } }

// WithKey makes Watch with WithSnapshot follow exactly this key instead of
// the keys of WithPrefix.
func WithKey(key string) Option { return func(s *settings) { s.key = &key } }

// WithLimit caps the records of Scan and the keys of MatchPrefix,
// MatchRegex and MatchSimilar; 0 means no limit.
func WithLimit(n int64) Option { return func(s *settings) { s.limit = n } }

// WithRange limits Scan to the keys from start (inclusive) to end
// (exclusive); "" leaves that side open.
func WithRange(start, end string) Option {
	return func(s *settings) { s.start, s.end = start, end }
}

// WithPrefix limits Scan to keys with this prefix, and Subscribe to changes
// of such keys (changes without a key, such as a clear, still come).
func WithPrefix(prefix string) Option { return func(s *settings) { s.prefix = prefix } }

// WithReverse makes Scan walk from the end of its range to the start
// (ordered databases only).
func WithReverse() Option { return func(s *settings) { s.reverse = true } }

// WithKeysOnly makes Scan leave record values empty.
func WithKeysOnly() Option { return func(s *settings) { s.keysOnly = true } }

// WithBatchSize sets how many records one Scan message carries; 0 leaves it
// to the gateway.
func WithBatchSize(n uint32) Option { return func(s *settings) { s.batchSize = n } }

// WithAfter makes Subscribe and Watch start after position pos, exclusive:
// pass the Position of the last Event handled (a change or an OpProgress
// report) to resume without gaps or repeats. 0 replays the whole retained
// log, which is also the default.
func WithAfter(pos uint64) Option {
	return func(s *settings) { s.after, s.now = pos, false }
}

// WithSnapshot makes Watch follow the keys of WithPrefix (every key when it
// is empty), or the one key of WithKey, on the database of WithDB with the gateway's Watch call: first
// the current records, as OpRecord events at the snapshot's position, then
// an OpProgress at that position, then every change after it. A change made
// while the snapshot is read may show in both. It resumes like any Watch,
// without a second snapshot; a snapshot cut short comes again whole. With
// WithAfter it skips the snapshot and starts after that position. It cannot
// be combined with WithOps or WithNow.
func WithSnapshot() Option { return func(s *settings) { s.snapshot = true } }

// WithNow makes Subscribe and Watch deliver only changes made from now on.
func WithNow() Option { return func(s *settings) { s.now, s.after = true, 0 } }

// WithOps makes Subscribe deliver only these operations (OpProgress events
// always come).
func WithOps(ops ...Op) Option {
	return func(s *settings) { s.ops = append([]Op(nil), ops...) }
}

// WithProgressInterval sets how often Subscribe reports its position while
// nothing else happens; 0 leaves it to the gateway (1s). The gateway accepts
// no less than 10ms.
func WithProgressInterval(d time.Duration) Option {
	return func(s *settings) { s.progress = d }
}

const (
	// DefaultBackoffInitial is Watch's first wait after a failure unless
	// WithBackoff says otherwise.
	DefaultBackoffInitial = 100 * time.Millisecond
	// DefaultBackoffMax is the longest Watch waits between attempts unless
	// WithBackoff says otherwise.
	DefaultBackoffMax = 10 * time.Second
)

// WithBackoff sets how long Watch waits before it subscribes again after a
// failure: initial before the first retry, doubling with each further
// failure in a row, up to max. Each wait is drawn at random between half
// the step and the full step, so that consumers cut off together do not
// return together. A value of 0 or less keeps the default
// (DefaultBackoffInitial, DefaultBackoffMax); a max below initial is raised
// to initial.
func WithBackoff(initial, max time.Duration) Option {
	return func(s *settings) { s.backoffInitial, s.backoffMax = initial, max }
}

// WithWait replaces how Watch waits before each retry: f gets the delay
// WithBackoff computes and returns nil to go on, or an error (ctx's error
// when ctx ends) to end the sequence with it. Use it to pace retries with a
// limiter shared by many watchers, or to observe the delays in tests
// without sleeping through them. nil keeps the default, a timer.
func WithWait(f func(ctx context.Context, d time.Duration) error) Option {
	return func(s *settings) { s.wait = f }
}

// WithMaxRetries makes Watch give up after n retries in a row that deliver
// nothing, ending with the last error; 0, the default, retries forever.
// Any message received, an event or a progress report, starts the count
// again.
func WithMaxRetries(n int) Option { return func(s *settings) { s.maxRetries = n } }

// expiration returns the protobuf form of the settings' expiry: a TTL, an
// expire time, or neither.
func (s *settings) expiration() (*durationpb.Duration, *timestamppb.Timestamp) {
	switch {
	case s.ttl != 0:
		return durationpb.New(s.ttl), nil
	case !s.expireAt.IsZero():
		return nil, timestamppb.New(s.expireAt)
	}
	return nil, nil
}
