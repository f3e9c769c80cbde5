// Package pooltest helps the adapters' tests and benchmarks of package
// connpool: a dialer that counts and holds requests, and CPU accounting.
package pooltest

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
)

// Tap is a dialer for tests of the adapters: it counts the requests
// written on the connections it opens (every exchange is one Write) and can
// hold the next one, so that a test can make calls queue behind it without
// sleeping.
type Tap struct {
	writes atomic.Int64
	mu     sync.Mutex
	gate   chan struct{} // the next Write waits for it to close
	in     chan struct{} // told when that Write is held
}

// Dial opens a TCP connection that the Tap watches; it fits Config.Dial.
func (t *Tap) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: nc, t: t}, nil
}

// Writes counts the requests written so far.
func (t *Tap) Writes() int64 { return t.writes.Load() }

// Hold makes the next Write wait until release is called; held is told
// when it has begun waiting.
func (t *Tap) Hold() (held <-chan struct{}, release func()) {
	gate, in := make(chan struct{}), make(chan struct{}, 1)
	t.mu.Lock()
	t.gate, t.in = gate, in
	t.mu.Unlock()
	return in, func() { close(gate) }
}

type tapConn struct {
	net.Conn
	t *Tap
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.t.mu.Lock()
	gate, in := c.t.gate, c.t.in
	c.t.gate, c.t.in = nil, nil
	c.t.mu.Unlock()
	if gate != nil {
		in <- struct{}{}
		<-gate
	}
	c.t.writes.Add(1)
	return c.Conn.Write(b)
}

// WaitPending waits until n calls are queued in bt, yielding meanwhile.
func WaitPending[Req, Res any](bt *connpool.Batcher[Req, Res], n int) {
	for bt.Stats().Pending != n {
		runtime.Gosched()
	}
}
