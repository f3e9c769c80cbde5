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
	return &cursor{b: b}, nil
}

type cursor struct {
	b *Backend

	mu sync.Mutex
	// key is the current record's key as last seen; valid is false before
	// the first jump and after moving past the end.
	key    []byte
	valid  bool
	closed bool
}

var _ backend.Cursor = (*cursor)(nil)

func (c *cursor) check() error {
	if c.closed {
		return fmt.Errorf("%s: cursor is closed: %w", c.b.name, backend.ErrInvalid)
	}
	return nil
}

// seek positions the cursor on the first record at or after from and
// returns up to n records from there.
func (c *cursor) seek(ctx context.Context, from []byte, n int) ([]backend.Record, error) {
	if from == nil {
		from = []byte{}
	}
	recs, err := c.b.rangeRecords(ctx, from, nil, n)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		c.valid, c.key = false, nil
		return nil, nil
	}
	c.valid, c.key = true, recs[0].Key
	return recs, nil
}

func after(key []byte) []byte { return append(bytes.Clone(key), 0) }

func (c *cursor) Jump(ctx context.Context, key []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return false, err
	}
	recs, err := c.seek(ctx, key, 1)
	return len(recs) > 0, err
}

func (c *cursor) JumpBack(ctx context.Context, key []byte) (bool, error) {
	return false, c.backward("jump_back")
}

func (c *cursor) StepBack(ctx context.Context) (bool, error) {
	return false, c.backward("step_back")
}

func (c *cursor) backward(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return err
	}
	return fmt.Errorf("%s: cursor %s: Tokyo Tyrant's range lookup only goes forward: %w", c.b.name, op, backend.ErrUnsupported)
}

func (c *cursor) Step(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil || !c.valid {
		return false, err
	}
	recs, err := c.seek(ctx, after(c.key), 1)
	return len(recs) > 0, err
}

// current re-reads the record under the cursor (or the next one, when it
// was removed) and, with step, the one after it in the same request.
func (c *cursor) current(ctx context.Context, step bool) (backend.Record, bool, error) {
	if err := c.check(); err != nil || !c.valid {
		return backend.Record{}, false, err
	}
	n := 1
	if step {
		n = 2
	}
	recs, err := c.seek(ctx, c.key, n)
	if err != nil || len(recs) == 0 {
		return backend.Record{}, false, err
	}
	if step {
		if len(recs) > 1 {
			c.key = recs[1].Key
		} else {
			c.valid, c.key = false, nil
		}
	}
	return recs[0], true, nil
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
		if _, err := c.seek(ctx, after(rec.Key), 1); err != nil {
			return true, err
		}
	}
	return true, nil
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
	if _, err := c.seek(ctx, after(rec.Key), 1); err != nil {
		return rep.OK(), err
	}
	return rep.OK(), nil
}

func (c *cursor) Seize(ctx context.Context) (backend.Record, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return backend.Record{}, false, err
	}
	return backend.Record{}, false, fmt.Errorf("%s: cursor seize: Tokyo Tyrant cannot read and remove a record atomically: %w", c.b.name, backend.ErrUnsupported)
}

func (c *cursor) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed, c.valid, c.key = true, false, nil
	return nil
}
