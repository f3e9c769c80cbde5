package kt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// Coalescing (coalesce=on) merges concurrent Gets into one binary get_bulk
// and concurrent Sets into one binary set_bulk (see connpool.Batcher).
// Both carry each record's database index and expiration, so a merged Get
// answers exactly what it would alone. set_bulk reports only how many
// records it stored: when that is all of them, or none of one database,
// every caller knows its outcome; otherwise no caller can tell whether its
// own write was stored, and each gets ErrUnavailable. Remove is not merged:
// remove_bulk's count cannot say which of the keys existed.

// coalesceMaxBytes bounds the key and value of a Set that is merged: they
// are copied while queued, which costs nothing worth saving for large
// values, where the round trip weighs little anyway.
const coalesceMaxBytes = 16 << 10

// coalesceLimit is how many requests of one kind go out at once before
// calls queue for a batch.
const coalesceLimit = 1

type getCall struct {
	ref *dbRef
	key ktwire.KeyRef
}

type getAnswer struct {
	rec   backend.Record
	found bool
}

type setCall struct {
	ref *dbRef
	rec ktwire.Record
}

// startCoalescing sets up the batchers when the URL asks for them.
func (b *Backend) startCoalescing() {
	if !b.opts.Coalesce {
		return
	}
	cfg := connpool.BatchConfig{Wait: b.opts.CoalesceWait, Max: b.opts.CoalesceMax, Limit: coalesceLimit, Timeout: b.opts.Timeout}
	b.gets = connpool.NewBatcher(cfg, b.getDirect, b.getBatch)
	b.sets = connpool.NewBatcher(cfg, b.setDirect, b.setBatch)
}

// withRef makes ref the database list of a request in ctx.
func withRef(ctx context.Context, ref *dbRef) context.Context {
	return context.WithValue(ctx, dbRefKey{}, ref)
}

func (b *Backend) coalescedGet(ctx context.Context, idx uint16, key []byte) (backend.Record, bool, error) {
	a, err := b.gets.Do(ctx, getCall{ref: resolvedFrom(ctx), key: ktwire.KeyRef{DB: idx, Key: bytes.Clone(key)}})
	if err != nil {
		return backend.Record{}, false, b.callerGone(ctx, "get", err)
	}
	return a.rec, a.found, nil
}

// callerGone classifies the error of a caller whose context ended while
// its call was queued or in a batch; other errors are the call's own.
func (b *Backend) callerGone(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && err == ctxErr {
		return b.connError(ctx, op, err)
	}
	return err
}

func (b *Backend) getDirect(ctx context.Context, c getCall) (getAnswer, error) {
	rec, found, err := b.getOne(withRef(ctx, c.ref), c.key.DB, c.key.Key)
	return getAnswer{rec, found}, err
}

// getBatch runs the gets of batch as one get_bulk per database list they
// were resolved with (normally one).
func (b *Backend) getBatch(ctx context.Context, batch []*connpool.Item[getCall, getAnswer]) {
	for _, group := range groupByRef(batch, func(c getCall) *dbRef { return c.ref }) {
		keys := make([]ktwire.KeyRef, len(group))
		for i, it := range group {
			keys[i] = it.Req.key
		}
		recs, err := b.binaryGetRecords(withRef(ctx, group[0].Req.ref), "get", keys)
		j := 0
		for _, it := range group {
			if err != nil {
				it.Err = err
				continue
			}
			// The reply holds the records found, in request order, a key
			// asked for twice twice (checked by readGetBulk).
			if j < len(recs) && recs[j].DB == it.Req.key.DB && bytes.Equal(recs[j].Key, it.Req.key.Key) {
				r := recs[j]
				it.Res = getAnswer{backend.Record{Key: r.Key, Value: r.Value, ExpireTime: expireTime(r.XT)}, true}
				j++
			}
		}
	}
}

func (b *Backend) coalescedSet(ctx context.Context, db string, key, value []byte, exp backend.Expiry) error {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return err
	}
	xt, err := binaryXT(exp)
	if err != nil {
		return err
	}
	if err := checkSize("set_bulk", key, value); err != nil {
		return err
	}
	// The call may go out after its caller has given up and reused the
	// buffers: it owns copies.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	rec := ktwire.Record{DB: idx, Key: buf[:len(key):len(key)], Value: buf[len(key):], XT: xt}
	_, err = b.sets.Do(ctx, setCall{ref: resolvedFrom(ctx), rec: rec})
	return b.callerGone(ctx, "set_bulk", err)
}

func (b *Backend) setDirect(ctx context.Context, c setCall) (struct{}, error) {
	_, err := b.setRecords(withRef(ctx, c.ref), c.rec.DB, []ktwire.Record{c.rec}, false)
	return struct{}{}, err
}

// setBatch runs the sets of batch as one set_bulk per database list they
// were resolved with (normally one).
func (b *Backend) setBatch(ctx context.Context, batch []*connpool.Item[setCall, struct{}]) {
	for _, group := range groupByRef(batch, func(c setCall) *dbRef { return c.ref }) {
		recs := make([]ktwire.Record, len(group))
		oneDB := true
		for i, it := range group {
			recs[i] = it.Req.rec
			oneDB = oneDB && recs[i].DB == recs[0].DB
		}
		hits, err := b.setBulk(withRef(ctx, group[0].Req.ref), recs, false)
		switch {
		case errors.Is(err, backend.ErrFailed):
			// 0xBF: some records may have been stored before the
			// failure, and the reply does not say which.
			err = fmt.Errorf("kt set_bulk on %s: %w: the write was merged with %d others, and the server failed the request (0xBF) without saying which were stored; its outcome is unknown", b.addr, backend.ErrUnavailable, len(group)-1)
		case err != nil:
		case int(hits) == len(recs):
		case hits == 0 && oneDB:
			// A record that is not counted went to a database index the
			// server does not have (any more); none was stored.
			b.dbs.forget()
			err = fmt.Errorf("kt set_bulk on %s: %w: the server stored none of the records: it has no database %d (any more)", b.addr, backend.ErrInvalid, recs[0].DB)
		default:
			b.dbs.forget()
			err = fmt.Errorf("kt set_bulk on %s: %w: the write was merged with %d others and the server stored %d of them, without saying which; its outcome is unknown", b.addr, backend.ErrUnavailable, len(group)-1, hits)
		}
		for _, it := range group {
			it.Err = err
		}
	}
}

// groupByRef splits batch by the database list its calls were resolved
// with, in order; calls without one (database 0) form their own group.
func groupByRef[Req, Res any](batch []*connpool.Item[Req, Res], ref func(Req) *dbRef) [][]*connpool.Item[Req, Res] {
	same := func(a, b *dbRef) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.epoch == b.epoch && len(a.list) == len(b.list) && (len(a.list) == 0 || &a.list[0] == &b.list[0])
	}
	var groups [][]*connpool.Item[Req, Res]
next:
	for _, it := range batch {
		r := ref(it.Req)
		for i, g := range groups {
			if same(ref(g[0].Req), r) {
				groups[i] = append(g, it)
				continue next
			}
		}
		groups = append(groups, []*connpool.Item[Req, Res]{it})
	}
	return groups
}
