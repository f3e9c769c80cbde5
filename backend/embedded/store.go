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
