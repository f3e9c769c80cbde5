package kt

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/internal/netcheck"
)

// errPoolClosed is what calls on a closed Backend get.
var errPoolClosed = errors.New("the backend is closed")

// readBufferSize is the read buffer of a connection; replies larger than it
// are read straight into their own slices.
const readBufferSize = 64 << 10

// pool is a bounded set of connections to one server. Every open connection
// holds a slot; an idle one also sits in idle. A connection whose state is
// unknown is closed, never put back.
type pool struct {
	addr        string
	dialTimeout time.Duration

	slots chan struct{} // one token per open connection
	idle  chan *conn    // capacity = slots, so returning one never blocks
	// waits counts the times a call found every slot taken, for metrics.
	waits atomic.Int64

	mu     sync.Mutex // guards closed against concurrent put and close
	closed bool
	done   chan struct{}

	dials, discards atomic.Int64
	// recovered counts the connections kept after a call gave up on them,
	// by reading the late reply in the background.
	recovered atomic.Int64
	// lost counts the connections the server closed or reset: an idle one
	// found at end of stream, or one that failed that way mid-request. A
	// change means the server may have restarted, with other databases.
	// The pools of one Backend share it.
	lost *atomic.Int64
}

func newPool(addr string, size int, dialTimeout time.Duration, lost *atomic.Int64) *pool {
	return &pool{
		addr:        addr,
		dialTimeout: dialTimeout,
		lost:        lost,
		slots:       make(chan struct{}, size),
		idle:        make(chan *conn, size),
		done:        make(chan struct{}),
	}
}

// conn is one pooled connection.
type conn struct {
	nc net.Conn
	br *bufio.Reader
	// reused is true when the connection served an earlier request: a
	// failure before any reply byte may then just mean the server closed it
	// while it was idle.
	reused bool
	// broken is set when the connection's state is unknown (an I/O error,
	// a timeout or cancellation mid-request, a protocol error) or the
	// server announced that it closes it.
	broken bool
	// peerGone is set when the server closed or reset the connection.
	peerGone bool
	// got counts the bytes read from nc, so that a failed exchange can tell
	// whether any of the reply arrived.
	got int64
	// armMu and armGen keep a cancellation from an earlier exchange off
	// the connection (see arm).
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

// get returns an idle connection, or dials a new one when a slot is free,
// waiting for one otherwise. fresh asks for a new connection: then an idle
// one that turns up while every slot is taken is closed and gives its slot
// to the new one, so that a call retrying after a stale connection is not
// kept waiting while others come and go.
func (p *pool) get(ctx context.Context, fresh bool) (*conn, error) {
	// A call whose context already ended must not start, even when an idle
	// connection would let it.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for {
		select {
		case <-p.done:
			return nil, errPoolClosed
		default:
		}
		if !fresh {
			select {
			case c := <-p.idle:
				if c.healthy() {
					c.reused = true
					return c, nil
				}
				c.peerGone = true
				p.discard(c)
				continue
			default:
			}
		}
		if len(p.slots) == cap(p.slots) {
			p.waits.Add(1)
		}
		select {
		case p.slots <- struct{}{}:
			return p.dialSlot(ctx)
		case c := <-p.idle:
			switch {
			case !c.healthy():
				c.peerGone = true
				p.discard(c)
			case fresh:
				_ = c.nc.Close()
				return p.dialSlot(ctx)
			default:
				c.reused = true
				return c, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
			return nil, errPoolClosed
		}
	}
}

// dialSlot dials a connection for a slot the caller holds, and gives the
// slot back when the dial fails.
func (p *pool) dialSlot(ctx context.Context) (*conn, error) {
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

func (p *pool) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: p.dialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	p.dials.Add(1)
	c := &conn{nc: nc}
	c.br = bufio.NewReaderSize(counter{c}, readBufferSize)
	return c, nil
}

// put returns c to the pool, or closes it when it is broken or the pool is
// closed.
func (p *pool) put(c *conn) {
	if c.broken {
		p.discard(c)
		return
	}
	// The last exchange's deadline has passed by the time the connection is
	// next taken, and a read past its deadline fails at once, which the
	// idle check would take for a dead connection.
	_ = c.nc.SetDeadline(time.Time{})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.release(c)
		return
	}
	p.idle <- c
	p.mu.Unlock()
}

// discard closes c because its state is unknown or it is broken.
func (p *pool) discard(c *conn) {
	p.discards.Add(1)
	if c.peerGone {
		p.lost.Add(1)
	}
	p.release(c)
}

func (p *pool) release(c *conn) {
	_ = c.nc.Close()
	<-p.slots
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.done)
	for {
		select {
		case c := <-p.idle:
			p.release(c)
		default:
			return
		}
	}
}

func (p *pool) stats() PoolStats {
	open, idle := len(p.slots), len(p.idle)
	return PoolStats{
		Open:      open,
		Idle:      idle,
		InUse:     max(open-idle, 0),
		Dials:     p.dials.Load(),
		Discards:  p.discards.Load(),
		Recovered: p.recovered.Load(),
	}
}

// healthy reports whether an idle connection is still usable: nothing may
// be buffered (the server never speaks unasked) and the peer must not have
// closed it.
func (c *conn) healthy() bool {
	return c.br.Buffered() == 0 && netcheck.Idle(c.nc)
}

// pastDeadline interrupts blocked I/O at once.
var pastDeadline = time.Unix(1, 0)

// arm sets the connection's deadline from ctx (or timeout when ctx has
// none) and interrupts the I/O when ctx ends. The returned function
// disarms and reports whether the cancellation fired, in which case the
// exchange may have stopped half way. Once it returns, a cancellation
// still running can no longer touch the connection, which may then be
// read again (see drainLate) or go back to the pool.
func (c *conn) arm(ctx context.Context, timeout time.Duration) func() bool {
	deadline, ok := ctx.Deadline()
	if !ok && timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	_ = c.nc.SetDeadline(deadline)
	c.armMu.Lock()
	c.armGen++
	gen := c.armGen
	c.armMu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.armMu.Lock()
		defer c.armMu.Unlock()
		if c.armGen == gen {
			_ = c.nc.SetDeadline(pastDeadline)
		}
	})
	return func() bool {
		fired := !stop()
		c.armMu.Lock()
		c.armGen++
		c.armMu.Unlock()
		return fired
	}
}

// appError marks an error that the server answered in protocol: the exchange
// completed and the connection stays in step, unless broken says otherwise.
type appError struct{ err error }

func (e *appError) Error() string { return e.err.Error() }
func (e *appError) Unwrap() error { return e.err }

// exchange writes req and runs read on the reply (read may be nil for
// no-reply requests). wrote reports whether the request left completely.
// I/O and protocol errors mark c broken; errors read returns wrapped in
// *appError do not.
func (c *conn) exchange(ctx context.Context, timeout time.Duration, req []byte, read func(*conn) error) (wrote bool, err error) {
	// A call whose context ended while it waited for the connection sends
	// nothing, and leaves the connection as it found it.
	if err := ctx.Err(); err != nil {
		return false, err
	}
	disarm := c.arm(ctx, timeout)
	unsent := false
	defer func() {
		if disarm() && !unsent {
			c.broken = true
		}
	}()
	if n, err := c.nc.Write(req); err != nil {
		// A deadline that passed before a byte left sends nothing: the
		// connection stays in step.
		unsent = n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
		c.broken, c.peerGone = !unsent, peerClosed(err)
		return false, err
	}
	if read == nil {
		return true, nil
	}
	err = read(c)
	var ae *appError
	if err != nil && !errors.As(err, &ae) {
		c.broken, c.peerGone = true, peerClosed(err)
	}
	return true, err
}

// peerClosed reports whether an I/O error means the server closed or reset
// the connection (rather than a timeout or a protocol error).
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
