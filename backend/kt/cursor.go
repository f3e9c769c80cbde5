package kt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// KT cursors live on one TCP connection, in a per-connection table of ids
// the client picks. A cursor therefore holds a connection from its first
// call to Close: one of the cursor pool, apart from the connections of
// unary calls, so that cursors held open by their clients never make calls
// wait. If that connection breaks, the server frees the cursor, so the
// cursor reports ErrUnavailable from then on instead of silently starting
// over on another connection.
//
// A call whose caller gives up (its deadline passes, or it is cancelled)
// before any of the reply arrived returns at once, but keeps the
// connection, and with it the cursor: the late reply is read in the
// background, for as long as the URL's timeout, and the cursor's next call
// first waits for that read, within its own context (Close within its
// second, then it closes the connection). If the reply does not come in
// time or does not read cleanly, the connection is closed and the cursor
// reports ErrUnavailable, as for any lost connection. A reply cut short
// half way still costs the connection.
//
// The late reply means the server carried the call out. If that call moves
// the cursor (a jump, a step, a read or write with step, a remove or a
// seize), the cursor is somewhere its client was never told of, so it
// answers ErrMismatch (FAILED_PRECONDITION) to every call but a jump until
// a jump places it again: never a record from a position the client did
// not expect. A late call that does not move the cursor (a read, a write
// without step) leaves it usable as it was; the write's own outcome is as
// unknown to its caller as that of any write past its deadline.

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
	c, err := b.acquire(ctx, b.cursorPool, "open cursor", ref, false, time.Time{})
	if err != nil {
		<-b.cursorSlots
		return nil, err
	}
	return b.newCursor(idx, ref, b.cursorPool, c, true), nil
}

func (b *Backend) newCursor(idx uint16, ref *dbRef, p *connpool.Pool, c *conn, slot bool) *cursor {
	return &cursor{b: b, idx: idx, ref: ref, id: strconv.FormatInt(b.cursorIDs.Add(1), 10), p: p, c: c, slot: slot}
}

// cursor is a KT cursor on a dedicated connection. Its calls are
// serialised by mu; see the notes above for what a late reply does to it.
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
	// late is the late reply being read in the background, nil when none.
	late *lateReply
	// unknown names the call whose late reply moved the cursor where its
	// client does not know ("" when the position is known).
	unknown string
	// waiting, when set (by tests), runs when a call starts to wait for a
	// late reply.
	waiting func()
}

// lateReply is the reply to a cursor call whose caller gave up before it
// arrived, read in the background on the cursor's connection.
type lateReply struct {
	proc  string // the call's (first) procedure
	moved bool   // the call moves the cursor
	// done is closed when the read ended; ok then says whether the reply
	// read cleanly.
	done chan struct{}
	ok   bool
	// cut ends the read at once, as a failure.
	cut func()
}

// moves reports whether o moves the cursor on the server.
func moves(o op) bool {
	switch o.proc {
	case "cur_jump", "cur_jump_back", "cur_step", "cur_step_back", "cur_remove", "cur_seize":
		return true
	}
	for _, f := range o.p {
		if string(f.Key) == "step" {
			return true
		}
	}
	return false
}

// places reports whether proc sets the cursor's position whatever it was
// (or ends the cursor), so that it may run when the position is unknown.
func places(proc string) bool {
	return proc == "cur_jump" || proc == "cur_jump_back" || proc == "cur_delete"
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
	if err := k.settle(ctx, ops[0].proc); err != nil {
		return nil, err
	}
	if k.unknown != "" && !places(ops[0].proc) {
		return nil, fmt.Errorf("kt %s on %s: %w: the cursor's position is unknown: an earlier %s passed its deadline, but the server carried it out afterwards and moved the cursor; Jump or JumpBack to place it again",
			ops[0].proc, k.b.addr, backend.ErrMismatch, k.unknown)
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
		got := k.c.Got()
		wrote, err := k.c.Exchange(ctx, connpool.Deadline(ctx, k.b.opts.Timeout), req, func(c *conn) error {
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
			if err == nil {
				// Only a call that places the cursor gets here while
				// its position is unknown.
				k.unknown = ""
			}
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
		if k.c.Early(ctx, got, wrote, err) {
			k.recoverLate(ops, req[0])
			return nil, k.b.connError(ctx, ops[0].proc, err)
		}
		retry := !k.used && k.c.Reused && ctx.Err() == nil && connpool.Stale(wrote, err)
		k.p.Put(k.c) // broken: closed and uncounted
		k.c = nil
		err = k.b.connError(ctx, ops[0].proc, err)
		if retry {
			// Nothing is lost yet: the server never answered for this
			// cursor, so a new connection can take over (unless the
			// server's databases changed meanwhile: see acquire).
			c, gerr := k.b.acquire(ctx, k.p, ops[0].proc, k.ref, true, time.Time{})
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

// recoverLate reads the replies to ops, whose caller gave up before any of
// them arrived, in the background; the cursor keeps its connection
// meanwhile, and its next call waits for the read (see settle).
func (k *cursor) recoverLate(ops []op, first byte) {
	l := &lateReply{proc: ops[0].proc, done: make(chan struct{})}
	for _, o := range ops {
		l.moved = l.moved || moves(o)
	}
	n := len(ops)
	k.late = l
	// The server has the request: from now on it holds the cursor's state.
	k.used = true
	l.cut = k.p.RecoverThen(k.c, k.b.opts.Timeout, func(c *conn) error {
		for range n {
			if err := discardReply(c, first); err != nil {
				return err
			}
		}
		return nil
	}, func(ok bool) {
		l.ok = ok
		close(l.done)
	})
}

// settle waits, within ctx, for the late reply being read on the cursor's
// connection, and takes the connection back. When the read failed, the
// connection and the server's cursor are gone.
func (k *cursor) settle(ctx context.Context, proc string) error {
	l := k.late
	if l == nil {
		return nil
	}
	if k.waiting != nil {
		k.waiting()
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("%w (while waiting for the late reply to an earlier %s, which its caller gave up on; the cursor is kept)",
			k.b.connError(ctx, proc, ctx.Err()), l.proc)
	}
	k.late = nil
	if !l.ok {
		k.p.Put(k.c) // broken: closed
		k.c = nil
		k.lost = fmt.Errorf("kt cursor on %s: %w: the late reply to an earlier %s, which its caller gave up on, did not come within %v or did not read cleanly, so its connection was closed, and the server's cursor with it; open a new cursor",
			k.b.addr, backend.ErrUnavailable, l.proc, k.b.opts.Timeout)
		return k.lost
	}
	if l.moved {
		k.unknown = l.proc
	}
	return nil
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
// a stray cursor on it, which frees the server's cursor too. A late reply
// still being read is waited for within that second, so that the
// connection is kept; past it, the connection is closed.
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
		ctx, cancel := context.WithTimeout(context.Background(), min(closeTimeout, k.b.opts.Timeout))
		_, err = k.call(ctx, op{proc: "cur_delete"})
		cancel()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if l := k.late; l != nil {
		// Close's time is up with a late reply still to read: the
		// connection is closed rather than held for it.
		k.late = nil
		l.cut()
		<-l.done
		if l.ok && l.proc == "cur_delete" {
			err = nil // the late reply was cur_delete's own
		}
	}
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
