package kttest

// The single-record procedures: set, add, replace, append, increment,
// increment_double, cas, remove, get, check and seize.

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// keyValue returns the required key and value parameters.
func (r *rpcCall) keyValue() (key, value []byte, ok bool) {
	key, value = r.bytesOf("key"), r.bytesOf("value")
	return key, value, key != nil && value != nil
}

func rpcSet(r *rpcCall) rv {
	key, value, ok := r.keyValue()
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	if err := r.s.store.Set(r.s.ctx, dbName(r.db), key, value, r.expiry(), backend.WriteOptions{}); err != nil {
		r.s.counters.setMisses.Add(1)
		return r.failErr(err)
	}
	r.s.counters.set.Add(1)
	return ScriptOK
}

func rpcAdd(r *rpcCall) rv { return r.writeIf(r.s.store.Add, msgDuplicate) }

func rpcReplace(r *rpcCall) rv { return r.writeIf(r.s.store.Replace, msgNoRecord) }

// writeIf runs add or replace, whose condition not met is a 450 with miss.
func (r *rpcCall) writeIf(write func(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (bool, error), miss string) rv {
	key, value, ok := r.keyValue()
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	applied, err := write(r.s.ctx, dbName(r.db), key, value, r.expiry())
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.set, &r.s.counters.setMisses, applied)
	if !applied {
		return r.fail(ScriptLogic, miss)
	}
	return ScriptOK
}

func rpcAppend(r *rpcCall) rv {
	key, value, ok := r.keyValue()
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	if err := r.s.store.Append(r.s.ctx, dbName(r.db), key, value, r.expiry(), 0); err != nil {
		r.s.counters.setMisses.Add(1)
		return r.failErr(err)
	}
	r.s.counters.set.Add(1)
	return ScriptOK
}

// numericFailure maps the outcome of a failed increment to KT's reply.
func (r *rpcCall) numericFailure(err error) rv {
	r.s.counters.setMisses.Add(1)
	if err == nil || errors.Is(err, backend.ErrIncompatible) {
		return r.fail(ScriptLogic, msgLogic)
	}
	return r.failErr(err)
}

func rpcIncrement(r *rpcCall) rv {
	key, num := r.bytesOf("key"), r.bytesOf("num")
	if key == nil || num == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	orig := int64(0)
	switch o := r.in["orig"]; o {
	case "try":
		orig = embedded.OrigTry
	case "set":
		orig = embedded.OrigSet
	default:
		orig = ktwire.Atoi(o)
	}
	value, applied, err := r.s.store.IncrementOrig(r.s.ctx, dbName(r.db), key, ktwire.Atoi(string(num)), orig, r.expiry())
	if err != nil || !applied {
		return r.numericFailure(err)
	}
	r.s.counters.set.Add(1)
	r.out["num"] = strconv.FormatInt(value, 10)
	return ScriptOK
}

func rpcIncrementDouble(r *rpcCall) rv {
	key, num := r.bytesOf("key"), r.bytesOf("num")
	if key == nil || num == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	orig := 0.0
	switch o := r.in["orig"]; o {
	case "try":
		orig = math.Inf(-1)
	case "set":
		orig = math.Inf(1)
	default:
		orig = embedded.KTAtof(o)
	}
	value, applied, err := r.s.store.IncrementDoubleOrig(r.s.ctx, dbName(r.db), key, embedded.KTAtof(string(num)), orig, r.expiry())
	if err != nil || !applied {
		return r.numericFailure(err)
	}
	r.s.counters.set.Add(1)
	r.out["num"] = formatCFloat(value)
	return ScriptOK
}

// formatCFloat formats like C's "%f".
func formatCFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', 6, 64)
}

func rpcCAS(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	swapped, err := r.s.store.CompareAndSwap(r.s.ctx, dbName(r.db), key, r.bytesOf("oval"), r.bytesOf("nval"), r.expiry())
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.set, &r.s.counters.setMisses, swapped)
	if !swapped {
		return r.fail(ScriptLogic, msgStatus)
	}
	return ScriptOK
}

func rpcRemove(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	removed, err := r.s.store.Remove(r.s.ctx, dbName(r.db), key)
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.remove, &r.s.counters.removeMisses, removed)
	if !removed {
		return r.fail(ScriptLogic, msgNoRecord)
	}
	return ScriptOK
}

func rpcGet(r *rpcCall) rv { return r.readRecord(r.s.store.Get) }

// readRecord runs get or seize.
func (r *rpcCall) readRecord(read func(ctx context.Context, db string, key []byte) (backend.Record, bool, error)) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	rec, found, err := read(r.s.ctx, dbName(r.db), key)
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.get, &r.s.counters.getMisses, found)
	if !found {
		return r.fail(ScriptLogic, msgNoRecord)
	}
	r.out["value"] = string(rec.Value)
	r.putXT(rec.ExpireTime)
	return ScriptOK
}

func rpcCheck(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	info, found, err := r.s.store.Check(r.s.ctx, dbName(r.db), key)
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.get, &r.s.counters.getMisses, found)
	if !found {
		return r.fail(ScriptLogic, msgNoRecord)
	}
	r.out["vsiz"] = strconv.FormatInt(info.ValueSize, 10)
	r.putXT(info.ExpireTime)
	return ScriptOK
}

func rpcSeize(r *rpcCall) rv { return r.readRecord(r.s.store.Seize) }
