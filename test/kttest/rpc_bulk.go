package kttest

// The bulk procedures: set_bulk, remove_bulk and get_bulk.

import (
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
)

func rpcSetBulk(r *rpcCall) rv {
	exp := r.expiry()
	var entries []backend.Entry
	for _, k := range r.underscored() {
		entries = append(entries, backend.Entry{Key: []byte(k), Value: []byte(r.in["_"+k]), Expiry: exp})
	}
	n, err := r.s.store.SetBulk(r.s.ctx, dbName(r.db), entries, backend.WriteOptions{Atomic: r.has("atomic")})
	r.s.counters.set.Add(n)
	if err != nil {
		return r.failErr(err)
	}
	r.out["num"] = strconv.Itoa(len(entries))
	return ScriptOK
}

func rpcRemoveBulk(r *rpcCall) rv {
	var keys [][]byte
	for _, k := range r.underscored() {
		keys = append(keys, []byte(k))
	}
	n, err := r.s.store.RemoveBulk(r.s.ctx, dbName(r.db), keys, r.has("atomic"))
	if err != nil {
		return r.failErr(err)
	}
	r.s.counters.remove.Add(n)
	r.s.counters.removeMisses.Add(int64(len(keys)) - n)
	r.out["num"] = strconv.FormatInt(n, 10)
	return ScriptOK
}

func rpcGetBulk(r *rpcCall) rv {
	var keys [][]byte
	for _, k := range r.underscored() {
		keys = append(keys, []byte(k))
	}
	recs, err := r.s.store.GetBulk(r.s.ctx, dbName(r.db), keys, r.has("atomic"))
	if err != nil {
		return r.failErr(err)
	}
	r.s.counters.get.Add(int64(len(recs)))
	r.s.counters.getMisses.Add(int64(len(keys) - len(recs)))
	for _, rec := range recs {
		r.out["_"+string(rec.Key)] = string(rec.Value)
	}
	r.out["num"] = strconv.Itoa(len(recs))
	return ScriptOK
}
