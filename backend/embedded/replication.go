package embedded

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"time"
	"unsafe"

	"github.com/ktgrpc/ktgrpc/backend"
)

// subscribeBatch is how many events a subscriber copies per turn of the
// read lock.
const subscribeBatch = 256

// eventLog is the bounded update log. Guarded by Store.mu. Events are never
// modified once appended, and their slices are shared with the store's
// records (which are immutable too); subscribers get copies.
type eventLog struct {
	capacity int
	maxBytes int64
	events   []backend.Event
	// slots is the length of the array events lives in, dropped prefix and
	// spare capacity included: all of it is held.
	slots   int
	payload int64  // payloadBytes of the retained events
	last    uint64 // position of the newest event; 0 before the first
	dropped uint64 // position of the newest dropped event; 0 if none
}

// eventSize is the size of one slot of the log's array.
const eventSize = int64(unsafe.Sizeof(backend.Event{}))

// payloadBytes is the memory an event keeps reachable beyond its slot: the
// whole arrays behind its slices (capacity, not length), its argument
// headers and its command string. The key and value may be shared with a
// live record; they are counted anyway, since the log alone keeps them once
// the record changes.
func payloadBytes(e *backend.Event) int64 {
	n := int64(cap(e.Key) + cap(e.Value) + cap(e.Raw) + len(e.Command))
	n += int64(cap(e.Args)) * int64(unsafe.Sizeof([]byte(nil)))
	for _, a := range e.Args {
		n += int64(cap(a))
	}
	return n
}

// heldBytes is what the log holds: its events' payloads and its whole
// array. This is what Options.LogBytes bounds.
func (l *eventLog) heldBytes() int64 { return l.payload + int64(l.slots)*eventSize }

// next returns the position for an event logged at now: Kyoto Tycoon's
// clock, milliseconds * 10^6 plus a counter, kept strictly increasing even
// when the clock stalls or goes back.
func (l *eventLog) next(now time.Time) uint64 {
	var p uint64
	if ms := now.UnixMilli(); ms > 0 && uint64(ms) < math.MaxUint64/1_000_000 {
		p = uint64(ms) * 1_000_000
	}
	if p <= l.last {
		p = l.last + 1
	}
	return p
}

func (l *eventLog) append(e backend.Event) {
	before := cap(l.events)
	l.events = append(l.events, e)
	if cap(l.events) != before {
		// append moved the events to a new array; the old one is garbage.
		l.slots = cap(l.events)
	}
	l.payload += payloadBytes(&e)
	l.last = e.Position
	for len(l.events) > 1 && (len(l.events) > l.capacity || l.heldBytes() > l.maxBytes) {
		old := &l.events[0]
		l.dropped = old.Position
		l.payload -= payloadBytes(old)
		*old = backend.Event{} // release its key and value
		l.events = l.events[1:]
		l.compact()
	}
}

// compact moves the events to an array of about their size when most of the
// current one is dropped prefix or spare, so that dropping old events
// frees their slots too.
func (l *eventLog) compact() {
	n := len(l.events)
	if l.slots <= 2*n+64 {
		return
	}
	events := make([]backend.Event, n, n+n/4+16)
	copy(events, l.events)
	l.events, l.slots = events, cap(events)
}

// LogStats describes the update log's memory and its bounds.
type LogStats struct {
	// Events is the number of events retained, of at most EventLimit.
	Events, EventLimit int
	// Bytes is the memory the log holds (see Options.LogBytes), of at most
	// ByteLimit (the newest event is kept even when it alone is larger).
	Bytes, ByteLimit int64
	// Oldest is the position of the oldest retained event, 0 when none.
	Oldest uint64
	// Dropped is the position of the newest event dropped from the log to
	// keep within its bounds, 0 when none was.
	Dropped uint64
}

// LogStats reports the update log's size and bounds.
func (s *Store) LogStats() LogStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log.stats()
}

func (l *eventLog) stats() LogStats {
	st := LogStats{Events: len(l.events), EventLimit: l.capacity, Bytes: l.heldBytes(), ByteLimit: l.maxBytes, Dropped: l.dropped}
	if len(l.events) > 0 {
		st.Oldest = l.events[0].Position
	}
	return st
}

// since returns up to max events after pos. Unless allowGap, it fails when
// events after pos have been dropped already.
func (l *eventLog) since(pos uint64, max int, allowGap bool) ([]backend.Event, error) {
	if !allowGap && pos < l.dropped {
		oldest := uint64(0)
		if len(l.events) > 0 {
			oldest = l.events[0].Position
		}
		return nil, fmt.Errorf("embedded: update log position %d is older than the retained log (oldest retained position %d, capacity %d events); resubscribe from 0 or from now: %w",
			pos, oldest, l.capacity, backend.ErrOutOfRange)
	}
	i := sort.Search(len(l.events), func(i int) bool { return l.events[i].Position > pos })
	n := min(len(l.events)-i, max)
	if n == 0 {
		return nil, nil
	}
	out := make([]backend.Event, n)
	copy(out, l.events[i:i+n])
	return out, nil
}

// CheckRetained fails with backend.ErrOutOfRange when events after after
// have been dropped from the bounded log; after 0 always passes.
func (s *Store) CheckRetained(_ context.Context, after uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if after == 0 {
		return nil
	}
	_, err := s.log.since(after, 0, false)
	return err
}

// LogPosition returns the position of the newest logged event, 0 before the
// first.
func (s *Store) LogPosition() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log.last
}

// Subscribe replays the retained events after opts.After (exclusive; 0
// replays everything retained) or, with opts.Now, starts at the current end,
// then follows new events until ctx ends (returning ctx.Err()), fn fails
// (returning its error) or the store closes.
//
// Events that opts.Filter withholds are not delivered; a run of them that
// ends a batch is reported as one Update with the last one's Position and a
// nil Event, so the caller can checkpoint past them. Once the replay has
// caught up, fn gets one Update{Position: current end} without an Event.
//
// A subscriber that falls so far behind that events it has not read are
// dropped from the bounded log gets an error wrapping backend.ErrOutOfRange.
// Writers never wait for subscribers.
//
// opts.ServerID is ignored: every event originates from this store, and it
// has no replication peers whose changes could echo back.
func (s *Store) Subscribe(ctx context.Context, opts backend.SubscribeOptions, fn func(backend.Update) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Events carry database names; a subscriber may name a database by
	// index or as "" like every other call, so compare canonical names.
	if len(opts.Filter.DBs) > 0 {
		names := make([]string, len(opts.Filter.DBs))
		for i, db := range opts.Filter.DBs {
			d, err := s.database(db)
			if err != nil {
				return err
			}
			names[i] = d.name
		}
		opts.Filter.DBs = names
	}
	s.mu.RLock()
	closed := s.closed
	pos := opts.After
	if opts.Now {
		pos = s.log.last
	}
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	allowGap := !opts.Now && opts.After == 0
	caughtUp := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return errClosed
		}
		batch, err := s.log.since(pos, subscribeBatch, allowGap)
		last := s.log.last
		var wake <-chan struct{}
		if err == nil && len(batch) == 0 {
			wake = s.waitChan()
		}
		s.mu.RUnlock()
		if err != nil {
			return err
		}
		// Only the first look may start past dropped events: from then on
		// the subscriber has seen the log, and a gap would lose events.
		allowGap = false
		if len(batch) > 0 {
			if err := deliver(batch, opts.Filter, fn); err != nil {
				return err
			}
			pos = batch[len(batch)-1].Position
			continue
		}
		if !caughtUp {
			caughtUp = true
			if err := fn(backend.Update{Position: max(pos, last)}); err != nil {
				return err
			}
		}
		if s.waitHook != nil {
			s.waitHook()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// deliver hands batch to fn, copying each delivered event so that fn may
// keep or modify it.
func deliver(batch []backend.Event, f backend.Filter, fn func(backend.Update) error) error {
	var withheld uint64
	for i := range batch {
		e := &batch[i]
		if !f.Match(e) {
			withheld = e.Position
			continue
		}
		withheld = 0
		c := *e
		c.Key = bytes.Clone(e.Key)
		c.Value = bytes.Clone(e.Value)
		if err := fn(backend.Update{Position: c.Position, Event: &c}); err != nil {
			return err
		}
	}
	if withheld != 0 {
		return fn(backend.Update{Position: withheld})
	}
	return nil
}

// CheckFilter checks the databases f names and rewrites them as events
// name them.
func (s *Store) CheckFilter(_ context.Context, f backend.Filter) (backend.Filter, error) {
	if len(f.DBs) == 0 {
		return f, nil
	}
	names := make([]string, len(f.DBs))
	for i, db := range f.DBs {
		d, err := s.database(db)
		if err != nil {
			return f, err
		}
		names[i] = d.name
	}
	f.DBs = names
	return f, nil
}
