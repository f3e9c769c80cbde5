package embedded

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// OpenCursor creates an unpositioned cursor on db.
//
// The cursor remembers a key, not a place in the tree, and looks it up again
// on every call, so it is unaffected by concurrent writes: when its record
// is removed (by anyone), the cursor's record becomes the next one, as with
// Kyoto Cabinet's cursors. Expired records are skipped.
//
// Like a Kyoto Cabinet tree cursor, it has a direction: JumpBack and
// StepBack turn it backward, Jump and Step forward. The step of Get,
// GetKey, GetValue and SetValue, and the move after Remove and Seize, go in
// that direction, so after JumpBack a Get with step moves to the previous
// record, and a removed record's place is taken by the one before it.
func (s *Store) OpenCursor(ctx context.Context, db string) (backend.Cursor, error) {
	d, err := s.database(db)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return &cursor{s: s, d: d}, nil
}

// cursor implements backend.Cursor.
type cursor struct {
	s *Store
	d *database

	mu     sync.Mutex
	key    []byte // the current record's key, store-owned
	valid  bool   // false: not positioned, or moved past an end
	back   bool   // moving backward: since the last JumpBack or StepBack
	closed bool
}

// errCursorClosed is returned by every method of a closed cursor.
var errCursorClosed = fmt.Errorf("embedded: cursor is closed: %w", backend.ErrInvalid)

// read runs fn under the cursor lock and the store's read lock.
func (c *cursor) read(ctx context.Context, fn func(d *database, now time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errCursorClosed
	}
	return c.s.view(ctx, c.d, fn)
}

// write runs fn under the cursor lock and the store's write lock.
func (c *cursor) write(ctx context.Context, cmd string, fn func(t *txn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errCursorClosed
	}
	return c.s.update(ctx, c.d, cmd, fn)
}

// moveTo positions the cursor on r, or unpositions it when ok is false.
func (c *cursor) moveTo(r record, ok bool) bool {
	c.key, c.valid = r.key, ok
	return ok
}

// current re-finds the cursor's record: the live record at its key or, when
// that one is gone, the next one in the cursor's direction.
func (c *cursor) current(d *database, now time.Time) (record, bool) {
	if !c.valid {
		return record{}, false
	}
	var r record
	var ok bool
	if c.back {
		r, ok = d.lastTo(c.key, true, now)
	} else {
		r, ok = d.firstFrom(c.key, true, now)
	}
	c.moveTo(r, ok)
	return r, ok
}

// step moves past r in the cursor's direction.
func (c *cursor) step(d *database, r record, now time.Time) {
	if c.back {
		c.moveTo(d.lastTo(r.key, false, now))
		return
	}
	c.moveTo(d.firstFrom(r.key, false, now))
}

func (c *cursor) unordered(op string) error {
	return fmt.Errorf("embedded: cursor %s on database %q: it is a %s database, which has no backward order: %w", op, c.d.name, c.d.kind, backend.ErrUnsupported)
}

// Jump moves to the first record at or after key; nil means the first
// record.
func (c *cursor) Jump(ctx context.Context, key []byte) (ok bool, err error) {
	err = c.read(ctx, func(d *database, now time.Time) error {
		c.back = false
		ok = c.moveTo(d.firstFrom(key, true, now))
		return nil
	})
	return ok, err
}

// JumpBack moves to the last record at or before key; nil means the last
// record.
func (c *cursor) JumpBack(ctx context.Context, key []byte) (ok bool, err error) {
	if !c.d.kind.ordered() {
		return false, c.unordered("jump_back")
	}
	err = c.read(ctx, func(d *database, now time.Time) error {
		c.back = true
		ok = c.moveTo(d.lastTo(key, true, now))
		return nil
	})
	return ok, err
}

// Step moves to the next record.
func (c *cursor) Step(ctx context.Context) (ok bool, err error) {
	err = c.read(ctx, func(d *database, now time.Time) error {
		c.back = false
		if r, found := c.current(d, now); found {
			c.step(d, r, now)
			ok = c.valid
		}
		return nil
	})
	return ok, err
}

// StepBack moves to the previous record: the last one before the cursor's
// key, even if the cursor's own record has gone meanwhile.
func (c *cursor) StepBack(ctx context.Context) (ok bool, err error) {
	if !c.d.kind.ordered() {
		return false, c.unordered("step_back")
	}
	err = c.read(ctx, func(d *database, now time.Time) error {
		c.back = true
		if c.valid {
			ok = c.moveTo(d.lastTo(c.key, false, now))
		}
		return nil
	})
	return ok, err
}

// Get reads the current record, then steps when step is true.
func (c *cursor) Get(ctx context.Context, step bool) (rec backend.Record, ok bool, err error) {
	err = c.read(ctx, func(d *database, now time.Time) error {
		r, found := c.current(d, now)
		if !found {
			return nil
		}
		rec, ok = r.result(), true
		if step {
			c.step(d, r, now)
		}
		return nil
	})
	return rec, ok, err
}

// GetKey reads the current key, then steps when step is true.
func (c *cursor) GetKey(ctx context.Context, step bool) (key []byte, ok bool, err error) {
	err = c.read(ctx, func(d *database, now time.Time) error {
		r, found := c.current(d, now)
		if !found {
			return nil
		}
		key, ok = own(r.key), true
		if step {
			c.step(d, r, now)
		}
		return nil
	})
	return key, ok, err
}

// GetValue reads the current value, then steps when step is true.
func (c *cursor) GetValue(ctx context.Context, step bool) (value []byte, ok bool, err error) {
	err = c.read(ctx, func(d *database, now time.Time) error {
		r, found := c.current(d, now)
		if !found {
			return nil
		}
		value, ok = own(r.value), true
		if step {
			c.step(d, r, now)
		}
		return nil
	})
	return value, ok, err
}

// SetValue overwrites the current record's value and expiration, then steps
// when step is true.
func (c *cursor) SetValue(ctx context.Context, value []byte, exp backend.Expiry, step bool) (ok bool, err error) {
	err = c.write(ctx, "cur_set_value", func(t *txn) error {
		r, found := c.current(t.d, t.now)
		if !found {
			return nil
		}
		v, err := kvValue(t.d, "cursor set_value", r.key, value, exp)
		if err != nil {
			return err
		}
		nr := t.store(r.key, v, exp)
		ok = true
		if step {
			c.step(t.d, nr, t.now)
		} else {
			c.moveTo(nr, true)
		}
		return nil
	})
	return ok, err
}

// Remove deletes the current record; the cursor moves to the next one in
// its direction.
func (c *cursor) Remove(ctx context.Context) (ok bool, err error) {
	err = c.write(ctx, "cur_remove", func(t *txn) error {
		r, found := c.current(t.d, t.now)
		if !found {
			return nil
		}
		t.remove(r.key)
		c.step(t.d, r, t.now)
		ok = true
		return nil
	})
	return ok, err
}

// Seize reads and deletes the current record; the cursor moves to the next
// one in its direction.
func (c *cursor) Seize(ctx context.Context) (rec backend.Record, ok bool, err error) {
	err = c.write(ctx, "cur_seize", func(t *txn) error {
		r, found := c.current(t.d, t.now)
		if !found {
			return nil
		}
		t.remove(r.key)
		c.step(t.d, r, t.now)
		rec, ok = r.result(), true
		return nil
	})
	return rec, ok, err
}

// Close releases the cursor; later calls fail. It is idempotent.
func (c *cursor) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.key = nil
	return nil
}
