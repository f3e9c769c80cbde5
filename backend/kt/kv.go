package kt

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// Get reads one record with a one-key binary get_bulk, which also reports
// the record's expiration.
func (b *Backend) Get(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return backend.Record{}, false, err
	}
	if err := checkSize("get", key, nil); err != nil {
		return backend.Record{}, false, err
	}
	if b.gets != nil {
		return b.coalescedGet(ctx, idx, key)
	}
	return b.getOne(ctx, idx, key)
}

// getOne reads one record on its own.
func (b *Backend) getOne(ctx context.Context, idx uint16, key []byte) (backend.Record, bool, error) {
	recs, err := b.binaryGetRecords(ctx, "get", []ktwire.KeyRef{{DB: idx, Key: key}})
	if err != nil || len(recs) == 0 {
		return backend.Record{}, false, err
	}
	r := recs[0]
	return backend.Record{Key: r.Key, Value: r.Value, ExpireTime: expireTime(r.XT)}, true, nil
}

func (b *Backend) binaryGet(ctx context.Context, op string, keys []ktwire.KeyRef) ([]backend.Record, error) {
	recs, err := b.binaryGetRecords(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	out := make([]backend.Record, len(recs))
	for i, r := range recs {
		out[i] = backend.Record{Key: r.Key, Value: r.Value, ExpireTime: expireTime(r.XT)}
	}
	return out, nil
}

// binaryGetRecords runs a binary get_bulk of keys: the records found, in
// request order.
func (b *Backend) binaryGetRecords(ctx context.Context, op string, keys []ktwire.KeyRef) ([]ktwire.Record, error) {
	size := 9
	for _, k := range keys {
		size += 6 + len(k.Key)
	}
	req := ktwire.AppendGetBulk(make([]byte, 0, size), keys)
	var recs []ktwire.Record
	err := b.roundTrip(ctx, op, idempotent, req, func(c *conn) error {
		var err error
		recs, err = readGetBulk(c, op, keys)
		return err
	})
	return recs, err
}

// readGetBulk reads the reply to a binary get_bulk of keys.
func readGetBulk(c *conn, op string, keys []ktwire.KeyRef) ([]ktwire.Record, error) {
	recs, err := ktwire.ReadGetBulkReply(c.BR)
	if err != nil {
		return nil, binaryError(c, op, err)
	}
	if !inRequestOrder(keys, recs) {
		// The reply is well formed but answers another request: the
		// connection is out of step, and its records would be returned
		// as the ones asked for.
		return nil, fmt.Errorf("%w: get_bulk reply holds records that were not asked for, or out of order", ktwire.ErrProtocol)
	}
	return recs, nil
}

// inRequestOrder reports whether recs can be the reply to a get_bulk of
// keys: the server returns the records it found, in request order (a key
// asked for twice comes twice), and nothing else.
func inRequestOrder(keys []ktwire.KeyRef, recs []ktwire.Record) bool {
	i := 0
	for _, r := range recs {
		for i < len(keys) && (keys[i].DB != r.DB || !bytes.Equal(keys[i].Key, r.Key)) {
			i++
		}
		if i == len(keys) {
			return false
		}
		i++
	}
	return true
}

// binaryError turns the binary error reply into an application error. After
// a bulk command the server closes the connection, so it is not reused.
func binaryError(c *conn, op string, err error) error {
	if err == ktwire.ErrServer {
		c.Broken = true
		return &connpool.AppError{Err: fmt.Errorf("kt %s: %w: the server answered the binary error byte 0xBF, which carries no detail (a database error, or a read-only server)", op, backend.ErrFailed)}
	}
	return err
}

// GetBulk reads many records. Without atomic it is one binary get_bulk,
// which keeps request order and duplicates and reports expirations. With
// atomic it is RPC get_bulk under one lock; that reply carries no
// expirations, so the records' ExpireTime is left zero.
func (b *Backend) GetBulk(ctx context.Context, db string, keys [][]byte, atomic bool) ([]backend.Record, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if !atomic {
		refs := make([]ktwire.KeyRef, len(keys))
		for i, k := range keys {
			if err := checkSize("get_bulk", k, nil); err != nil {
				return nil, err
			}
			refs[i] = ktwire.KeyRef{DB: idx, Key: k}
		}
		return b.binaryGet(ctx, "get_bulk", refs)
	}
	var p params
	p.db(idx)
	p.flag("atomic")
	for _, k := range keys {
		p.add("_"+string(k), nil)
	}
	rep, err := b.rpcOK(ctx, "get_bulk", p, idempotent)
	if err != nil {
		return nil, err
	}
	values := map[string][]byte{}
	for _, f := range rep.fields {
		if k, ok := underscored(f.Key); ok {
			values[k] = f.Value
		}
	}
	var out []backend.Record
	for _, k := range keys {
		if v, ok := values[string(k)]; ok {
			out = append(out, backend.Record{Key: k, Value: v})
		}
	}
	return out, nil
}

// underscored strips the "_" that marks record keys in RPC maps.
func underscored(name []byte) (string, bool) {
	if len(name) == 0 || name[0] != '_' {
		return "", false
	}
	return string(name[1:]), true
}

// Set stores one record with a one-record binary set_bulk. With NoReply the
// request is sent with the no-reply flag and its outcome is unknown.
// Keys and values above 2^28 bytes are refused with ErrInvalid.
func (b *Backend) Set(ctx context.Context, db string, key, value []byte, exp backend.Expiry, opts backend.WriteOptions) error {
	if b.sets != nil && !opts.NoReply && len(key)+len(value) <= coalesceMaxBytes {
		return b.coalescedSet(ctx, db, key, value, exp)
	}
	_, err := b.SetBulk(ctx, db, []backend.Entry{{Key: key, Value: value, Expiry: exp}}, backend.WriteOptions{NoReply: opts.NoReply})
	return err
}

// SetBulk stores many records. Without atomic it is one binary set_bulk
// with each record's own expiration. With atomic it is RPC set_bulk under
// one lock, which takes one expiration for all records; entries with
// different expirations are refused with ErrUnsupported.
func (b *Backend) SetBulk(ctx context.Context, db string, entries []backend.Entry, opts backend.WriteOptions) (int64, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return 0, nil
	}
	if opts.Atomic {
		return b.atomicSetBulk(ctx, idx, entries)
	}
	recs := make([]ktwire.Record, len(entries))
	for i, e := range entries {
		xt, err := binaryXT(e.Expiry)
		if err != nil {
			return 0, err
		}
		if err := checkSize("set_bulk", e.Key, e.Value); err != nil {
			return 0, err
		}
		recs[i] = ktwire.Record{DB: idx, Key: e.Key, Value: e.Value, XT: xt}
	}
	return b.setRecords(ctx, idx, recs, opts.NoReply)
}

// setRecords runs a binary set_bulk of recs, all to database idx.
func (b *Backend) setRecords(ctx context.Context, idx uint16, recs []ktwire.Record, noReply bool) (int64, error) {
	hits, err := b.setBulk(ctx, recs, noReply)
	if err != nil {
		return 0, err
	}
	if !noReply && int(hits) != len(recs) {
		// A record fails only with 0xBF; one that is merely not counted
		// went to a database index the server does not have (any more).
		b.dbs.forget()
		return int64(hits), fmt.Errorf("kt set_bulk on %s: %w: the server stored %d of %d records: it has no database %d (any more)", b.addr, backend.ErrInvalid, hits, len(recs), idx)
	}
	return int64(hits), nil
}

// setBulk runs a binary set_bulk of recs and returns the count the server
// reports (0 with noReply).
func (b *Backend) setBulk(ctx context.Context, recs []ktwire.Record, noReply bool) (uint32, error) {
	flags := uint32(0)
	if noReply {
		flags = ktwire.FlagNoReply
	}
	size := 9
	for _, r := range recs {
		size += 18 + len(r.Key) + len(r.Value)
	}
	req := ktwire.AppendSetBulk(make([]byte, 0, size), flags, recs)
	var hits uint32
	var read func(*conn) error
	if !noReply {
		read = func(c *conn) error {
			var err error
			hits, err = ktwire.ReadCountReply(c.BR, ktwire.MagicSetBulk)
			return binaryError(c, "set_bulk", err)
		}
	}
	err := b.roundTrip(ctx, "set_bulk", once, req, read)
	return hits, err
}

// checkSize refuses keys and values the binary protocol cannot carry: the
// server would answer 0xBF, which says nothing, and close the connection.
func checkSize(op string, key, value []byte) error {
	for _, f := range []struct {
		name string
		b    []byte
	}{{"key", key}, {"value", value}} {
		if len(f.b) > ktwire.MaxDataSize {
			return fmt.Errorf("kt %s: %w: the %s is %d bytes; Kyoto Tycoon takes at most %d", op, backend.ErrInvalid, f.name, len(f.b), ktwire.MaxDataSize)
		}
	}
	return nil
}

func (b *Backend) atomicSetBulk(ctx context.Context, idx uint16, entries []backend.Entry) (int64, error) {
	exp, err := backend.AtomicExpiry(entries)
	if err != nil {
		return 0, fmt.Errorf("kt set_bulk: %w", err)
	}
	var p params
	p.db(idx)
	p.flag("atomic")
	if err := p.addXT(exp); err != nil {
		return 0, err
	}
	for _, e := range entries {
		p.add("_"+string(e.Key), e.Value)
	}
	rep, err := b.rpcOK(ctx, "set_bulk", p, once)
	if err != nil {
		return 0, err
	}
	return intField(rep, "num")
}

func intField(r *reply, name string) (int64, error) {
	v, _ := r.get(name)
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("kt: %w: reply field %s=%q is not an integer", backend.ErrFailed, name, v)
	}
	return n, nil
}

// Remove deletes one record with a one-key binary remove_bulk.
func (b *Backend) Remove(ctx context.Context, db string, key []byte) (bool, error) {
	n, err := b.RemoveBulk(ctx, db, [][]byte{key}, false)
	return n > 0, err
}

// RemoveBulk deletes many records: one binary remove_bulk, or RPC
// remove_bulk under one lock with atomic.
func (b *Backend) RemoveBulk(ctx context.Context, db string, keys [][]byte, atomic bool) (int64, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	if atomic {
		var p params
		p.db(idx)
		p.flag("atomic")
		for _, k := range keys {
			p.add("_"+string(k), nil)
		}
		rep, err := b.rpcOK(ctx, "remove_bulk", p, once)
		if err != nil {
			return 0, err
		}
		return intField(rep, "num")
	}
	refs := make([]ktwire.KeyRef, len(keys))
	for i, k := range keys {
		if err := checkSize("remove_bulk", k, nil); err != nil {
			return 0, err
		}
		refs[i] = ktwire.KeyRef{DB: idx, Key: k}
	}
	var hits uint32
	err = b.roundTrip(ctx, "remove_bulk", once, ktwire.AppendRemoveBulk(nil, 0, refs), func(c *conn) error {
		var err error
		hits, err = ktwire.ReadCountReply(c.BR, ktwire.MagicRemoveBulk)
		return binaryError(c, "remove_bulk", err)
	})
	return int64(hits), err
}

// write runs a conditional RPC write (add, replace, cas); 450 means the
// condition did not hold.
func (b *Backend) write(ctx context.Context, proc, db string, build func(p *params) error) (bool, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return false, err
	}
	var p params
	p.db(idx)
	if err := build(&p); err != nil {
		return false, err
	}
	rep, err := b.rpc(ctx, proc, p, once)
	if err != nil {
		return false, err
	}
	return !rep.logic(), nil
}

// Add stores a record only if the key is new (RPC add).
func (b *Backend) Add(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (bool, error) {
	return b.write(ctx, "add", db, func(p *params) error {
		p.add("key", key)
		p.add("value", value)
		return p.addXT(exp)
	})
}

// Replace stores a record only if the key exists (RPC replace).
func (b *Backend) Replace(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (bool, error) {
	return b.write(ctx, "replace", db, func(p *params) error {
		p.add("key", key)
		p.add("value", value)
		return p.addXT(exp)
	})
}

// Append appends to a record, creating it when missing (RPC append). KT
// cannot cut the result, so keepLast > 0 is refused.
func (b *Backend) Append(ctx context.Context, db string, key, value []byte, exp backend.Expiry, keepLast int) error {
	if keepLast < 0 {
		return fmt.Errorf("kt append: %w: negative keep_last %d (0 keeps everything)", backend.ErrInvalid, keepLast)
	}
	if keepLast > 0 {
		return fmt.Errorf("kt append: %w: Kyoto Tycoon cannot keep only the last bytes of a value (keep_last is Tokyo Tyrant's putshl)", backend.ErrUnsupported)
	}
	applied, err := b.write(ctx, "append", db, func(p *params) error {
		p.add("key", key)
		p.add("value", value)
		return p.addXT(exp)
	})
	if err == nil && !applied {
		return fmt.Errorf("kt append: %w: the server refused the append (HTTP 450)", backend.ErrFailed)
	}
	return err
}

// CompareAndSwap is RPC cas: a nil oldValue means the record must not
// exist, a nil newValue removes it; 450 means the expectation failed.
func (b *Backend) CompareAndSwap(ctx context.Context, db string, key, oldValue, newValue []byte, exp backend.Expiry) (bool, error) {
	return b.write(ctx, "cas", db, func(p *params) error {
		p.add("key", key)
		if oldValue != nil {
			p.add("oval", oldValue)
		}
		if newValue != nil {
			p.add("nval", newValue)
		}
		return p.addXT(exp)
	})
}

// readKey runs a single-key RPC read (check, seize); 450 means the record is
// missing.
func (b *Backend) readKey(ctx context.Context, proc, db string, key []byte, r retry) (*reply, bool, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return nil, false, err
	}
	var p params
	p.db(idx)
	p.add("key", key)
	rep, err := b.rpc(ctx, proc, p, r)
	if err != nil || rep.logic() {
		return nil, false, err
	}
	return rep, true, nil
}

// Check reports a record's value size and expiration (RPC check).
func (b *Backend) Check(ctx context.Context, db string, key []byte) (backend.RecordInfo, bool, error) {
	rep, found, err := b.readKey(ctx, "check", db, key, idempotent)
	if !found {
		return backend.RecordInfo{}, false, err
	}
	size, err := intField(rep, "vsiz")
	if err != nil {
		return backend.RecordInfo{}, false, err
	}
	return backend.RecordInfo{ValueSize: size, ExpireTime: replyXT(rep)}, true, nil
}

// Seize reads and removes a record (RPC seize).
func (b *Backend) Seize(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	rep, found, err := b.readKey(ctx, "seize", db, key, once)
	if !found {
		return backend.Record{}, false, err
	}
	v, _ := rep.get("value")
	return backend.Record{Key: key, Value: v, ExpireTime: replyXT(rep)}, true, nil
}

// Increment is RPC increment. KT stores the number as 8 big-endian bytes.
// MustExist sends orig=try; a 450 then is applied=false for a missing
// record and ErrIncompatible for a value of another size (see
// incrementRefused). Without MustExist a 450 can only mean the latter.
func (b *Backend) Increment(ctx context.Context, db string, key []byte, delta int64, opts backend.IncrementOptions) (int64, bool, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return 0, false, err
	}
	var p params
	p.db(idx)
	p.add("key", key)
	p.int("num", delta)
	switch {
	case opts.MustExist:
		p.str("orig", "try")
	case opts.Initial != nil:
		p.int("orig", *opts.Initial)
	}
	if err := p.addXT(opts.Expiry); err != nil {
		return 0, false, err
	}
	rep, err := b.rpc(ctx, "increment", p, once)
	if err != nil {
		return 0, false, err
	}
	if rep.logic() {
		return 0, false, b.incrementRefused(ctx, rep, "increment", idx, key, opts.MustExist, 8, "an 8-byte big-endian integer")
	}
	n, err := intField(rep, "num")
	return n, err == nil, err
}

// IncrementDouble is RPC increment_double. KT stores the number as 16
// bytes (integer and fraction) and answers it printed with %f, so the
// returned value carries six decimals.
func (b *Backend) IncrementDouble(ctx context.Context, db string, key []byte, delta float64, opts backend.IncrementDoubleOptions) (float64, bool, error) {
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return 0, false, fmt.Errorf("kt increment_double: %w: delta must be finite, got %v", backend.ErrInvalid, delta)
	}
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return 0, false, err
	}
	var p params
	p.db(idx)
	p.add("key", key)
	p.str("num", formatFloat(delta))
	switch {
	case opts.MustExist:
		p.str("orig", "try")
	case opts.Initial != nil:
		if math.IsNaN(*opts.Initial) || math.IsInf(*opts.Initial, 0) {
			return 0, false, fmt.Errorf("kt increment_double: %w: initial must be finite, got %v", backend.ErrInvalid, *opts.Initial)
		}
		p.str("orig", formatFloat(*opts.Initial))
	}
	if err := p.addXT(opts.Expiry); err != nil {
		return 0, false, err
	}
	rep, err := b.rpc(ctx, "increment_double", p, once)
	if err != nil {
		return 0, false, err
	}
	if rep.logic() {
		return 0, false, b.incrementRefused(ctx, rep, "increment_double", idx, key, opts.MustExist, 16, "a 16-byte KT decimal")
	}
	v, _ := rep.get("num")
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false, fmt.Errorf("kt increment_double: %w: reply num=%q is not a number", backend.ErrFailed, v)
	}
	return f, true, nil
}

// incrementRefused explains a 450 from increment or increment_double
// (proc). With orig=try (mustExist) KT answers a missing record and a
// stored value that is not a number of size bytes with the same message,
// so it asks check for the record's size: a missing record is the
// condition not met (nil), a value of another size ErrIncompatible, with
// form saying what the number should be. A record of the right size
// written since the increment counts as missing, which it was when the
// increment ran. Without orig=try a 450 can only mean the wrong size.
func (b *Backend) incrementRefused(ctx context.Context, rep *reply, proc string, idx uint16, key []byte, mustExist bool, size int64, form string) error {
	if mustExist {
		var p params
		p.db(idx)
		p.add("key", key)
		check, err := b.rpc(ctx, "check", p, idempotent)
		if err != nil || check.logic() {
			return err
		}
		if n, err := intField(check, "vsiz"); err != nil || n == size {
			return err
		}
	}
	return fmt.Errorf("kt %s of %q: %w: the stored value is not %s (server said %q)", proc, key, backend.ErrIncompatible, form, message(rep.fields))
}

// formatFloat writes a float without an exponent, which KT's parser does
// not read.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
