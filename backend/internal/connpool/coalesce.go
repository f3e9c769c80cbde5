package connpool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Batcher merges concurrent single-key calls of one kind (gets, sets…) into
// batches, so that many callers cost the server one request instead of one
// each. A call that finds nothing queued and fewer than Limit batches in
// flight goes out alone at once, as if there were no Batcher: a lone caller
// pays nothing. Otherwise it queues; the queue goes out as one batch when a
// request in flight completes, when it holds Max calls, or when its oldest
// call has waited Wait, whichever comes first.
//
// Every caller keeps its own deadline and cancellation: a caller whose
// context ends stops waiting at once, and if its call had not gone out yet
// it never does. A batch runs under a context of its own that ends at the
// latest of its callers' deadlines, so one caller's end never fails
// another's call.
type Batcher[Req, Res any] struct {
	cfg    BatchConfig
	direct func(ctx context.Context, req Req) (Res, error)
	send   func(ctx context.Context, batch []*Item[Req, Res])

	mu       sync.Mutex
	inflight int
	pending  []*Item[Req, Res]
	timer    *time.Timer
	// gen tells a timer that fired late which queue it was set for.
	gen uint64

	batches, merged atomic.Int64
}

// BatchConfig bounds a Batcher.
type BatchConfig struct {
	// Wait is the longest a queued call waits for others to join it.
	Wait time.Duration
	// Max is the most calls in one batch.
	Max int
	// Limit is how many requests (alone or batches) may be in flight before
	// calls queue; at least 1.
	Limit int
	// Timeout bounds a batch whose callers have no deadline.
	Timeout time.Duration
}

// Item is one call in a batch. send reads Req and sets Res and Err.
type Item[Req, Res any] struct {
	Req Req
	Res Res
	Err error

	ctx      context.Context
	done     chan struct{}
	taken    bool // under the Batcher's mu: part of a batch already
	deadline time.Time
}

// NewBatcher returns a Batcher that runs a lone call with direct and a
// batch with send, which must set every item's Res or Err.
func NewBatcher[Req, Res any](cfg BatchConfig, direct func(context.Context, Req) (Res, error), send func(context.Context, []*Item[Req, Res])) *Batcher[Req, Res] {
	cfg.Limit = max(cfg.Limit, 1)
	cfg.Max = max(cfg.Max, 2)
	return &Batcher[Req, Res]{cfg: cfg, direct: direct, send: send}
}

// Do runs one call, alone or in a batch. When the caller's context ends
// first, Do returns the context's error.
func (b *Batcher[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	b.mu.Lock()
	if len(b.pending) == 0 && b.inflight < b.cfg.Limit {
		b.inflight++
		b.mu.Unlock()
		res, err := b.direct(ctx, req)
		b.finished()
		return res, err
	}
	it := &Item[Req, Res]{Req: req, ctx: ctx, done: make(chan struct{})}
	it.deadline, _ = ctx.Deadline()
	b.pending = append(b.pending, it)
	var batch []*Item[Req, Res]
	switch {
	case len(b.pending) >= b.cfg.Max:
		batch = b.take()
		b.inflight++
	case len(b.pending) == 1:
		b.arm()
	}
	b.mu.Unlock()
	if batch != nil {
		go b.run(batch)
	}
	select {
	case <-it.done:
		return it.Res, it.Err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if !it.taken {
		// Not sent: it never will be.
		for i, p := range b.pending {
			if p == it {
				b.pending = append(b.pending[:i], b.pending[i+1:]...)
				break
			}
		}
	}
	b.mu.Unlock()
	var zero Res
	return zero, ctx.Err()
}

// arm starts the queue's wait; b.mu is held.
func (b *Batcher[Req, Res]) arm() {
	b.gen++
	gen := b.gen
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timer = time.AfterFunc(b.cfg.Wait, func() {
		b.mu.Lock()
		if gen != b.gen || len(b.pending) == 0 {
			b.mu.Unlock()
			return
		}
		batch := b.take()
		b.inflight++
		b.mu.Unlock()
		b.run(batch)
	})
}

// take removes up to Max queued calls for a batch; b.mu is held. Calls
// left behind start a new wait.
func (b *Batcher[Req, Res]) take() []*Item[Req, Res] {
	n := min(len(b.pending), b.cfg.Max)
	batch := make([]*Item[Req, Res], n)
	copy(batch, b.pending)
	for _, it := range batch {
		it.taken = true
	}
	rest := copy(b.pending, b.pending[n:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	if rest > 0 {
		b.arm()
	} else {
		b.gen++ // the queue's wait is over
	}
	return batch
}

// finished ends a request in flight: the queue, if any, goes out next.
func (b *Batcher[Req, Res]) finished() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.inflight--
		b.mu.Unlock()
		return
	}
	batch := b.take()
	b.mu.Unlock()
	go b.run(batch)
}

// run sends batch under a context that ends at its callers' latest
// deadline, and hands each caller its answer.
func (b *Batcher[Req, Res]) run(batch []*Item[Req, Res]) {
	var deadline time.Time
	for _, it := range batch {
		if it.deadline.IsZero() {
			deadline = time.Now().Add(b.cfg.Timeout)
			break
		}
		if it.deadline.After(deadline) {
			deadline = it.deadline
		}
	}
	// The first caller's values (trace, observer) go with the batch; its
	// cancellation does not.
	ctx, cancel := context.WithDeadline(context.WithoutCancel(batch[0].ctx), deadline)
	if len(batch) == 1 {
		batch[0].Res, batch[0].Err = b.direct(ctx, batch[0].Req)
	} else {
		b.batches.Add(1)
		b.merged.Add(int64(len(batch)))
		b.send(ctx, batch)
	}
	cancel()
	for _, it := range batch {
		close(it.done)
	}
	b.finished()
}

// BatchStats counts what a Batcher merged.
type BatchStats struct {
	// Batches counts the requests that carried two calls or more, and
	// Merged the calls they carried.
	Batches, Merged int64
	// Pending is the calls queued now.
	Pending int
}

// Stats reports the Batcher's counts.
func (b *Batcher[Req, Res]) Stats() BatchStats {
	b.mu.Lock()
	n := len(b.pending)
	b.mu.Unlock()
	return BatchStats{Batches: b.batches.Load(), Merged: b.merged.Load(), Pending: n}
}
