package tt

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// OpenCursor returns a forward cursor on a B+ tree database. The server's
// own iterator is one per database, shared by every client, so the cursor
// never touches it: it keeps the current key here and finds records with
// misc "range" (first key at or after a bound), which on a B+ tree opens a
// cursor of its own. Backward moves and Seize answer backend.ErrUnsupported
// (range only goes forward, and reading plus removing is not atomic).
//
// Other database types have no lookup of that kind (an on-memory tree's
// range walks the shared iterator). Their only way to walk the records is
// the server's iterator (iterinit / iternext), one per server and shared by
// every client, so another client's walk moves this cursor too. OpenCursor
// uses it only when the URL says iterator=shared, one cursor at a time per
// adapter, and refuses otherwise.
//
// The cursor moves from key to key: of a key with several values (putdup)
// it reads the first, as get does. It holds no connection between calls. When its record is removed
// by someone else, reads move on to the next record, as a server cursor
// would; SetValue writes the current key with put, so a record removed
// between locating it and writing is created again.
func (b *Backend) OpenCursor(ctx context.Context, db string) (backend.Cursor, error) {
	if err := checkDB(db); err != nil {
		return nil, err
	}
	kind, err := b.dbKind(ctx)
	if err != nil {
		return nil, err
	}
	if !kind.hasRange() {
		if b.opts.SharedIterator {
			return b.openIterCursor()
		}
		return nil, fmt.Errorf("%s: cursor: a %s database can only be walked with the iterator that every connection shares; cursors need a B+ tree (or iterator=shared in the URL, accepting that other clients move the iterator): %w", b.name, kind, backend.ErrUnsupported)
	}
	return &cursor{b: b, walk: &rangeWalk{b: b}}, nil
}

// cursor is a backend.Cursor over a walk, which finds the records: a
// rangeWalk on a B+ tree, an iterWalk over the shared iterator. Reading,
// writing and removing the record under it work the same on both.
type cursor struct {
	b    *Backend
	walk walk

	mu     sync.Mutex
	closed bool
}

var _ backend.Cursor = (*cursor)(nil)

// walk finds a cursor's records and keeps its position. Its methods run
// under the cursor's lock, on an open cursor.
type walk interface {
	// jump moves to the first record at or after key (nil: the first).
	jump(ctx context.Context, key []byte) (bool, error)
	// step moves past the current record; false when there was none or
	// nothing follows.
	step(ctx context.Context) (bool, error)
	// current reads the record under the walk, or the next one when it was
	// removed, and with step moves past it.
	current(ctx context.Context, step bool) (backend.Record, bool, error)
	// refuse is the error of op (jump_back, step_back or seize), which
	// neither walk can do.
	refuse(op string) error
	// close releases what the walk holds.
	close()
}

func (c *cursor) check() error {
	if c.closed {
		return fmt.Errorf("%s: cursor is closed: %w", c.b.name, backend.ErrInvalid)
	}
	return nil
}

func (c *cursor) Jump(ctx context.Context, key []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return false, err
	}
	return c.walk.jump(ctx, key)
}

func (c *cursor) JumpBack(ctx context.Context, key []byte) (bool, error) {
	return false, c.refuse("jump_back")
}

func (c *cursor) StepBack(ctx context.Context) (bool, error) {
	return false, c.refuse("step_back")
}

func (c *cursor) Seize(ctx context.Context) (backend.Record, bool, error) {
	return backend.Record{}, false, c.refuse("seize")
}

func (c *cursor) refuse(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return err
	}
	return c.walk.refuse(op)
}

func (c *cursor) Step(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return false, err
	}
	return c.walk.step(ctx)
}

func (c *cursor) current(ctx context.Context, step bool) (backend.Record, bool, error) {
	if err := c.check(); err != nil {
		return backend.Record{}, false, err
	}
	return c.walk.current(ctx, step)
}

func (c *cursor) Get(ctx context.Context, step bool) (backend.Record, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current(ctx, step)
}

func (c *cursor) GetKey(ctx context.Context, step bool) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok, err := c.current(ctx, step)
	return rec.Key, ok, err
}

func (c *cursor) GetValue(ctx context.Context, step bool) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok, err := c.current(ctx, step)
	return rec.Value, ok, err
}

func (c *cursor) SetValue(ctx context.Context, value []byte, exp backend.Expiry, step bool) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := checkExpiry(exp); err != nil {
		return false, err
	}
	rec, ok, err := c.current(ctx, false)
	if err != nil || !ok {
		return false, err
	}
	rep, err := c.b.one(ctx, "put", false, &ttwire.Request{Cmd: ttwire.CmdPut, Key: rec.Key, Value: value})
	if err != nil {
		return false, err
	}
	if !rep.OK() {
		return false, c.b.refused("put")
	}
	if step {
		_, err = c.walk.step(ctx)
	}
	return true, err
}

func (c *cursor) Remove(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok, err := c.current(ctx, false)
	if err != nil || !ok {
		return false, err
	}
	rep, err := c.b.one(ctx, "out", false, &ttwire.Request{Cmd: ttwire.CmdOut, Key: rec.Key})
	if err != nil {
		return false, err
	}
	_, err = c.walk.step(ctx)
	return rep.OK(), err
}

func (c *cursor) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.walk.close()
	}
	return nil
}

// rangeWalk finds the records of a B+ tree with misc "range", starting from
// the current key each time (see OpenCursor).
type rangeWalk struct {
	b *Backend
	// key is the current record's key as last seen; valid is false before
	// the first jump and after moving past the end.
	key   []byte
	valid bool
}

// seek positions the walk on the first record at or after from and
// returns up to n records from there.
func (w *rangeWalk) seek(ctx context.Context, from []byte, n int) ([]backend.Record, error) {
	if from == nil {
		from = []byte{}
	}
	recs, err := w.b.rangeRecords(ctx, from, nil, n)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		w.valid, w.key = false, nil
		return nil, nil
	}
	w.valid, w.key = true, recs[0].Key
	return recs, nil
}

func after(key []byte) []byte { return append(bytes.Clone(key), 0) }

func (w *rangeWalk) jump(ctx context.Context, key []byte) (bool, error) {
	recs, err := w.seek(ctx, key, 1)
	return len(recs) > 0, err
}

func (w *rangeWalk) step(ctx context.Context) (bool, error) {
	if !w.valid {
		return false, nil
	}
	recs, err := w.seek(ctx, after(w.key), 1)
	return len(recs) > 0, err
}

// current re-reads the record under the walk (or the next one, when it
// was removed) and, with step, the one after it in the same request.
func (w *rangeWalk) current(ctx context.Context, step bool) (backend.Record, bool, error) {
	if !w.valid {
		return backend.Record{}, false, nil
	}
	n := 1
	if step {
		n = 2
	}
	recs, err := w.seek(ctx, w.key, n)
	if err != nil || len(recs) == 0 {
		return backend.Record{}, false, err
	}
	if step {
		if len(recs) > 1 {
			w.key = recs[1].Key
		} else {
			w.valid, w.key = false, nil
		}
	}
	return recs[0], true, nil
}

func (w *rangeWalk) refuse(op string) error {
	if op == "seize" {
		return fmt.Errorf("%s: cursor seize: Tokyo Tyrant cannot read and remove a record atomically: %w", w.b.name, backend.ErrUnsupported)
	}
	return fmt.Errorf("%s: cursor %s: Tokyo Tyrant's range lookup only goes forward: %w", w.b.name, op, backend.ErrUnsupported)
}

func (w *rangeWalk) close() { w.valid, w.key = false, nil }
