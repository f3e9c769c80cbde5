// Package testserver holds what the protocol test servers kttest and tttest
// share beyond the worker pool: the statistics they report and the waiting
// for their counts.
package testserver

import (
	"context"
	"fmt"
	"sync"
)

// Stats is a snapshot of what a test server is serving.
type Stats struct {
	// Conns is the number of open client connections.
	Conns int
	// Replications is the number of replication sessions being served;
	// each holds a worker.
	Replications int
	// BusyWorkers is the number of workers running a request, replication
	// sessions included.
	BusyWorkers int
	// Workers is the size of the worker pool.
	Workers int
}

// Waiter lets tests wait for a count a server keeps under its own lock
// (open connections, replication sessions, cursors) instead of sleeping.
// The zero value is ready to use.
type Waiter struct {
	// changed is closed (and cleared) when a count changes.
	changed chan struct{}
}

// Changed wakes the waiters. Call it with the server's lock held, after a
// count changed.
func (w *Waiter) Changed() {
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
}

// Wait blocks until count, called with mu held, returns n, or ctx ends;
// what names the count in the error.
func (w *Waiter) Wait(ctx context.Context, mu sync.Locker, n int, what string, count func() int) error {
	for {
		mu.Lock()
		have := count()
		if have == n {
			mu.Unlock()
			return nil
		}
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		changed := w.changed
		mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d %s (have %d): %w", n, what, have, ctx.Err())
		}
	}
}
