package kt

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/internal/keyrange"
)

// Scan tuning.
const (
	// scanDepth is how many cursor calls one round trip pipelines.
	scanDepth = 64
	// scanBatchBytes hands a batch to the caller early when its values add
	// up to this much, so that large values do not pile up in memory.
	scanBatchBytes = 4 << 20
	defaultBatch   = 256
	// scanParkDelay is how long an unordered scan keeps its cursor while
	// its caller takes a batch. A caller that returns within it (the usual
	// case) costs nothing more; past it the cursor is released, and the
	// walk re-enters once the caller returns.
	scanParkDelay = 50 * time.Millisecond
)

// Scan walks a KT cursor: cur_jump (or cur_jump_back for reverse) to the
// start of the range, then cur_get with step, pipelining up to 64 calls per
// round trip. Reverse scans pair a cur_get with a cur_step_back and need an
// ordered (tree) database.
//
// On an ordered database the cursor lives only while a batch is read: it is
// deleted, and its connection returned to the call pool, before the batch
// goes to fn, and the next batch jumps past the last key handed over. A
// caller that is slow to take a batch (a client that stops reading) thus
// holds no connection and no server cursor.
//
// An unordered (hash) database is walked whole, in the server's order, on a
// cursor of the cursor pool (counted against cursors=N), and the range and
// prefix are applied to every key. Its order is not by key, so it cannot be
// re-entered the way an ordered scan is; instead the cursor is kept while
// fn returns within scanParkDelay, and released (parked) from a timer when
// fn takes longer. The walk then re-enters at the last key it read; see
// park and resume for why that finds the same place, and how a changed
// place is told apart. fn's error, and any other that ends such a walk, is
// wrapped in a *backend.UnorderedScanError.
func (b *Backend) Scan(ctx context.Context, db string, opts backend.ScanOptions, fn func([]backend.Record) error) error {
	if opts.Limit < 0 {
		return fmt.Errorf("kt scan: %w: negative limit %d (0 means no limit)", backend.ErrInvalid, opts.Limit)
	}
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return err
	}
	code, err := b.dbType(ctx, idx)
	if err != nil {
		return err
	}
	ordered := orderedType(code)
	if opts.Reverse && !ordered {
		return fmt.Errorf("kt scan of database %d: %w: a reverse scan needs an ordered (tree) database, this one is %s", idx, backend.ErrUnsupported, kindName(code))
	}
	s := &scan{b: b, idx: idx, ref: resolvedFrom(ctx), opts: opts, ordered: ordered, fn: fn, batchSize: opts.BatchSize}
	if s.batchSize <= 0 {
		s.batchSize = defaultBatch
	}
	if !ordered {
		if s.k, err = b.openCursor(ctx, idx, s.ref); err != nil {
			return err
		}
	}
	defer s.release()
	if opts.Reverse {
		return s.backward(ctx)
	}
	err = s.forward(ctx)
	if err != nil && !ordered {
		err = &backend.UnorderedScanError{Err: err}
	}
	return err
}

type scan struct {
	b         *Backend
	idx       uint16
	ref       *dbRef
	k         *cursor // nil between the batches of an ordered scan
	slot      bool    // holds one of b.scanSlots
	opts      backend.ScanOptions
	ordered   bool
	fn        func([]backend.Record) error
	batchSize int
	batch     []backend.Record
	bytes     int
	count     int64
	// last is the key of the last record an unordered walk read, whether
	// or not the range and prefix kept it: the place to re-enter at.
	last []byte
	// parkMu guards k and parked while fn holds a batch of an unordered
	// walk, when the park timer may release the cursor.
	parkMu sync.Mutex
	parked *parking
}

// parking is what a parked unordered walk knows of its place: the key the
// released cursor stood on, next (nil when it was past the last record),
// or why that could not be read.
type parking struct {
	next []byte
	err  error
}

// depth is how many records the next round trip asks for.
func (s *scan) depth() int {
	n := min(scanDepth, s.batchSize-len(s.batch))
	if s.opts.Limit > 0 {
		n = min(n, int(min(s.opts.Limit-s.count, scanDepth)))
	}
	return max(n, 1)
}

// add appends a record. It reports whether the scan reached its limit.
func (s *scan) add(rec backend.Record) bool {
	s.batch = append(s.batch, rec)
	s.bytes += len(rec.Key) + len(rec.Value)
	s.count++
	return s.opts.Limit > 0 && s.count >= s.opts.Limit
}

// full reports whether the batch is ready to hand over.
func (s *scan) full() bool { return len(s.batch) >= s.batchSize || s.bytes >= scanBatchBytes }

// reposition opens a cursor for the next batch of an ordered scan, on a
// connection of the call pool, once one of the scans' share of it is free.
// The scan holds that share until release.
func (s *scan) reposition(ctx context.Context) error {
	if err := s.takeCursor(ctx, s.b.scanSlots, s.b.pool, false); err != nil {
		return err
	}
	s.slot = true
	return nil
}

// reopen takes a cursor of the cursor pool again for a parked unordered
// walk. Unlike OpenCursor it waits for a slot, within the call timeout: the
// scan was let in at its start and only stood aside while its caller was
// slow. The cursor holds the slot, as OpenCursor's do.
func (s *scan) reopen(ctx context.Context) error {
	return s.takeCursor(ctx, s.b.cursorSlots, s.b.cursorPool, true)
}

// takeCursor waits, within the call timeout, for one of slots and a
// connection of pool, and opens the scan's cursor on them; cursorSlot says
// whether the cursor gives the slot back when it closes.
func (s *scan) takeCursor(ctx context.Context, slots chan struct{}, pool *connpool.Pool, cursorSlot bool) error {
	cctx, cancel := s.b.callContext(ctx)
	defer cancel()
	select {
	case slots <- struct{}{}:
	case <-cctx.Done():
		return s.b.connError(cctx, "scan", cctx.Err())
	}
	c, err := s.b.acquire(cctx, pool, "scan", s.ref, false, time.Time{})
	if err != nil {
		<-slots
		return err
	}
	s.k = s.b.newCursor(s.idx, s.ref, pool, c, cursorSlot)
	return nil
}

// release closes the scan's cursor: between the batches of an ordered
// scan, before the last batch of any scan, and at the end.
func (s *scan) release() {
	if s.k != nil {
		_ = s.k.Close()
		s.k = nil
	}
	if s.slot {
		<-s.b.scanSlots
		s.slot = false
	}
}

// handOff gives the batch to fn, releasing the cursor first. It is used
// between the batches of an ordered scan and for the last batch of any
// scan, where nothing needs the cursor any more.
func (s *scan) handOff() error {
	s.release()
	if len(s.batch) == 0 {
		return nil
	}
	batch := s.batch
	s.batch, s.bytes = nil, 0
	return s.fn(batch)
}

// handOffKeeping gives a full batch of an unordered walk to fn and keeps
// the cursor for the next one, unless fn takes longer than the park delay:
// then a timer parks the walk while fn is still busy, and the walk resumes
// when fn returns. end reports that the parked cursor was already past the
// last record, so that nothing is left to read.
func (s *scan) handOffKeeping(ctx context.Context) (end bool, err error) {
	batch := s.batch
	s.batch, s.bytes = nil, 0
	returned := false
	t := time.AfterFunc(s.b.parkDelay, func() {
		s.parkMu.Lock()
		defer s.parkMu.Unlock()
		if !returned {
			s.park(ctx)
		}
	})
	err = s.fn(batch)
	// A park already under way finishes before this lock is had; one that
	// has not started finds returned set and leaves the cursor alone.
	s.parkMu.Lock()
	returned = true
	p := s.parked
	s.parked = nil
	s.parkMu.Unlock()
	t.Stop()
	if err != nil || p == nil {
		return false, err
	}
	if p.err != nil {
		return false, p.err
	}
	if p.next == nil {
		return true, nil
	}
	return false, s.resume(ctx, p.next)
}

// park reads the key the cursor stands on and releases the cursor: the
// server's cursor is deleted, the connection goes back to the cursor pool
// and the cursor slot is freed. Called with parkMu held.
func (s *scan) park(ctx context.Context) {
	p := &parking{}
	next, ok, err := s.k.GetKey(ctx, false)
	switch {
	case err != nil:
		p.err = fmt.Errorf("kt scan of database %d: reading the cursor's place before releasing it while the caller was busy: %w", s.idx, err)
	case ok:
		p.next = next
	}
	_ = s.k.Close()
	s.k = nil
	// The key may share memory with a record fn now holds.
	s.last = bytes.Clone(s.last)
	s.parked = p
	if s.b.scanParked != nil {
		s.b.scanParked(s.last, p.next)
	}
}

// resume re-enters a parked unordered walk: it jumps to the last key read
// and checks that the record after it is still next, the one the released
// cursor stood on. The cursor is left on next.
//
// Kyoto Cabinet's hash databases find a key for cur_jump only by its hash:
// a missing key fails (450), it does not land on a neighbour. Their cursors
// step in storage order, which changes under writes and, in the in-memory
// cache hash database ('*'), even under reads:
//
//   - cache hash (kccachedb.h): records are kept per slot (by key hash) in
//     a list the cursor follows, slot after slot. A get or a set of an
//     existing record moves it to the end of its slot's list (LRU
//     rotation, on by default and never turned off by ktserver); a new
//     record is appended there; cursor reads do not move records.
//   - file hash (kchashdb.h, .kch): records are walked by file offset. An
//     update that fits the record's space stays in place, a larger one
//     moves the record to a free block or the end of the file; a get moves
//     nothing; defragmentation shifts records down in the same order.
//
// So a jump to the last key followed by one step finds the old place only
// if that record did not move: when it did, the step lands elsewhere, and
// records would be skipped or repeated without a sign. Checking that the
// step lands on next catches a moved (or removed) last record; a moved or
// removed next also fails the check, although continuing would have been
// harmless, because the two cannot be told apart. Either way the scan ends
// with ErrMismatch rather than an answer that may be wrong.
func (s *scan) resume(ctx context.Context, next []byte) error {
	if err := s.reopen(ctx); err != nil {
		return err
	}
	var jump params
	jump.add("key", s.last)
	reps, err := s.k.call(ctx, op{"cur_jump", jump}, op{"cur_get_key", stepParams(true)}, op{"cur_get_key", nil})
	if err != nil {
		return err
	}
	if reps[0].logic() {
		return s.moved(fmt.Sprintf("the last record read, %q, is gone", s.last))
	}
	if at, _ := reps[1].get("key"); reps[1].logic() || !bytes.Equal(at, s.last) {
		return s.moved(fmt.Sprintf("the last record read, %q, expired", s.last))
	}
	if reps[2].logic() {
		return s.moved(fmt.Sprintf("no record follows %q any more, where %q did", s.last, next))
	}
	if at, _ := reps[2].get("key"); !bytes.Equal(at, next) {
		return s.moved(fmt.Sprintf("the record after %q is now %q, not %q", s.last, at, next))
	}
	return nil
}

// moved is the error of a walk that cannot find its place again.
func (s *scan) moved(detail string) error {
	return fmt.Errorf("kt scan of database %d: %w: the hash database's order changed at the scan's position while the client was not reading (%s), so the scan cannot go on without skipping or repeating records; start the scan again",
		s.idx, backend.ErrMismatch, detail)
}

func (s *scan) getProc() string {
	if s.opts.KeysOnly {
		return "cur_get_key"
	}
	return "cur_get"
}

func (s *scan) record(rep *reply) backend.Record {
	if s.opts.KeysOnly {
		key, _ := rep.get("key")
		return backend.Record{Key: key}
	}
	return recordOf(rep)
}

// inRange applies the range and prefix to a key of an unordered walk.
func (s *scan) inRange(key []byte) bool {
	o := s.opts
	return (len(o.Start) == 0 || bytes.Compare(key, o.Start) >= 0) &&
		(len(o.End) == 0 || bytes.Compare(key, o.End) < 0) &&
		bytes.HasPrefix(key, o.Prefix)
}

// lastKey is the key of the batch's last record, kept past the batch.
func (s *scan) lastKey() []byte {
	return bytes.Clone(s.batch[len(s.batch)-1].Key)
}

func (s *scan) forward(ctx context.Context) error {
	var start []byte
	if s.ordered {
		start = s.opts.Start
		if bytes.Compare(s.opts.Prefix, start) > 0 {
			start = s.opts.Prefix
		}
		if len(start) == 0 {
			start = nil
		}
	}
	// after is the last key handed over by an ordered scan: the next batch
	// jumps to it and skips it.
	var after []byte
	if !s.ordered {
		ok, err := s.k.Jump(ctx, nil)
		if err != nil || !ok {
			return err
		}
	}
	for {
		if s.k == nil {
			if err := s.reposition(ctx); err != nil {
				return err
			}
			from := start
			if after != nil {
				from = after
			}
			ok, err := s.k.Jump(ctx, from)
			if err != nil || !ok {
				if err == nil {
					err = s.handOff()
				}
				return err
			}
		}
		ops := make([]op, s.depth())
		for i := range ops {
			ops[i] = op{s.getProc(), stepParams(true)}
		}
		reps, err := s.k.call(ctx, ops...)
		if err != nil {
			return err
		}
		for _, rep := range reps {
			if rep.logic() {
				return s.handOff() // past the last record
			}
			rec := s.record(rep)
			if s.ordered {
				if after != nil && bytes.Compare(rec.Key, after) <= 0 {
					continue
				}
				if len(s.opts.End) > 0 && bytes.Compare(rec.Key, s.opts.End) >= 0 || !bytes.HasPrefix(rec.Key, s.opts.Prefix) {
					return s.handOff()
				}
			} else {
				s.last = rec.Key
				if !s.inRange(rec.Key) {
					continue
				}
			}
			if s.add(rec) {
				return s.handOff()
			}
		}
		if s.full() {
			if !s.ordered {
				end, err := s.handOffKeeping(ctx)
				if err != nil || end {
					return err
				}
				continue
			}
			after = s.lastKey()
			if err := s.handOff(); err != nil {
				return err
			}
		}
	}
}

func (s *scan) backward(ctx context.Context) error {
	upper := s.opts.End // exclusive
	if len(upper) == 0 {
		upper = nil
	}
	if pe := keyrange.PrefixEnd(s.opts.Prefix); pe != nil && (upper == nil || bytes.Compare(pe, upper) < 0) {
		upper = pe
	}
	for {
		if s.k == nil {
			// Each batch jumps back to the exclusive bound: the range's
			// end, then the last key handed over.
			if err := s.reposition(ctx); err != nil {
				return err
			}
			ok, err := s.k.JumpBack(ctx, upper)
			if err != nil || !ok {
				if err == nil {
					err = s.handOff()
				}
				return err
			}
		}
		n := s.depth()
		ops := make([]op, 0, 2*n)
		for range n {
			ops = append(ops, op{s.getProc(), nil}, op{"cur_step_back", nil})
		}
		reps, err := s.k.call(ctx, ops...)
		if err != nil {
			return err
		}
		for i := 0; i < len(reps); i += 2 {
			if reps[i].logic() {
				return s.handOff()
			}
			rec := s.record(reps[i])
			switch {
			case upper != nil && bytes.Compare(rec.Key, upper) >= 0:
				// jump_back landed on the exclusive bound itself.
			case bytes.Compare(rec.Key, s.opts.Start) < 0:
				return s.handOff()
			case !bytes.HasPrefix(rec.Key, s.opts.Prefix):
				if bytes.Compare(rec.Key, s.opts.Prefix) < 0 {
					return s.handOff()
				}
			default:
				if s.add(rec) {
					return s.handOff()
				}
			}
			if reps[i+1].logic() {
				return s.handOff() // stepped back past the first record
			}
		}
		if s.full() {
			upper = s.lastKey()
			if err := s.handOff(); err != nil {
				return err
			}
		}
	}
}

// MatchKeys is RPC match_prefix, match_regex or match_similar. KT ranks the
// keys in its reply; they are returned in that order.
func (b *Backend) MatchKeys(ctx context.Context, db string, m backend.Match, limit int64) ([][]byte, error) {
	if limit < 0 {
		return nil, fmt.Errorf("kt match: %w: negative limit %d (0 means no limit)", backend.ErrInvalid, limit)
	}
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return nil, err
	}
	var p params
	p.db(idx)
	var proc string
	switch m.Kind {
	case backend.MatchPrefix:
		proc = "match_prefix"
		p.add("prefix", m.Prefix)
	case backend.MatchRegex:
		proc = "match_regex"
		p.str("regex", m.Regex)
	case backend.MatchSimilar:
		proc = "match_similar"
		p.add("origin", m.Origin)
		p.int("range", int64(max(m.MaxDistance, 0)))
		if m.UTF8 {
			p.flag("utf") // a presence flag: any value turns UTF-8 mode on
		}
	default:
		return nil, fmt.Errorf("kt match: %w: unknown match kind %d", backend.ErrInvalid, m.Kind)
	}
	if limit > 0 {
		p.int("max", limit)
	}
	rep, err := b.rpc(ctx, proc, p, idempotent)
	if err != nil {
		return nil, err
	}
	if rep.logic() {
		if m.Kind == backend.MatchRegex {
			return nil, fmt.Errorf("kt match_regex %q: %w: the server could not compile the expression (%s)", m.Regex, backend.ErrInvalid, message(rep.fields))
		}
		return nil, fmt.Errorf("kt %s: %w: server said %q (HTTP 450)", proc, backend.ErrFailed, message(rep.fields))
	}
	type ranked struct {
		key  []byte
		rank int64
	}
	var keys []ranked
	for _, f := range rep.fields {
		if len(f.Key) == 0 || f.Key[0] != '_' {
			continue
		}
		rank, err := strconv.ParseInt(string(f.Value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("kt %s: %w: rank %q of key %q is not an integer", proc, backend.ErrFailed, f.Value, f.Key[1:])
		}
		keys = append(keys, ranked{f.Key[1:], rank})
	}
	slices.SortStableFunc(keys, func(a, b ranked) int { return cmp.Compare(a.rank, b.rank) })
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = k.key
	}
	return out, nil
}
