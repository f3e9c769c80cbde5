package tt

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/keyrange"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// defaultBatch is the Scan batch size when the caller gives none.
const defaultBatch = 256

// misc runs a misc function. Reads pass readOnly: they are sent with
// MiscNoUpdateLog, so that they never reach the update log and slaves, and
// may be retried.
func (b *Backend) misc(ctx context.Context, name string, args [][]byte, readOnly bool) ([][]byte, bool, error) {
	req := &ttwire.Request{Cmd: ttwire.CmdMisc, Name: name, Args: args}
	if readOnly {
		req.Opts = ttwire.MiscNoUpdateLog
	}
	rep, err := b.one(ctx, "misc "+name, readOnly, req)
	if err != nil {
		return nil, false, err
	}
	return rep.Elems, rep.OK(), nil
}

// fwmkeys lists the keys with prefix; max < 0 means all.
func (b *Backend) fwmkeys(ctx context.Context, prefix []byte, max int32) ([][]byte, error) {
	rep, err := b.one(ctx, "fwmkeys", true, &ttwire.Request{Cmd: ttwire.CmdFwmKeys, Prefix: prefix, Max: max})
	if err != nil {
		return nil, err
	}
	return rep.Keys, nil
}

// MatchKeys lists keys by prefix with fwmkeys, in ascending byte order.
// Regular expressions and similarity are unsupported (misc "regex", with
// POSIX syntax, is reachable through Admin.Misc).
func (b *Backend) MatchKeys(ctx context.Context, db string, m backend.Match, limit int64) ([][]byte, error) {
	if err := checkDB(db); err != nil {
		return nil, err
	}
	switch m.Kind {
	case backend.MatchPrefix:
	case backend.MatchRegex:
		return nil, fmt.Errorf("%s: match_regex: Tokyo Tyrant has no key-only regex listing (misc \"regex\" through Admin.Misc returns keys and values, POSIX syntax): %w", b.name, backend.ErrUnsupported)
	default:
		return nil, fmt.Errorf("%s: match_similar: Tokyo Tyrant has no similarity search: %w", b.name, backend.ErrUnsupported)
	}
	if limit < 0 {
		return nil, fmt.Errorf("%s: fwmkeys: negative limit %d: %w", b.name, limit, backend.ErrInvalid)
	}
	kind, err := b.dbKind(ctx)
	if err != nil {
		return nil, err
	}
	max := int32(-1)
	if kind.ordered() && limit > 0 {
		// Sorted at the source: the first limit keys are the right ones.
		max = int32(min(limit, math.MaxInt32))
	}
	keys, err := b.fwmkeys(ctx, m.Prefix, max)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(keys, bytes.Compare)
	if limit > 0 && int64(len(keys)) > limit {
		keys = keys[:limit]
	}
	return keys, nil
}

// scanBounds intersects [start, end) with the keys that carry prefix; nil
// means open.
func scanBounds(o backend.ScanOptions) (lo, hi []byte) {
	lo = o.Start
	if bytes.Compare(o.Prefix, lo) > 0 {
		lo = o.Prefix
	}
	if len(o.End) > 0 {
		hi = o.End
	}
	if pe := keyrange.PrefixEnd(o.Prefix); pe != nil && (hi == nil || bytes.Compare(pe, hi) < 0) {
		hi = pe
	}
	return lo, hi
}

// Scan walks [Start, End) ∩ Prefix in ascending key order (descending with
// Reverse). Forward scans of B+ trees page through misc "range" and hold one
// batch at a time; other scans list the prefix's keys with fwmkeys, sort
// them, and fetch values with mget one batch at a time. Neither touches the
// iterator that all clients of the server share (fwmkeys on an on-memory
// tree puts it back as it found it).
func (b *Backend) Scan(ctx context.Context, db string, opts backend.ScanOptions, fn func(batch []backend.Record) error) error {
	if err := checkDB(db); err != nil {
		return err
	}
	if opts.Limit < 0 {
		return fmt.Errorf("%s: scan: negative limit %d: %w", b.name, opts.Limit, backend.ErrInvalid)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatch
	}
	lo, hi := scanBounds(opts)
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	kind, err := b.dbKind(ctx)
	if err != nil {
		return err
	}
	if kind.hasRange() && !opts.Reverse {
		return b.scanRange(ctx, lo, hi, opts, fn)
	}
	return b.scanKeys(ctx, lo, hi, opts, fn)
}

// rangeRecords runs misc "range" from begin (inclusive) to end (exclusive,
// nil: open) and returns at most max records.
func (b *Backend) rangeRecords(ctx context.Context, begin, end []byte, max int) ([]backend.Record, error) {
	args := [][]byte{begin, []byte(strconv.Itoa(max))}
	if end != nil {
		args = append(args, end)
	}
	elems, ok, err := b.misc(ctx, "range", args, true)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: misc range failed (the database is not a B+ tree? set kind= in the URL): %w", b.name, backend.ErrFailed)
	}
	if len(elems)%2 != 0 {
		return nil, fmt.Errorf("%s: misc range returned %d elements, not key/value pairs: %w", b.name, len(elems), backend.ErrFailed)
	}
	recs := make([]backend.Record, 0, len(elems)/2)
	for i := 0; i < len(elems); i += 2 {
		recs = append(recs, backend.Record{Key: elems[i], Value: elems[i+1]})
	}
	return recs, nil
}

// scanRange pages through misc "range". A B+ tree may hold several values
// under one key (putdup), returned as records with equal keys, so a page
// cannot simply start after the last key: it starts at the last key again
// and skips the records of that key already delivered.
func (b *Backend) scanRange(ctx context.Context, lo, hi []byte, opts backend.ScanOptions, fn func([]backend.Record) error) error {
	begin := lo
	if begin == nil {
		begin = []byte{}
	}
	skip := 0 // records with key == begin already delivered
	remaining := opts.Limit
	for {
		n := opts.BatchSize
		if opts.Limit > 0 {
			n = int(min(int64(n), remaining))
		}
		recs, err := b.rangeRecords(ctx, begin, hi, n+skip)
		if err != nil {
			return err
		}
		more := len(recs) == n+skip
		drop := 0
		for drop < skip && drop < len(recs) && bytes.Equal(recs[drop].Key, begin) {
			drop++
		}
		recs = recs[drop:]
		if len(recs) == 0 {
			return nil
		}
		last := recs[len(recs)-1].Key
		run := 0
		for i := len(recs) - 1; i >= 0 && bytes.Equal(recs[i].Key, last); i-- {
			run++
		}
		if bytes.Equal(last, begin) {
			skip += run
		} else {
			begin, skip = bytes.Clone(last), run
		}
		if opts.KeysOnly {
			for i := range recs {
				recs[i].Value = nil
			}
		}
		if err := fn(recs); err != nil {
			return err
		}
		remaining -= int64(len(recs))
		if !more || (opts.Limit > 0 && remaining <= 0) {
			return nil
		}
	}
}

func (b *Backend) scanKeys(ctx context.Context, lo, hi []byte, opts backend.ScanOptions, fn func([]backend.Record) error) error {
	keys, err := b.fwmkeys(ctx, opts.Prefix, -1)
	if err != nil {
		return err
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.DeleteFunc(keys, func(k []byte) bool {
		return bytes.Compare(k, lo) < 0 || (hi != nil && bytes.Compare(k, hi) >= 0)
	})
	if opts.Reverse {
		slices.Reverse(keys)
	}
	if opts.Limit > 0 && int64(len(keys)) > opts.Limit {
		keys = keys[:opts.Limit]
	}
	for _, ch := range chunks(len(keys), opts.BatchSize) {
		page := keys[ch[0]:ch[1]]
		var recs []backend.Record
		if opts.KeysOnly {
			recs = make([]backend.Record, len(page))
			for i, k := range page {
				recs[i].Key = k
			}
		} else {
			rep, err := b.one(ctx, "mget", true, &ttwire.Request{Cmd: ttwire.CmdMGet, Keys: page})
			if err != nil {
				return err
			}
			// Records removed since the listing are simply missing.
			for _, kv := range rep.Records {
				recs = append(recs, backend.Record{Key: kv.Key, Value: kv.Value})
			}
			if len(recs) == 0 {
				continue
			}
		}
		if err := fn(recs); err != nil {
			return err
		}
	}
	return nil
}
