package tt

import (
	"context"
	"fmt"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// iterWalk walks a hash or table database with the server's iterator
// (iterinit / iternext). The server keeps one iterator per database, shared
// by every client: another client's iterinit or iternext moves this cursor
// too. It is therefore only offered with iterator=shared in the URL, and
// only one such cursor per adapter is open at a time. Order is the
// database's own; the cursor can only start from the first record and move
// forward.
type iterWalk struct {
	b     *Backend
	key   []byte
	valid bool
}

func (b *Backend) openIterCursor() (backend.Cursor, error) {
	if !b.iterBusy.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%s: cursor: the server's only iterator is already used by another cursor of this gateway; close it first: %w", b.name, backend.ErrUnavailable)
	}
	return &cursor{b: b, walk: &iterWalk{b: b}}, nil
}

// next moves to the iterator's next key.
func (w *iterWalk) next(ctx context.Context) (bool, error) {
	rep, err := w.b.one(ctx, "iternext", false, &ttwire.Request{Cmd: ttwire.CmdIterNext})
	if err != nil {
		w.valid, w.key = false, nil
		return false, err
	}
	w.valid = rep.OK()
	w.key = nil
	if w.valid {
		w.key = rep.Key
	}
	return w.valid, nil
}

func (w *iterWalk) jump(ctx context.Context, key []byte) (bool, error) {
	if key != nil {
		return false, fmt.Errorf("%s: cursor jump to a key: the shared iterator of a hash or table database only starts from the first record: %w", w.b.name, backend.ErrUnsupported)
	}
	rep, err := w.b.one(ctx, "iterinit", false, &ttwire.Request{Cmd: ttwire.CmdIterInit})
	if err != nil {
		return false, err
	}
	if !rep.OK() {
		return false, w.b.refused("iterinit")
	}
	return w.next(ctx)
}

func (w *iterWalk) step(ctx context.Context) (bool, error) {
	if !w.valid {
		return false, nil
	}
	return w.next(ctx)
}

// current reads the record under the iterator, moving on past records that
// were removed since the iterator returned them.
func (w *iterWalk) current(ctx context.Context, step bool) (backend.Record, bool, error) {
	for w.valid {
		rep, err := w.b.one(ctx, "get", true, &ttwire.Request{Cmd: ttwire.CmdGet, Key: w.key})
		if err != nil {
			return backend.Record{}, false, err
		}
		if rep.OK() {
			rec := backend.Record{Key: w.key, Value: rep.Value}
			if step {
				if _, err := w.next(ctx); err != nil {
					return rec, true, err
				}
			}
			return rec, true, nil
		}
		if _, err := w.next(ctx); err != nil {
			return backend.Record{}, false, err
		}
	}
	return backend.Record{}, false, nil
}

func (w *iterWalk) refuse(op string) error {
	return fmt.Errorf("%s: cursor %s: the shared iterator only moves forward (and cannot seize atomically): %w", w.b.name, op, backend.ErrUnsupported)
}

func (w *iterWalk) close() {
	w.valid, w.key = false, nil
	w.b.iterBusy.Store(false)
}
