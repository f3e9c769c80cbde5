package tt

import (
	"context"
	"errors"
	"fmt"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Coalescing (coalesce=on) merges concurrent Gets, Sets and Removes into one
// pipelined exchange (see connpool.Batcher): the gets as one mget, each
// write as its own put or out. Every put and out has its own reply and
// mget names the records it found, so each caller gets exactly the answer
// it would alone.

// coalesceMaxBytes bounds the key and value of a Set that is merged: they
// are copied while queued.
const coalesceMaxBytes = 16 << 10

// coalesceLimit is how many requests go out at once before calls queue for
// a batch.
const coalesceLimit = 1

type call struct {
	cmd        ttwire.Command // CmdGet, CmdPut or CmdOut
	key, value []byte
}

type answer struct {
	value []byte
	ok    bool
}

// startCoalescing sets up the batcher when the options ask for it.
func (b *Backend) startCoalescing() {
	if !b.opts.Coalesce {
		return
	}
	cfg := connpool.BatchConfig{Wait: b.opts.CoalesceWait, Max: b.opts.CoalesceMax, Limit: coalesceLimit, Timeout: b.opts.Timeout}
	b.calls = connpool.NewBatcher(cfg, b.callDirect, b.callBatch)
}

func opName(cmd ttwire.Command) string {
	switch cmd {
	case ttwire.CmdGet:
		return "get"
	case ttwire.CmdPut:
		return "put"
	}
	return "out"
}

// coalesced runs c through the batcher; the caller owns key and value only
// until it returns, so they are copied.
func (b *Backend) coalesced(ctx context.Context, c call) (answer, error) {
	buf := make([]byte, len(c.key)+len(c.value))
	copy(buf, c.key)
	copy(buf[len(c.key):], c.value)
	c.key, c.value = buf[:len(c.key):len(c.key)], buf[len(c.key):]
	a, err := b.calls.Do(ctx, c)
	if ctxErr := ctx.Err(); ctxErr != nil && err == ctxErr {
		return answer{}, b.classify(ctx, opName(c.cmd), err)
	}
	return a, err
}

func (b *Backend) callDirect(ctx context.Context, c call) (answer, error) {
	rep, err := b.one(ctx, opName(c.cmd), c.cmd == ttwire.CmdGet, &ttwire.Request{Cmd: c.cmd, Key: c.key, Value: c.value})
	if err != nil {
		return answer{}, err
	}
	return answer{rep.Value, rep.OK()}, nil
}

// callBatch sends batch as one pipeline: an mget of the keys read (a get
// when there is one), then the writes in the order they came.
func (b *Backend) callBatch(ctx context.Context, batch []*connpool.Item[call, answer]) {
	var reqs []*ttwire.Request
	var keys [][]byte
	seen := map[string]bool{}
	writes := false
	for _, it := range batch {
		if it.Req.cmd == ttwire.CmdGet && !seen[string(it.Req.key)] {
			// mget answers a key once however often it is asked.
			seen[string(it.Req.key)] = true
			keys = append(keys, it.Req.key)
		}
	}
	switch len(keys) {
	case 0:
	case 1:
		reqs = append(reqs, &ttwire.Request{Cmd: ttwire.CmdGet, Key: keys[0]})
	default:
		reqs = append(reqs, &ttwire.Request{Cmd: ttwire.CmdMGet, Keys: keys})
	}
	for _, it := range batch {
		if it.Req.cmd != ttwire.CmdGet {
			writes = true
			reqs = append(reqs, &ttwire.Request{Cmd: it.Req.cmd, Key: it.Req.key, Value: it.Req.value})
		}
	}
	op := "get"
	if writes {
		op = "put"
	}
	reps, err := b.do(ctx, op, !writes, reqs...)
	if err == nil && len(reps) != len(reqs) {
		err = fmt.Errorf("%s: %s: %d replies to %d requests: %w", b.name, op, len(reps), len(reqs), backend.ErrFailed)
	}
	if err != nil {
		var reads []*connpool.Item[call, answer]
		for _, it := range batch {
			if writes && it.Req.cmd == ttwire.CmdGet && errors.Is(err, backend.ErrUnavailable) {
				// Alone, a read that failed on a dead connection is
				// retried; merged with writes it was not: retry it now.
				reads = append(reads, it)
				continue
			}
			it.Err = err
		}
		if len(reads) > 0 {
			b.callBatch(ctx, reads)
		}
		return
	}
	found := map[string][]byte{}
	if len(keys) > 0 {
		rep := reps[0]
		reps = reps[1:]
		if len(keys) == 1 {
			if rep.OK() {
				found[string(keys[0])] = rep.Value
			}
		} else {
			for _, kv := range rep.Records {
				found[string(kv.Key)] = kv.Value
			}
		}
	}
	for _, it := range batch {
		if it.Req.cmd == ttwire.CmdGet {
			v, ok := found[string(it.Req.key)]
			it.Res = answer{v, ok}
			continue
		}
		it.Res = answer{ok: reps[0].OK()}
		reps = reps[1:]
	}
}
