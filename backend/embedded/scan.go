package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/keyrange"
)

// DefaultScanBatch is the batch size of Scan when opts.BatchSize is 0.
const DefaultScanBatch = 256

// scanBatchBytes ends a batch early once its keys and values reach this many
// bytes. A batch is copied under the read lock, so a huge BatchSize must not
// turn one step of a scan into a copy of the whole database that keeps
// writers waiting and memory growing.
const scanBatchBytes = 4 << 20

// Scan hands the live records with keys in [Start, End) that carry Prefix to
// fn, in key order (descending with Reverse, from the greatest key below End),
// in batches of at most BatchSize records (fewer once a batch holds
// scanBatchBytes of keys and values). The store is not locked while fn runs:
// each batch is a copy, and the next one resumes after the last key handed
// out, so records written meanwhile are seen or not depending on where they
// fall.
// Reverse scans of a Hash or Table database fail with backend.ErrUnsupported.
func (s *Store) Scan(ctx context.Context, db string, opts backend.ScanOptions, fn func(batch []backend.Record) error) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	if opts.Limit < 0 {
		return fmt.Errorf("embedded: scan limit %d is negative (0 means no limit): %w", opts.Limit, backend.ErrInvalid)
	}
	if opts.BatchSize < 0 {
		return fmt.Errorf("embedded: scan batch size %d is negative (0 means %d): %w", opts.BatchSize, DefaultScanBatch, backend.ErrInvalid)
	}
	if opts.Reverse && !d.kind.ordered() {
		return fmt.Errorf("embedded: reverse scan of database %q: it is a %s database, which has no order: %w", d.name, d.kind, backend.ErrUnsupported)
	}
	batchSize := opts.BatchSize
	if batchSize == 0 {
		batchSize = DefaultScanBatch
	}
	r := scanRange{lower: opts.Start, upper: opts.End, prefix: opts.Prefix, keysOnly: opts.KeysOnly}
	if len(r.lower) == 0 {
		r.lower = nil
	}
	if len(r.upper) == 0 {
		r.upper = nil
	}
	if len(r.prefix) > 0 {
		if bytes.Compare(r.prefix, r.lower) > 0 {
			r.lower = r.prefix
		}
		if end := keyrange.PrefixEnd(r.prefix); end != nil && (r.upper == nil || bytes.Compare(end, r.upper) < 0) {
			r.upper = end
		}
	}
	if r.lower != nil && r.upper != nil && bytes.Compare(r.lower, r.upper) >= 0 {
		return s.view(ctx, d, func(*database, time.Time) error { return nil })
	}
	remaining := opts.Limit
	var resume []byte
	for {
		n := batchSize
		if remaining > 0 && remaining < int64(n) {
			n = int(remaining)
		}
		var (
			batch []backend.Record
			more  bool
		)
		err := s.view(ctx, d, func(d *database, now time.Time) error {
			if opts.Reverse {
				batch, more = r.backward(d, now, resume, n)
			} else {
				batch, more = r.forward(d, now, resume, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		// fn owns the batch, so keep a private copy of where to resume.
		resume = own(batch[len(batch)-1].Key)
		if err := fn(batch); err != nil {
			return err
		}
		if !more {
			return nil
		}
		if remaining > 0 {
			remaining -= int64(len(batch))
			if remaining == 0 {
				return nil
			}
		}
	}
}

// scanRange is a Scan's key range: [lower, upper) with nil for an open end,
// narrowed to the prefix.
type scanRange struct {
	lower, upper []byte
	prefix       []byte
	keysOnly     bool
}

// batcher collects one batch of a scan: up to n records or scanBatchBytes
// of keys and values, whichever comes first.
type batcher struct {
	sr    *scanRange
	n     int
	bytes int
	out   []backend.Record
	full  bool
}

// take adds r and reports whether the batch has room for more.
func (b *batcher) take(r record) bool {
	rec := backend.Record{Key: own(r.key)}
	// A keys-only scan carries neither value nor expiration: Kyoto Tycoon's
	// key-only cursor read reports no expiration, and every backend answers
	// alike.
	if !b.sr.keysOnly {
		rec.Value, rec.ExpireTime = own(r.value), r.expire
	}
	b.out = append(b.out, rec)
	b.bytes += len(rec.Key) + len(rec.Value)
	b.full = len(b.out) >= b.n || b.bytes >= scanBatchBytes
	return !b.full
}

// forward collects a batch of live records after resume (or from lower);
// more reports that the batch filled up, so that the range may go on.
func (sr *scanRange) forward(d *database, now time.Time, resume []byte, n int) (batch []backend.Record, more bool) {
	b := batcher{sr: sr, n: n}
	visit := func(r record) bool {
		if sr.upper != nil && bytes.Compare(r.key, sr.upper) >= 0 {
			return false
		}
		if (resume != nil && bytes.Equal(r.key, resume)) || r.expired(now) || !bytes.HasPrefix(r.key, sr.prefix) {
			return true
		}
		return b.take(r)
	}
	switch {
	case resume != nil:
		d.recs.AscendGreaterOrEqual(record{key: resume}, visit)
	case sr.lower != nil:
		d.recs.AscendGreaterOrEqual(record{key: sr.lower}, visit)
	default:
		d.recs.Ascend(visit)
	}
	return b.out, b.full
}

// backward is forward descending: a batch of live records before resume (or
// below upper).
func (sr *scanRange) backward(d *database, now time.Time, resume []byte, n int) (batch []backend.Record, more bool) {
	b := batcher{sr: sr, n: n}
	visit := func(r record) bool {
		if sr.lower != nil && bytes.Compare(r.key, sr.lower) < 0 {
			return false
		}
		if (resume != nil && bytes.Equal(r.key, resume)) ||
			(resume == nil && sr.upper != nil && bytes.Equal(r.key, sr.upper)) ||
			r.expired(now) || !bytes.HasPrefix(r.key, sr.prefix) {
			return true
		}
		return b.take(r)
	}
	switch {
	case resume != nil:
		d.recs.DescendLessOrEqual(record{key: resume}, visit)
	case sr.upper != nil:
		d.recs.DescendLessOrEqual(record{key: sr.upper}, visit)
	default:
		d.recs.Descend(visit)
	}
	return b.out, b.full
}
