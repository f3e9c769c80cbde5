package kt

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
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
// holds no connection and no server cursor. An unordered database cannot be
// re-entered by key, so there the whole database is walked in the server's
// order on one cursor of the cursor pool (counted against cursors=N), and
// the range and prefix are applied to every key.
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
	return s.forward(ctx)
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
func (s *scan) reposition(ctx context.Context) error {
	cctx, cancel := s.b.callContext(ctx)
	defer cancel()
	select {
	case s.b.scanSlots <- struct{}{}:
	case <-cctx.Done():
		return s.b.connError(cctx, "scan", cctx.Err())
	}
	c, err := s.b.acquire(cctx, s.b.pool, "scan", s.ref, false, time.Time{})
	if err != nil {
		<-s.b.scanSlots
		return err
	}
	s.k = s.b.newCursor(s.idx, s.ref, s.b.pool, c, false)
	s.slot = true
	return nil
}

// release closes the cursor of an ordered scan between batches; an
// unordered scan keeps its cursor until the end.
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

// handOff gives the batch to fn, releasing an ordered scan's cursor first.
func (s *scan) handOff() error {
	if s.ordered {
		s.release()
	}
	if len(s.batch) == 0 {
		return nil
	}
	batch := s.batch
	s.batch, s.bytes = nil, 0
	return s.fn(batch)
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
			} else if !s.inRange(rec.Key) {
				continue
			}
			if s.add(rec) {
				return s.handOff()
			}
		}
		if s.full() {
			if s.ordered {
				after = s.lastKey()
			}
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
