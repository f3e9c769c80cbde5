package tt

import (
	"context"
	"fmt"
	"sync"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// iterCursor walks a hash or table database with the server's iterator
// (iterinit / iternext). The server keeps one iterator per database, shared
// by every client: another client's iterinit or iternext moves this cursor
// too. It is therefore only offered with iterator=shared in the URL, and
// only one such cursor per adapter is open at a time. Order is the
// database's own; the cursor can only start from the first record and move
// forward.
type iterCursor struct {
	b *Backend

	mu     sync.Mutex
	key    []byte
	valid  bool
	closed bool
}

var _ backend.Cursor = (*iterCursor)(nil)

func (b *Backend) openIterCursor() (backend.Cursor, error) {
	if !b.iterBusy.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%s: cursor: the server's only iterator is already used by another cursor of this gateway; close it first: %w", b.name, backend.ErrUnavailable)
	}
	return &iterCursor{b: b}, nil
}

func (c *iterCursor) check() error {
	if c.closed {
		return fmt.Errorf("%s: cursor is closed: %w", c.b.name, backend.ErrInvalid)
	}
	return nil
}

// next moves to the iterator's next key.
func (c *iterCursor) next(ctx context.Context) (bool, error) {
	rep, err := c.b.one(ctx, "iternext", false, &ttwire.Request{Cmd: ttwire.CmdIterNext})
	if err != nil {
		c.valid, c.key = false, nil
		return false, err
	}
	c.valid = rep.OK()
	c.key = nil
	if c.valid {
		c.key = rep.Key
	}
	return c.valid, nil
}

func (c *iterCursor) Jump(ctx context.Context, key []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return false, err
	}
	if key != nil {
		return false, fmt.Errorf("%s: cursor jump to a key: the shared iterator of a hash or table database only starts from the first record: %w", c.b.name, backend.ErrUnsupported)
	}
	rep, err := c.b.one(ctx, "iterinit", false, &ttwire.Request{Cmd: ttwire.CmdIterInit})
	if err != nil {
		return false, err
	}
	if !rep.OK() {
		return false, c.b.refused("iterinit")
	}
	return c.next(ctx)
}

func (c *iterCursor) JumpBack(ctx context.Context, key []byte) (bool, error) {
	return false, c.unsupported("jump_back")
}

func (c *iterCursor) StepBack(ctx context.Context) (bool, error) {
	return false, c.unsupported("step_back")
}

func (c *iterCursor) unsupported(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil {
		return err
	}
	return fmt.Errorf("%s: cursor %s: the shared iterator only moves forward (and cannot seize atomically): %w", c.b.name, op, backend.ErrUnsupported)
}

func (c *iterCursor) Step(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(); err != nil || !c.valid {
		return false, err
	}
	return c.next(ctx)
}

// current reads the record under the cursor, moving on past records that
// were removed since the iterator returned them.
func (c *iterCursor) current(ctx context.Context, step bool) (backend.Record, bool, error) {
	if err := c.check(); err != nil {
		return backend.Record{}, false, err
	}
	for c.valid {
		rep, err := c.b.one(ctx, "get", true, &ttwire.Request{Cmd: ttwire.CmdGet, Key: c.key})
		if err != nil {
			return backend.Record{}, false, err
		}
		if rep.OK() {
			rec := backend.Record{Key: c.key, Value: rep.Value}
			if step {
				if _, err := c.next(ctx); err != nil {
					return rec, true, err
				}
			}
			return rec, true, nil
		}
		if _, err := c.next(ctx); err != nil {
			return backend.Record{}, false, err
		}
	}
	return backend.Record{}, false, nil
}

func (c *iterCursor) Get(ctx context.Context, step bool) (backend.Record, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current(ctx, step)
}

func (c *iterCursor) GetKey(ctx context.Context, step bool) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok, err := c.current(ctx, step)
	return rec.Key, ok, err
}

func (c *iterCursor) GetValue(ctx context.Context, step bool) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok, err := c.current(ctx, step)
	return rec.Value, ok, err
}

func (c *iterCursor) SetValue(ctx context.Context, value []byte, exp backend.Expiry, step bool) (bool, error) {
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
		_, err = c.next(ctx)
	}
	return true, err
}

func (c *iterCursor) Remove(ctx context.Context) (bool, error) {
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
	_, err = c.next(ctx)
	return rep.OK(), err
}

func (c *iterCursor) Seize(ctx context.Context) (backend.Record, bool, error) {
	return backend.Record{}, false, c.unsupported("seize")
}

func (c *iterCursor) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed, c.valid, c.key = true, false, nil
		c.b.iterBusy.Store(false)
	}
	return nil
}
