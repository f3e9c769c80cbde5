package kt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/internal/keyrange"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// KT cursors live on one TCP connection, in a per-connection table of ids
// the client picks. A cursor therefore holds a connection from its first
// call to Close: one of the cursor pool, apart from the connections of
// unary calls, so that cursors held open by their clients never make calls
// wait. If that connection breaks, the server frees the cursor, so the
// cursor reports ErrUnavailable from then on instead of silently starting
// over on another connection.

// closeTimeout bounds Close's cur_delete: past it the connection is closed
// instead, which frees the server's cursor just as well.
const closeTimeout = time.Second

// OpenCursor opens a cursor on db on a connection of the cursor pool. At
// most cursors=N (URL) are open at once; one more fails at once with
// ErrExhausted rather than waiting for a client to close one.
func (b *Backend) OpenCursor(ctx context.Context, db string) (backend.Cursor, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return nil, err
	}
	k, err := b.openCursor(ctx, idx, resolvedFrom(ctx))
	if err != nil {
		// A nil *cursor returned as backend.Cursor would be a non-nil
		// interface, and the caller's deferred Close would dereference it.
		return nil, err
	}
	return k, nil
}

// openCursor takes a cursor slot and a connection of the cursor pool.
func (b *Backend) openCursor(ctx context.Context, idx uint16, ref *dbRef) (*cursor, error) {
	select {
	case b.cursorSlots <- struct{}{}:
	default:
		return nil, fmt.Errorf("kt open cursor on %s: %w: %d cursors (and unordered scans) are open, the limit set by cursors=%d in the backend URL; close one or raise the limit",
			b.addr, backend.ErrExhausted, cap(b.cursorSlots), cap(b.cursorSlots))
	}
	ctx, cancel := b.callContext(ctx)
	defer cancel()
	c, err := b.acquire(ctx, b.cursorPool, "open cursor", ref, false)
	if err != nil {
		<-b.cursorSlots
		return nil, err
	}
	return b.newCursor(idx, ref, b.cursorPool, c, true), nil
}

func (b *Backend) newCursor(idx uint16, ref *dbRef, p *connpool.Pool, c *conn, slot bool) *cursor {
	return &cursor{b: b, idx: idx, ref: ref, id: strconv.FormatInt(b.cursorIDs.Add(1), 10), p: p, c: c, slot: slot}
}

// cursor is a KT cursor on a dedicated connection.
type cursor struct {
	b   *Backend
	idx uint16
	// ref is the database list idx came from (nil for database 0).
	ref *dbRef
	id  string
	// p is the pool c came from; slot is set when the cursor holds one of
	// b.cursorSlots until Close.
	p    *connpool.Pool
	slot bool

	mu sync.Mutex
	c  *conn // nil once closed or lost
	// used is set after the first answered call: from then on the server
	// holds the cursor's state on c.
	used   bool
	lost   error
	closed bool
}

// op is one cursor procedure call.
type op struct {
	proc string
	p    params
}

// call runs ops pipelined (written at once, answered in order) and returns
// their replies. A failure status in any of them is returned after every
// reply has been read, so that the connection stays in step.
func (k *cursor) call(ctx context.Context, ops ...op) (_ []*reply, err error) {
	ctx, end := backend.StartRoundTrip(ctx, "kt", ops[0].proc)
	defer func() { end(err) }()
	ctx, cancel := k.b.callContext(ctx)
	defer cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lost != nil {
		return nil, k.lost
	}
	if k.c == nil {
		return nil, fmt.Errorf("kt cursor: %w: the cursor is closed", backend.ErrInvalid)
	}
	var req []byte
	for _, o := range ops {
		p := make(params, 0, len(o.p)+2)
		p.db(k.idx)
		p.str("CUR", k.id)
		req = ktwire.AppendRPCRequest(req, o.proc, append(p, o.p...))
	}
	for {
		replies := make([]*reply, len(ops))
		var failed error
		wrote, err := k.c.Exchange(ctx, connpool.Deadline(ctx, k.b.opts.timeout), req, func(c *conn) error {
			for i, o := range ops {
				rep, err := readRPC(c, o.proc)
				var ae *connpool.AppError
				switch {
				case errors.As(err, &ae):
					if failed == nil {
						failed = ae
					}
				case err != nil:
					return err
				}
				replies[i] = rep
			}
			return failed
		})
		var ae *connpool.AppError
		if err == nil || errors.As(err, &ae) {
			k.used = true
			if k.c.Broken {
				// The server announced a close, or a cancellation raced
				// the reply: the connection, and the cursor, are gone.
				k.drop(fmt.Errorf("kt cursor on %s: %w: its connection was closed, and the server's cursor with it; open a new cursor", k.b.addr, backend.ErrUnavailable))
			}
			if ae != nil {
				return nil, k.unsupported(ae.Err)
			}
			return replies, nil
		}
		retry := !k.used && k.c.Reused && ctx.Err() == nil && connpool.Stale(wrote, err)
		k.p.Put(k.c) // broken: closed and uncounted
		k.c = nil
		err = k.b.connError(ctx, ops[0].proc, err)
		if retry {
			// Nothing is lost yet: the server never answered for this
			// cursor, so a new connection can take over (unless the
			// server's databases changed meanwhile: see acquire).
			c, gerr := k.b.acquire(ctx, k.p, ops[0].proc, k.ref, true)
			if gerr == nil {
				k.c = c
				continue
			}
			err = gerr
		}
		k.lost = fmt.Errorf("kt cursor on %s: %w: its connection was lost, and the server's cursor with it; open a new cursor", k.b.addr, backend.ErrUnavailable)
		return nil, err
	}
}

// drop releases a connection the server closed.
func (k *cursor) drop(lost error) {
	k.p.Put(k.c)
	k.c = nil
	k.lost = lost
}

// unsupported explains the 501 of backward moves on unordered databases.
func (k *cursor) unsupported(err error) error {
	var re *rpcError
	if errors.As(err, &re) && re.status == 501 {
		return fmt.Errorf("kt %s on database %d: %w: the database is not ordered (only tree databases move backwards); server said %q", re.proc, k.idx, backend.ErrUnsupported, re.msg)
	}
	return err
}

// one runs a single call; ok is false when the server answered 450 (no
// record at the position).
func (k *cursor) one(ctx context.Context, proc string, p params) (*reply, bool, error) {
	reps, err := k.call(ctx, op{proc, p})
	if err != nil {
		return nil, false, err
	}
	if reps[0].logic() {
		return nil, false, nil
	}
	return reps[0], true, nil
}

func stepParams(step bool) params {
	var p params
	if step {
		p.flag("step")
	}
	return p
}

func keyParams(key []byte) params {
	var p params
	if key != nil {
		p.add("key", key)
	}
	return p
}

// Jump is cur_jump: a nil key means the first record.
func (k *cursor) Jump(ctx context.Context, key []byte) (bool, error) {
	_, ok, err := k.one(ctx, "cur_jump", keyParams(key))
	return ok, err
}

// JumpBack is cur_jump_back: a nil key means the last record. Unordered
// databases answer ErrUnsupported.
func (k *cursor) JumpBack(ctx context.Context, key []byte) (bool, error) {
	_, ok, err := k.one(ctx, "cur_jump_back", keyParams(key))
	return ok, err
}

// Step is cur_step.
func (k *cursor) Step(ctx context.Context) (bool, error) {
	_, ok, err := k.one(ctx, "cur_step", nil)
	return ok, err
}

// StepBack is cur_step_back. Unordered databases answer ErrUnsupported.
func (k *cursor) StepBack(ctx context.Context) (bool, error) {
	_, ok, err := k.one(ctx, "cur_step_back", nil)
	return ok, err
}

func recordOf(rep *reply) backend.Record {
	key, _ := rep.get("key")
	value, _ := rep.get("value")
	return backend.Record{Key: key, Value: value, ExpireTime: replyXT(rep)}
}

// Get is cur_get.
func (k *cursor) Get(ctx context.Context, step bool) (backend.Record, bool, error) {
	rep, ok, err := k.one(ctx, "cur_get", stepParams(step))
	if !ok {
		return backend.Record{}, false, err
	}
	return recordOf(rep), true, nil
}

// GetKey is cur_get_key.
func (k *cursor) GetKey(ctx context.Context, step bool) ([]byte, bool, error) {
	rep, ok, err := k.one(ctx, "cur_get_key", stepParams(step))
	if !ok {
		return nil, false, err
	}
	key, _ := rep.get("key")
	return key, true, nil
}

// GetValue is cur_get_value.
func (k *cursor) GetValue(ctx context.Context, step bool) ([]byte, bool, error) {
	rep, ok, err := k.one(ctx, "cur_get_value", stepParams(step))
	if !ok {
		return nil, false, err
	}
	value, _ := rep.get("value")
	return value, true, nil
}

// SetValue is cur_set_value.
func (k *cursor) SetValue(ctx context.Context, value []byte, exp backend.Expiry, step bool) (bool, error) {
	var p params
	p.add("value", value)
	if err := p.addXT(exp); err != nil {
		return false, err
	}
	if step {
		p.flag("step")
	}
	_, ok, err := k.one(ctx, "cur_set_value", p)
	return ok, err
}

// Remove is cur_remove; the cursor moves to the next record.
func (k *cursor) Remove(ctx context.Context) (bool, error) {
	_, ok, err := k.one(ctx, "cur_remove", nil)
	return ok, err
}

// Seize is cur_seize; the cursor moves to the next record.
func (k *cursor) Seize(ctx context.Context) (backend.Record, bool, error) {
	rep, ok, err := k.one(ctx, "cur_seize", nil)
	if !ok {
		return backend.Record{}, false, err
	}
	return recordOf(rep), true, nil
}

// Close deletes the server's cursor and returns the connection to its pool.
// It takes at most about a second whatever the server does: a connection
// whose cur_delete fails or takes longer is closed rather than returned with
// a stray cursor on it, which frees the server's cursor too.
func (k *cursor) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	c, used := k.c, k.used
	k.mu.Unlock()
	defer func() {
		if k.slot {
			<-k.b.cursorSlots
		}
	}()
	if c == nil {
		return nil
	}
	var err error
	if used {
		ctx, cancel := context.WithTimeout(context.Background(), min(closeTimeout, k.b.opts.timeout))
		_, err = k.call(ctx, op{proc: "cur_delete"})
		cancel()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		if err != nil {
			k.c.Broken = true
		}
		k.p.Put(k.c)
		k.c = nil
	}
	k.lost = fmt.Errorf("kt cursor: %w: the cursor is closed", backend.ErrInvalid)
	return nil
}

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
	c, err := s.b.acquire(cctx, s.b.pool, "scan", s.ref, false)
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
