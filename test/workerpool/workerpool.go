// Package workerpool models the bounded pool of worker threads of Kyoto
// Tycoon and Tokyo Tyrant for the protocol test servers: a request takes a
// worker when it arrives and gives it back when it is answered, and a
// request that finds every worker busy waits for one.
package workerpool

import "context"

// Pool is a fixed number of workers. Its methods are safe for concurrent
// use.
type Pool struct {
	busy chan struct{}
}

// New returns a pool of n workers (at least one).
func New(n int) *Pool { return &Pool{busy: make(chan struct{}, max(n, 1))} }

// Take waits for a free worker; false means ctx ended first.
func (p *Pool) Take(ctx context.Context) bool {
	select {
	case p.busy <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Release gives a worker back.
func (p *Pool) Release() { <-p.busy }

// Busy returns the number of workers running a request.
func (p *Pool) Busy() int { return len(p.busy) }

// Size returns the number of workers.
func (p *Pool) Size() int { return cap(p.busy) }
