package tt

import (
	"context"
	"fmt"
	"math"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// mgetChunk bounds the keys of one mget. Each chunk is its own exchange: the
// server reads a whole mget before answering, so a large reply can never
// stall behind our unfinished write.
const mgetChunk = 1 << 15

// Get reads one record with get.
func (b *Backend) Get(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	if err := checkDB(db); err != nil {
		return backend.Record{}, false, err
	}
	if b.calls != nil {
		a, err := b.coalesced(ctx, call{cmd: ttwire.CmdGet, key: key})
		if err != nil || !a.ok {
			return backend.Record{}, false, err
		}
		return backend.Record{Key: key, Value: a.value}, true, nil
	}
	rep, err := b.one(ctx, "get", true, &ttwire.Request{Cmd: ttwire.CmdGet, Key: key})
	if err != nil || !rep.OK() {
		return backend.Record{}, false, err
	}
	return backend.Record{Key: key, Value: rep.Value}, true, nil
}

// GetBulk reads records with mget. The server takes no lock across the keys,
// so atomic has no effect.
func (b *Backend) GetBulk(ctx context.Context, db string, keys [][]byte, atomic bool) ([]backend.Record, error) {
	if err := checkDB(db); err != nil {
		return nil, err
	}
	var out []backend.Record
	for _, ch := range chunks(len(keys), mgetChunk) {
		rep, err := b.one(ctx, "mget", true, &ttwire.Request{Cmd: ttwire.CmdMGet, Keys: keys[ch[0]:ch[1]]})
		if err != nil {
			return nil, err
		}
		for _, kv := range rep.Records {
			out = append(out, backend.Record{Key: kv.Key, Value: kv.Value})
		}
	}
	return out, nil
}

// Set stores a record with put, or with putnr when opts.NoReply.
func (b *Backend) Set(ctx context.Context, db string, key, value []byte, exp backend.Expiry, opts backend.WriteOptions) error {
	if err := checkWrite(db, exp); err != nil {
		return err
	}
	if err := b.checkRawRows(ctx, "put", value); err != nil {
		return err
	}
	if opts.NoReply {
		_, err := b.do(ctx, "putnr", false, &ttwire.Request{Cmd: ttwire.CmdPutNR, Key: key, Value: value})
		return err
	}
	if b.calls != nil && len(key)+len(value) <= coalesceMaxBytes {
		a, err := b.coalesced(ctx, call{cmd: ttwire.CmdPut, key: key, value: value})
		if err != nil {
			return err
		}
		if !a.ok {
			return b.refused("put")
		}
		return nil
	}
	rep, err := b.one(ctx, "put", false, &ttwire.Request{Cmd: ttwire.CmdPut, Key: key, Value: value})
	if err != nil {
		return err
	}
	if !rep.OK() {
		return b.refused("put")
	}
	return nil
}

// SetBulk pipelines one put per entry (putnr with opts.NoReply) and counts
// the puts that succeeded. It is not atomic.
func (b *Backend) SetBulk(ctx context.Context, db string, entries []backend.Entry, opts backend.WriteOptions) (int64, error) {
	if err := checkDB(db); err != nil {
		return 0, err
	}
	for _, e := range entries {
		if err := checkExpiry(e.Expiry); err != nil {
			return 0, err
		}
		if err := b.checkRawRows(ctx, "put", e.Value); err != nil {
			return 0, err
		}
	}
	cmd, op := ttwire.CmdPut, "put"
	if opts.NoReply {
		cmd, op = ttwire.CmdPutNR, "putnr"
	}
	var stored int64
	for _, ch := range chunks(len(entries), pipelineChunk) {
		reqs := make([]*ttwire.Request, 0, ch[1]-ch[0])
		for _, e := range entries[ch[0]:ch[1]] {
			reqs = append(reqs, &ttwire.Request{Cmd: cmd, Key: e.Key, Value: e.Value})
		}
		reps, err := b.do(ctx, op, false, reqs...)
		if err != nil {
			return stored, err
		}
		for _, r := range reps {
			if r.OK() {
				stored++
			}
		}
	}
	if opts.NoReply {
		return 0, nil
	}
	return stored, nil
}

// Add stores a record with putkeep.
func (b *Backend) Add(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (bool, error) {
	if err := checkWrite(db, exp); err != nil {
		return false, err
	}
	if err := b.checkRawRows(ctx, "putkeep", value); err != nil {
		return false, err
	}
	rep, err := b.one(ctx, "putkeep", false, &ttwire.Request{Cmd: ttwire.CmdPutKeep, Key: key, Value: value})
	if err != nil {
		return false, err
	}
	return rep.OK(), nil
}

// Replace is unsupported: the server has no replace, and checking first then
// writing would not be atomic.
func (b *Backend) Replace(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (bool, error) {
	if err := checkWrite(db, exp); err != nil {
		return false, err
	}
	return false, fmt.Errorf("%s: replace: Tokyo Tyrant has no store-if-exists command and an emulation would not be atomic: %w", b.name, backend.ErrUnsupported)
}

// Append uses putcat, or putshl when keepLast > 0. As on the server, a
// missing record is created with the whole value even under putshl.
func (b *Backend) Append(ctx context.Context, db string, key, value []byte, exp backend.Expiry, keepLast int) error {
	if err := checkWrite(db, exp); err != nil {
		return err
	}
	if keepLast == 0 {
		if err := b.checkRawRows(ctx, "putcat", value); err != nil {
			return err
		}
	}
	req := &ttwire.Request{Cmd: ttwire.CmdPutCat, Key: key, Value: value}
	switch {
	case keepLast < 0 || keepLast > math.MaxInt32:
		return fmt.Errorf("%s: putshl: keep_last %d out of range 0..%d: %w", b.name, keepLast, math.MaxInt32, backend.ErrInvalid)
	case keepLast > 0:
		req.Cmd, req.Width = ttwire.CmdPutShl, int32(keepLast)
	}
	rep, err := b.one(ctx, req.Cmd.String(), false, req)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return b.refused(req.Cmd.String())
	}
	return nil
}

// Remove deletes a record with out.
func (b *Backend) Remove(ctx context.Context, db string, key []byte) (bool, error) {
	if err := checkDB(db); err != nil {
		return false, err
	}
	if b.calls != nil && len(key) <= coalesceMaxBytes {
		a, err := b.coalesced(ctx, call{cmd: ttwire.CmdOut, key: key})
		return a.ok, err
	}
	rep, err := b.one(ctx, "out", false, &ttwire.Request{Cmd: ttwire.CmdOut, Key: key})
	if err != nil {
		return false, err
	}
	return rep.OK(), nil
}

// RemoveBulk pipelines one out per key and counts the records that existed.
// It is not atomic.
func (b *Backend) RemoveBulk(ctx context.Context, db string, keys [][]byte, atomic bool) (int64, error) {
	if err := checkDB(db); err != nil {
		return 0, err
	}
	var removed int64
	for _, ch := range chunks(len(keys), pipelineChunk) {
		reqs := make([]*ttwire.Request, 0, ch[1]-ch[0])
		for _, k := range keys[ch[0]:ch[1]] {
			reqs = append(reqs, &ttwire.Request{Cmd: ttwire.CmdOut, Key: k})
		}
		reps, err := b.do(ctx, "out", false, reqs...)
		if err != nil {
			return removed, err
		}
		for _, r := range reps {
			if r.OK() {
				removed++
			}
		}
	}
	return removed, nil
}

// Check reports the value size with vsiz. On a table database the server
// reports the size of its internal row form.
func (b *Backend) Check(ctx context.Context, db string, key []byte) (backend.RecordInfo, bool, error) {
	if err := checkDB(db); err != nil {
		return backend.RecordInfo{}, false, err
	}
	rep, err := b.one(ctx, "vsiz", true, &ttwire.Request{Cmd: ttwire.CmdVSiz, Key: key})
	if err != nil || !rep.OK() {
		return backend.RecordInfo{}, false, err
	}
	return backend.RecordInfo{ValueSize: int64(rep.Num)}, true, nil
}

// Seize is unsupported: the server cannot read and remove in one step.
func (b *Backend) Seize(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	if err := checkDB(db); err != nil {
		return backend.Record{}, false, err
	}
	return backend.Record{}, false, fmt.Errorf("%s: seize: Tokyo Tyrant cannot read and remove a record atomically (ext locks do not exclude plain writes): %w", b.name, backend.ErrUnsupported)
}

// CompareAndSwap is unsupported for the same reason as Seize.
func (b *Backend) CompareAndSwap(ctx context.Context, db string, key, oldValue, newValue []byte, exp backend.Expiry) (bool, error) {
	if err := checkWrite(db, exp); err != nil {
		return false, err
	}
	return false, fmt.Errorf("%s: compare-and-swap: Tokyo Tyrant has no atomic compare-and-swap (ext locks do not exclude plain writes): %w", b.name, backend.ErrUnsupported)
}

// Increment adds delta with addint. The record holds a 4-byte little-endian
// int32.
func (b *Backend) Increment(ctx context.Context, db string, key []byte, delta int64, opts backend.IncrementOptions) (int64, bool, error) {
	if err := checkWrite(db, opts.Expiry); err != nil {
		return 0, false, err
	}
	if delta < math.MinInt32 || delta > math.MaxInt32 {
		return 0, false, fmt.Errorf("%s: addint: delta %d does not fit the server's 32-bit integers: %w", b.name, delta, backend.ErrInvalid)
	}
	if err := b.incrementOptions("addint", opts.MustExist, opts.Initial != nil && *opts.Initial != 0); err != nil {
		return 0, false, err
	}
	rep, err := b.one(ctx, "addint", false, &ttwire.Request{Cmd: ttwire.CmdAddInt, Key: key, Int: int32(delta)})
	if err != nil {
		return 0, false, err
	}
	if !rep.OK() {
		return 0, false, fmt.Errorf("%s: addint: the record's value is not a 4-byte integer (or the sum is -2147483648, which the server cannot tell from a failure): %w", b.name, backend.ErrIncompatible)
	}
	return int64(rep.Int), true, nil
}

// IncrementDouble adds delta with adddouble.
func (b *Backend) IncrementDouble(ctx context.Context, db string, key []byte, delta float64, opts backend.IncrementDoubleOptions) (float64, bool, error) {
	if err := checkWrite(db, opts.Expiry); err != nil {
		return 0, false, err
	}
	if !ttwire.FitsDouble(delta) {
		return 0, false, fmt.Errorf("%s: adddouble: delta %v must be finite and below 2^63 in magnitude: %w", b.name, delta, backend.ErrInvalid)
	}
	if err := b.incrementOptions("adddouble", opts.MustExist, opts.Initial != nil && *opts.Initial != 0); err != nil {
		return 0, false, err
	}
	rep, err := b.one(ctx, "adddouble", false, &ttwire.Request{Cmd: ttwire.CmdAddDouble, Key: key, Double: ttwire.PackDouble(delta)})
	if err != nil {
		return 0, false, err
	}
	if !rep.OK() {
		return 0, false, fmt.Errorf("%s: adddouble: the record's value is not an 8-byte double: %w", b.name, backend.ErrIncompatible)
	}
	return rep.Double.Float64(), true, nil
}

func (b *Backend) incrementOptions(op string, mustExist, initial bool) error {
	switch {
	case mustExist:
		return fmt.Errorf("%s: %s: must_exist is unsupported: the server creates missing records and cannot check existence atomically: %w", b.name, op, backend.ErrUnsupported)
	case initial:
		return fmt.Errorf("%s: %s: a non-zero initial value is unsupported: missing records always start at 0 on the server: %w", b.name, op, backend.ErrUnsupported)
	}
	return nil
}

// refused reports a write the server answered with failure.
func (b *Backend) refused(op string) error {
	return fmt.Errorf("%s: %s: the server reported failure (read-only or masked command, or a storage error): %w", b.name, op, backend.ErrFailed)
}

func checkWrite(db string, exp backend.Expiry) error {
	if err := checkDB(db); err != nil {
		return err
	}
	return checkExpiry(exp)
}
