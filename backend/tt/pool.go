package tt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/netcheck"
)

// errClosed is the cause of calls after Close.
var errClosed = errors.New("backend closed")

// conn is one pooled connection. Between requests it holds no unread bytes;
// a connection that might (a failed or cancelled request) is closed instead
// of being returned.
type conn struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte
	// reused is true when the connection came from the idle list, so that a
	// failure may be a connection the server dropped while it was idle.
	reused bool
	// got counts the bytes read from nc, so that a failed exchange can tell
	// whether any reply arrived.
	got int64
	// armMu and armGen keep the interrupt of an earlier exchange off the
	// connection (see exchange).
	armMu  sync.Mutex
	armGen uint64
}

// counter is the reader under a connection's bufio.Reader: it counts what
// arrives.
type counter struct{ c *conn }

func (r counter) Read(b []byte) (int, error) {
	n, err := r.c.nc.Read(b)
	r.c.got += int64(n)
	return n, err
}

// PoolStats counts a pool's connections.
type PoolStats struct {
	// Open is every connection not yet closed: idle plus in use.
	Open int
	// Idle is the connections waiting in the pool.
	Idle int
	// Streams is the connections of running replication streams, which
	// are not counted in Open.
	Streams int
	// Dials counts the connections opened so far: connection churn.
	Dials int64
	// Recovered counts the connections kept although a call gave up on
	// them before the server answered: the late reply was read in the
	// background and the connection returned to the pool.
	Recovered int64
}

type pool struct {
	addr    string
	timeout time.Duration
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	// slots holds one token per connection in use or being dialled.
	slots chan struct{}
	// waits counts the times a call found every slot taken, for metrics.
	waits atomic.Int64
	done  chan struct{}

	mu   sync.Mutex
	idle []*conn
	open int
	// raw holds the connections of running replication streams, so that
	// close can end them.
	raw    map[net.Conn]struct{}
	closed bool

	dials, recovered int64 // under mu
}

func newPool(addr string, size int, timeout time.Duration, dial func(context.Context, string, string) (net.Conn, error)) *pool {
	return &pool{
		addr:    addr,
		timeout: timeout,
		dial:    dial,
		slots:   make(chan struct{}, size),
		done:    make(chan struct{}),
		raw:     map[net.Conn]struct{}{},
	}
}

// get returns a connection, waiting for a free slot. fresh skips the idle
// list. The caller must hand the connection back with put.
func (p *pool) get(ctx context.Context, fresh bool) (*conn, error) {
	if len(p.slots) == cap(p.slots) {
		p.waits.Add(1)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, errClosed
	}
	for !fresh {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, errClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// A deadline left in the past by an interrupted request would make
		// the probe fail without looking.
		if c.nc.SetReadDeadline(time.Time{}) == nil && netcheck.Idle(c.nc) {
			c.reused = true
			return c, nil
		}
		p.discard(c)
	}
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	nc, err := p.dial(dctx, "tcp", p.addr)
	if err != nil {
		<-p.slots
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		<-p.slots
		return nil, errClosed
	}
	p.open++
	p.dials++
	p.mu.Unlock()
	c := &conn{nc: nc}
	c.br = bufio.NewReaderSize(counter{c}, 64<<10)
	return c, nil
}

// put hands c back: to the idle list when healthy, closed otherwise. Other
// idle connections stay: each is probed before reuse, so those a restarted
// server killed are dropped then.
func (p *pool) put(c *conn, healthy bool) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	if healthy && !p.closed {
		c.reused = false
		if cap(c.buf) > 1<<20 {
			c.buf = nil
		}
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.discard(c)
}

// discard closes c and forgets it.
func (p *pool) discard(c *conn) {
	_ = c.nc.Close()
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
}

func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	close(p.done)
	raw := make([]net.Conn, 0, len(p.raw))
	for nc := range p.raw {
		raw = append(raw, nc)
	}
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
	// Streams see their connection fail and, the pool being closed, end.
	for _, nc := range raw {
		_ = nc.Close()
	}
}

func (p *pool) stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Open: p.open, Idle: len(p.idle), Streams: len(p.raw), Dials: p.dials, Recovered: p.recovered}
}

// dialRaw opens a connection outside the pool's slots, for replication
// streams, which hold theirs for as long as they run. The caller hands it
// back with releaseRaw; close closes it before that.
func (p *pool) dialRaw(ctx context.Context) (net.Conn, error) {
	select {
	case <-p.done:
		return nil, errClosed
	default:
	}
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	nc, err := p.dial(dctx, "tcp", p.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = nc.Close()
		return nil, errClosed
	}
	p.raw[nc] = struct{}{}
	return nc, nil
}

// releaseRaw closes a connection from dialRaw.
func (p *pool) releaseRaw(nc net.Conn) {
	p.mu.Lock()
	delete(p.raw, nc)
	p.mu.Unlock()
	_ = nc.Close()
}

// unavailable wraps a connection-level failure.
func (b *Backend) unavailable(op string, err error) error {
	return fmt.Errorf("%s: %s: %v: %w", b.name, op, err, backend.ErrUnavailable)
}
