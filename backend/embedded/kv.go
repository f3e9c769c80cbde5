package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// result copies r for a caller.
func (r record) result() backend.Record {
	return backend.Record{Key: own(r.key), Value: own(r.value), ExpireTime: r.expire}
}

// Get reads one live record.
func (s *Store) Get(ctx context.Context, db string, key []byte) (rec backend.Record, found bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return backend.Record{}, false, err
	}
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		r, ok := d.live(key, now)
		if ok {
			rec, found = r.result(), true
		}
		return nil
	})
	return rec, found, err
}

// GetBulk reads the live records among keys, in the order of keys. The read
// is always atomic.
func (s *Store) GetBulk(ctx context.Context, db string, keys [][]byte, atomic bool) ([]backend.Record, error) {
	d, err := s.database(db)
	if err != nil {
		return nil, err
	}
	var out []backend.Record
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		for _, k := range keys {
			if r, ok := d.live(k, now); ok {
				out = append(out, r.result())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Set stores a record, overwriting any existing value.
func (s *Store) Set(ctx context.Context, db string, key, value []byte, exp backend.Expiry, opts backend.WriteOptions) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	v, err := kvValue(d, "set", key, value, exp)
	if err != nil {
		return err
	}
	return s.update(ctx, d, "set", func(t *txn) error {
		t.store(own(key), v, exp)
		return nil
	})
}

// SetBulk stores every entry and returns how many there were. With
// opts.Atomic all of them are written under one lock, they must share one
// expiration (backend.AtomicExpiry), and a repeated key is stored and
// counted once with its last value, as Kyoto Tycoon's atomic set_bulk does;
// otherwise readers may see a prefix of the batch and every entry counts.
func (s *Store) SetBulk(ctx context.Context, db string, entries []backend.Entry, opts backend.WriteOptions) (int64, error) {
	d, err := s.database(db)
	if err != nil {
		return 0, err
	}
	values := make([][]byte, len(entries))
	for i, e := range entries {
		if values[i], err = kvValue(d, "set_bulk", e.Key, e.Value, e.Expiry); err != nil {
			return 0, err
		}
	}
	if opts.Atomic {
		if _, err := backend.AtomicExpiry(entries); err != nil {
			return 0, fmt.Errorf("embedded: %w", err)
		}
		last := make(map[string]int, len(entries))
		for i, e := range entries {
			last[string(e.Key)] = i
		}
		err := s.update(ctx, d, "set_bulk", func(t *txn) error {
			for i, e := range entries {
				if last[string(e.Key)] == i {
					t.store(own(e.Key), values[i], e.Expiry)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		return int64(len(last)), nil
	}
	var n int64
	for i, e := range entries {
		err := s.update(ctx, d, "set_bulk", func(t *txn) error {
			t.store(own(e.Key), values[i], e.Expiry)
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("embedded: set_bulk stopped after %d of %d records: %w", n, len(entries), err)
		}
		n++
	}
	return n, nil
}

// Add stores a record only if no live record has the key.
func (s *Store) Add(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (applied bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return false, err
	}
	v, err := kvValue(d, "add", key, value, exp)
	if err != nil {
		return false, err
	}
	err = s.update(ctx, d, "add", func(t *txn) error {
		if _, found, _ := t.lookup(key); found {
			return nil
		}
		t.store(own(key), v, exp)
		applied = true
		return nil
	})
	return applied, err
}

// Replace stores a record only if a live record has the key.
func (s *Store) Replace(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (applied bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return false, err
	}
	v, err := kvValue(d, "replace", key, value, exp)
	if err != nil {
		return false, err
	}
	err = s.update(ctx, d, "replace", func(t *txn) error {
		old, found, purged := t.lookup(key)
		if !found {
			if purged {
				t.logRemove(key)
			}
			return nil
		}
		t.store(old.key, v, exp)
		applied = true
		return nil
	})
	return applied, err
}

// Append appends value to the record, creating it when missing; keepLast > 0
// keeps only the last keepLast bytes of an existing record's result, while a
// new record stores the whole value, as Tokyo Tyrant's putshl does. exp
// applies to the written record. The log gets an OpSet with the whole
// resulting value.
func (s *Store) Append(ctx context.Context, db string, key, value []byte, exp backend.Expiry, keepLast int) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	if err := notTable(d, "append", "byte strings to append to"); err != nil {
		return err
	}
	if keepLast < 0 {
		return fmt.Errorf("embedded: append keepLast %d is negative (0 keeps everything): %w", keepLast, backend.ErrInvalid)
	}
	return s.update(ctx, d, "append", func(t *txn) error {
		old, found, _ := t.lookup(key)
		var head []byte
		if found {
			head = old.value
		}
		total := len(head) + len(value)
		skip := 0
		if found && keepLast > 0 && total > keepLast {
			skip = total - keepLast
		}
		// A new slice every time: the old value may be shared with the log.
		nv := make([]byte, 0, total-skip)
		if skip < len(head) {
			nv = append(nv, head[skip:]...)
			nv = append(nv, value...)
		} else {
			nv = append(nv, value[skip-len(head):]...)
		}
		t.store(own(key), nv, exp)
		return nil
	})
}

// Remove deletes a record. A missing key is logged as a REMOVE only with
// Options.LogMissingRemoves.
func (s *Store) Remove(ctx context.Context, db string, key []byte) (removed bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return false, err
	}
	err = s.update(ctx, d, "remove", func(t *txn) error {
		_, removed = t.remove(key)
		return nil
	})
	return removed, err
}

// RemoveBulk deletes the records of keys and returns how many were live.
// Missing keys are logged as for Remove.
func (s *Store) RemoveBulk(ctx context.Context, db string, keys [][]byte, atomic bool) (int64, error) {
	d, err := s.database(db)
	if err != nil {
		return 0, err
	}
	var n int64
	if atomic {
		err := s.update(ctx, d, "remove_bulk", func(t *txn) error {
			for _, k := range keys {
				if _, ok := t.remove(k); ok {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	for i, k := range keys {
		err := s.update(ctx, d, "remove_bulk", func(t *txn) error {
			if _, ok := t.remove(k); ok {
				n++
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("embedded: remove_bulk stopped after %d of %d keys: %w", i, len(keys), err)
		}
	}
	return n, nil
}

// Check reports a live record's value size and expiration.
func (s *Store) Check(ctx context.Context, db string, key []byte) (info backend.RecordInfo, found bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return backend.RecordInfo{}, false, err
	}
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		if r, ok := d.live(key, now); ok {
			info, found = backend.RecordInfo{ValueSize: int64(len(r.value)), ExpireTime: r.expire}, true
		}
		return nil
	})
	return info, found, err
}

// Seize reads and removes a live record atomically.
func (s *Store) Seize(ctx context.Context, db string, key []byte) (rec backend.Record, found bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return backend.Record{}, false, err
	}
	err = s.update(ctx, d, "seize", func(t *txn) error {
		r, ok, purged := t.lookup(key)
		if !ok {
			if purged {
				t.logRemove(key)
			}
			return nil
		}
		t.remove(r.key)
		rec, found = r.result(), true
		return nil
	})
	return rec, found, err
}

// CompareAndSwap replaces the record if its value equals oldValue. A nil
// oldValue means "no live record" (an empty, non-nil one means "an empty
// value"); a nil newValue means "remove". A mismatch changes and logs
// nothing, except the removal of an expired record it found.
func (s *Store) CompareAndSwap(ctx context.Context, db string, key, oldValue, newValue []byte, exp backend.Expiry) (swapped bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return false, err
	}
	var v []byte
	if newValue != nil {
		if v, err = kvValue(d, "cas", key, newValue, exp); err != nil {
			return false, err
		}
	}
	err = s.update(ctx, d, "cas", func(t *txn) error {
		cur, found, purged := t.lookup(key)
		match := (oldValue == nil && !found) || (oldValue != nil && found && bytes.Equal(cur.value, oldValue))
		if !match {
			if purged {
				t.logRemove(key)
			}
			return nil
		}
		if newValue == nil {
			t.remove(key)
		} else {
			t.store(own(key), v, exp)
		}
		swapped = true
		return nil
	})
	return swapped, err
}
