package embedded

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// sweepChunk bounds how many expired records one sweep step removes under
// the lock, so that a mass expiry does not stall readers and writers.
const sweepChunk = 1024

// errClosed is returned by every operation on a closed Store.
var errClosed = fmt.Errorf("embedded: store is closed: %w", backend.ErrUnavailable)

var _ backend.Backend = (*Store)(nil)

// Store is the in-process backend. Every method is safe for concurrent use.
type Store struct {
	backend.Base
	now      func() time.Time
	serverID uint32
	// logMissingRemoves: see Options.LogMissingRemoves.
	logMissingRemoves bool
	dbs               []*database
	byName            map[string]*database

	// mu guards the databases' contents, the update log and closed. One
	// lock keeps the log in exactly the order the mutations took effect.
	mu     sync.RWMutex
	log    eventLog
	closed bool

	// notify is closed (and reset) when events are appended or the store
	// closes; subscribers that caught up wait on it. Guarded by notifyMu,
	// which is taken with mu held so that no wake-up is lost.
	notifyMu sync.Mutex
	notify   chan struct{}

	// waitHook, when set (by tests, before subscribing), runs each time a
	// subscriber has caught up and is about to wait: a deterministic point
	// at which to stop it.
	waitHook func()

	closeOnce sync.Once
	stop      chan struct{} // nil when the sweep is disabled
	sweepDone chan struct{}
}

// New creates a Store. Invalid options are errors wrapping
// backend.ErrInvalid. The Store runs a sweep goroutine unless
// opts.SweepInterval is negative; Close stops it.
func New(opts Options) (*Store, error) {
	return newWithTicks(opts, nil)
}

// newWithTicks is New with the sweep driven by ticks, when not nil, instead
// of a timer, so that tests can make the background sweep run without
// waiting for it.
func newWithTicks(opts Options, ticks <-chan time.Time) (*Store, error) {
	cfgs := opts.Databases
	if len(cfgs) == 0 {
		cfgs = []DBConfig{{Name: "0"}, {Name: "1"}}
	}
	if opts.LogCapacity < 0 {
		return nil, fmt.Errorf("embedded: LogCapacity %d is negative: %w", opts.LogCapacity, backend.ErrInvalid)
	}
	if opts.LogBytes < 0 {
		return nil, fmt.Errorf("embedded: LogBytes %d is negative: %w", opts.LogBytes, backend.ErrInvalid)
	}
	s := &Store{
		now:               opts.Now,
		serverID:          opts.ServerID,
		logMissingRemoves: opts.LogMissingRemoves,
		byName:            make(map[string]*database, len(cfgs)),
		log:               eventLog{capacity: opts.LogCapacity, maxBytes: opts.LogBytes},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.serverID == 0 {
		s.serverID = DefaultServerID
	}
	if s.log.capacity == 0 {
		s.log.capacity = DefaultLogCapacity
	}
	if s.log.maxBytes == 0 {
		s.log.maxBytes = DefaultLogBytes
	}
	for i, c := range cfgs {
		name := c.Name
		if name == "" {
			name = strconv.Itoa(i)
		}
		if c.Kind != Tree && c.Kind != Hash && c.Kind != Table {
			return nil, fmt.Errorf("embedded: database %q has unknown kind %d (want Tree, Hash or Table): %w", name, int(c.Kind), backend.ErrInvalid)
		}
		if isDecimal(name) && name != strconv.Itoa(i) {
			return nil, fmt.Errorf("embedded: database %d is named %q, which would read as another database's index; use a name that is not a number: %w", i, name, backend.ErrInvalid)
		}
		if _, dup := s.byName[name]; dup {
			return nil, fmt.Errorf("embedded: database name %q is used twice: %w", name, backend.ErrInvalid)
		}
		d := newDatabase(i, name, c.Kind)
		s.dbs = append(s.dbs, d)
		s.byName[name] = d
	}
	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if ticks != nil || interval > 0 {
		s.stop = make(chan struct{})
		s.sweepDone = make(chan struct{})
		stopTicker := func() {}
		if ticks == nil {
			t := time.NewTicker(interval)
			ticks, stopTicker = t.C, t.Stop
		}
		go s.sweepLoop(ticks, stopTicker)
	}
	return s, nil
}

// database resolves a database selector: "" is index 0, then a name, then
// a decimal index.
func (s *Store) database(db string) (*database, error) {
	if db == "" {
		return s.dbs[0], nil
	}
	if d, ok := s.byName[db]; ok {
		return d, nil
	}
	if isDecimal(db) {
		if i, err := strconv.Atoi(db); err == nil && i < len(s.dbs) {
			return s.dbs[i], nil
		}
	}
	names := make([]string, len(s.dbs))
	for i, d := range s.dbs {
		names[i] = d.name
	}
	return nil, fmt.Errorf("embedded: unknown database %q (have: %s): %w", db, strings.Join(names, ", "), backend.ErrInvalid)
}

// txn is the state of one write under the store's write lock.
type txn struct {
	s      *Store
	d      *database
	now    time.Time
	cmd    string
	logged bool
}

// update runs fn under the write lock. cmd names the operation in the events
// it logs.
func (s *Store) update(ctx context.Context, d *database, cmd string, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	t := txn{s: s, d: d, now: s.now(), cmd: cmd}
	err := fn(&t)
	if t.logged {
		s.wake()
	}
	return err
}

// view runs fn under the read lock.
func (s *Store) view(ctx context.Context, d *database, fn func(d *database, now time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return fn(d, s.now())
}

// lookup returns the live record for key. An expired record is removed on
// the way, since Kyoto Tycoon's writes drop expired records they touch;
// purged says so, and a write that then stores nothing for key must call
// logRemove to record the removal.
func (t *txn) lookup(key []byte) (r record, found, purged bool) {
	r, ok := t.d.get(key)
	if !ok {
		return record{}, false, false
	}
	if r.expired(t.now) {
		t.d.del(key)
		return record{}, false, true
	}
	return r, true, false
}

// store writes a record and logs it. key and value must be owned by the
// store already.
func (t *txn) store(key, value []byte, exp backend.Expiry) record {
	r := record{key: key, value: value, expire: exp.Deadline(t.now)}
	t.d.put(r)
	t.log(backend.OpSet, r.key, r.value, r.expire)
	return r
}

// remove deletes key's record, expired or not, and logs the removal; with
// Options.LogMissingRemoves it logs one even when there was no record, as
// Kyoto Tycoon does. removed is false when no live record existed.
func (t *txn) remove(key []byte) (old record, removed bool) {
	old, ok := t.d.del(key)
	if ok {
		t.log(backend.OpRemove, old.key, nil, time.Time{})
		return old, !old.expired(t.now)
	}
	if t.s.logMissingRemoves {
		t.log(backend.OpRemove, own(key), nil, time.Time{})
	}
	return record{}, false
}

// logRemove records the removal of an expired record by a write that did not
// otherwise store anything for it.
func (t *txn) logRemove(key []byte) {
	t.log(backend.OpRemove, own(key), nil, time.Time{})
}

func (t *txn) log(op backend.Operation, key, value []byte, expire time.Time) {
	t.s.log.append(backend.Event{
		Position:   t.s.log.next(t.now),
		OriginSID:  t.s.serverID,
		DB:         t.d.name,
		Op:         op,
		Key:        key,
		Value:      value,
		ExpireTime: expire,
		Command:    t.cmd,
	})
	t.logged = true
}

// wake releases the subscribers waiting for new events. Called with mu held.
func (s *Store) wake() {
	s.notifyMu.Lock()
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
	s.notifyMu.Unlock()
}

// waitChan returns a channel closed at the next wake. Called with mu held
// (read or write), so that no append slips between the caller's look at the
// log and its wait.
func (s *Store) waitChan() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.notify == nil {
		s.notify = make(chan struct{})
	}
	return s.notify
}

// sweepLoop purges expired records at every tick until Close.
func (s *Store) sweepLoop(ticks <-chan time.Time, stopTicker func()) {
	defer close(s.sweepDone)
	defer stopTicker()
	for {
		select {
		case <-s.stop:
			return
		case <-ticks:
			for _, d := range s.dbs {
				if _, err := s.sweep(d, 0); err != nil {
					return
				}
			}
		}
	}
}

// sweep removes up to limit (0: all) records of d that have expired, logging
// a REMOVE for each. It releases the lock every sweepChunk records.
func (s *Store) sweep(d *database, limit int) (removed int, err error) {
	for limit == 0 || removed < limit {
		chunk := sweepChunk
		if limit > 0 && limit-removed < chunk {
			chunk = limit - removed
		}
		n := 0
		err := s.update(context.Background(), d, "expire", func(t *txn) error {
			for _, key := range d.due(t.now, chunk) {
				t.remove(key)
				n++
			}
			return nil
		})
		removed += n
		if err != nil {
			return removed, err
		}
		if n < chunk {
			break
		}
	}
	return removed, nil
}

// Status describes a database: Count and Size (key plus value bytes) of its
// live records, and Fields "count", "size", "type" ("tree", "hash" or "table"),
// "name" and "index".
func (s *Store) Status(ctx context.Context, db string) (backend.Status, error) {
	d, err := s.database(db)
	if err != nil {
		return backend.Status{}, err
	}
	var st backend.Status
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		st.Count, st.Size = d.stats(now)
		return nil
	})
	if err != nil {
		return backend.Status{}, err
	}
	st.Fields = map[string]string{
		"count": strconv.FormatInt(st.Count, 10),
		"size":  strconv.FormatInt(st.Size, 10),
		"type":  d.kind.String(),
		"name":  d.name,
		"index": strconv.Itoa(d.index),
	}
	return st, nil
}

// Report returns "db_<i>" = "count=N size=M name=X" per database,
// "db_total_count", "db_total_size", "serv_current_time" (epoch seconds with
// microseconds), "serv_server_id", "log_position" (LogPosition), and the
// update log's size and bounds (LogStats): "log_events",
// "log_events_limit", "log_bytes", "log_bytes_limit" and
// "log_oldest_position".
func (s *Store) Report(ctx context.Context) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	now := s.now()
	rep := make(map[string]string, len(s.dbs)+10)
	var totalCount, totalSize int64
	for _, d := range s.dbs {
		count, size := d.stats(now)
		totalCount += count
		totalSize += size
		rep["db_"+strconv.Itoa(d.index)] = fmt.Sprintf("count=%d size=%d name=%s", count, size, d.name)
	}
	rep["db_total_count"] = strconv.FormatInt(totalCount, 10)
	rep["db_total_size"] = strconv.FormatInt(totalSize, 10)
	rep["serv_current_time"] = strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64)
	rep["serv_server_id"] = strconv.FormatUint(uint64(s.serverID), 10)
	rep["log_position"] = strconv.FormatUint(s.log.last, 10)
	ls := s.log.stats()
	rep["log_events"] = strconv.Itoa(ls.Events)
	rep["log_events_limit"] = strconv.Itoa(ls.EventLimit)
	rep["log_bytes"] = strconv.FormatInt(ls.Bytes, 10)
	rep["log_bytes_limit"] = strconv.FormatInt(ls.ByteLimit, 10)
	rep["log_oldest_position"] = strconv.FormatUint(ls.Oldest, 10)
	return rep, nil
}

// Clear removes every record of db and logs one OpClear.
func (s *Store) Clear(ctx context.Context, db string) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	return s.update(ctx, d, "clear", func(t *txn) error {
		d.clear()
		t.log(backend.OpClear, nil, nil, time.Time{})
		return nil
	})
}

// Synchronize does nothing: the store lives in memory only. A command is
// refused with backend.ErrUnsupported, since there is nothing to run it on.
func (s *Store) Synchronize(ctx context.Context, db string, hard bool, command string) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	if command != "" {
		return fmt.Errorf("embedded: synchronize cannot run command %q: the embedded store has no files and no command directory: %w", command, backend.ErrUnsupported)
	}
	return s.view(ctx, d, func(*database, time.Time) error { return nil })
}

// Vacuum removes up to steps expired records of db now (0: all of them),
// logging a REMOVE for each.
func (s *Store) Vacuum(ctx context.Context, db string, steps int64) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	if steps < 0 {
		return fmt.Errorf("embedded: vacuum steps %d is negative (0 means all): %w", steps, backend.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	limit := int(steps)
	if int64(limit) != steps || limit < 0 {
		limit = 0
	}
	_, err = s.sweep(d, limit)
	return err
}

// Databases lists the databases in index order.
func (s *Store) Databases(ctx context.Context) ([]backend.DatabaseInfo, error) {
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	out := make([]backend.DatabaseInfo, len(s.dbs))
	for i, d := range s.dbs {
		out[i] = backend.DatabaseInfo{Index: d.index, Name: d.name, Backend: "embedded", Kind: d.kind.String(), Healthy: true}
	}
	return out, nil
}

// Ping fails only once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Name returns "embedded".
func (s *Store) Name() string { return "embedded" }

// Close stops the sweep, ends every subscription with an error wrapping
// backend.ErrUnavailable and makes every later call fail the same way. It is
// idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.wake()
		s.mu.Unlock()
		if s.stop != nil {
			close(s.stop)
			<-s.sweepDone
		}
	})
	return nil
}
