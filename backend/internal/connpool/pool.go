package connpool

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
)

// ErrClosed is the cause of calls on a closed pool.
var ErrClosed = errors.New("the backend is closed")

// ErrWaitTimeout is the cause of a call whose deadline (given to GetUntil,
// not its context's) passed while it waited for a connection.
var ErrWaitTimeout = errors.New("no connection free before the call's deadline")

// readBufferSize is the read buffer of a connection; replies larger than it
// are read straight into their own slices.
const readBufferSize = 64 << 10

// maxKeptBuffer is the largest write buffer a connection keeps between
// requests; a larger one was for a rare large request and is dropped.
const maxKeptBuffer = 1 << 20

// Config sets up a Pool.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Size is the most connections open at once (at least 1).
	Size int
	// ConnectTimeout bounds one TCP connect.
	ConnectTimeout time.Duration
	// Dial opens connections; nil uses a net.Dialer with TCP keep-alives.
	// Tests inject one.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Lost counts the connections the server closed or reset, shared by
	// the pools of one adapter; nil gives the pool a counter of its own.
	Lost *atomic.Int64
	// ReadBufferSize is each connection's read buffer; 0 means 64 KiB.
	// A pool of many long-lived, mostly idle connections (cursors) takes a
	// small one: a reply larger than the buffer is read in pieces or
	// straight into its own slices, so the size bounds memory, not replies.
	ReadBufferSize int
}

// Pool is a bounded set of connections to one server. Every open connection
// holds a slot; an idle one also sits in idle. A connection whose state is
// unknown is closed, never put back. The zero value is not usable; call New.
type Pool struct {
	rbuf    int // read buffer size of each connection
	addr    string
	timeout time.Duration
	dialer  func(ctx context.Context, network, addr string) (net.Conn, error)

	slots chan struct{} // one token per open connection
	idle  chan *Conn    // capacity = slots, so returning one never blocks

	waits, dials, discards, recovered atomic.Int64
	lost                              *atomic.Int64

	// life ends at Close: it cuts background reads of late replies short.
	life     context.Context
	shutdown context.CancelFunc
	drains   sync.WaitGroup

	mu     sync.Mutex // guards closed and streams
	closed bool
	// streams holds the connections of long-running streams (replication),
	// outside the slots, so that Close can end them.
	streams map[net.Conn]struct{}
}

// New returns a pool; it does not dial.
func New(cfg Config) *Pool {
	dial := cfg.Dial
	if dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	lost := cfg.Lost
	if lost == nil {
		lost = new(atomic.Int64)
	}
	life, shutdown := context.WithCancel(context.Background())
	rbuf := cfg.ReadBufferSize
	if rbuf <= 0 {
		rbuf = readBufferSize
	}
	return &Pool{
		rbuf:     rbuf,
		addr:     cfg.Addr,
		timeout:  cfg.ConnectTimeout,
		dialer:   dial,
		slots:    make(chan struct{}, max(cfg.Size, 1)),
		idle:     make(chan *Conn, max(cfg.Size, 1)),
		lost:     lost,
		life:     life,
		shutdown: shutdown,
		streams:  map[net.Conn]struct{}{},
	}
}

// Size is the most connections the pool opens.
func (p *Pool) Size() int { return cap(p.slots) }

// Lost counts the connections the server closed or reset (see Config.Lost).
// A change means the server may have restarted.
func (p *Pool) Lost() int64 { return p.lost.Load() }

// Done is closed when the pool is closed.
func (p *Pool) Done() <-chan struct{} { return p.life.Done() }

// Get returns an idle connection, or dials a new one when a slot is free,
// waiting for one otherwise. fresh asks for a new connection: then an idle
// one that turns up while every slot is taken is closed and gives its slot
// to the new one, so that a call retrying after a stale connection is not
// kept waiting while others come and go. The caller hands the connection
// back with Put.
func (p *Pool) Get(ctx context.Context, fresh bool) (*Conn, error) {
	return p.GetUntil(ctx, fresh, time.Time{})
}

// GetUntil is Get for a call bounded by deadline as well as by its context:
// past it, a call still waiting for a connection gets ErrWaitTimeout. It
// lets a call whose context has no deadline be bounded without a context
// of its own (and its timer) when no wait is needed.
func (p *Pool) GetUntil(ctx context.Context, fresh bool, deadline time.Time) (*Conn, error) {
	// A call whose context already ended must not start, even when an idle
	// connection would let it.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	done := p.life.Done()
	for {
		select {
		case <-done:
			return nil, ErrClosed
		default:
		}
		if !fresh {
			select {
			case c := <-p.idle:
				if c.healthy() {
					c.Reused = true
					return c, nil
				}
				c.PeerGone = true
				p.discard(c)
				continue
			default:
			}
		}
		var expired <-chan time.Time
		if len(p.slots) == cap(p.slots) {
			p.waits.Add(1)
			if !deadline.IsZero() {
				t := time.NewTimer(time.Until(deadline))
				defer t.Stop()
				expired = t.C
			}
		}
		select {
		case <-expired:
			return nil, ErrWaitTimeout
		case p.slots <- struct{}{}:
			return p.dialSlot(ctx, deadline)
		case c := <-p.idle:
			switch {
			case !c.healthy():
				c.PeerGone = true
				p.discard(c)
			case fresh:
				_ = c.NC.Close()
				return p.dialSlot(ctx, deadline)
			default:
				c.Reused = true
				return c, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-done:
			return nil, ErrClosed
		}
	}
}

// dialSlot dials a connection for a slot the caller holds, and gives the
// slot back when the dial fails.
func (p *Pool) dialSlot(ctx context.Context, deadline time.Time) (*Conn, error) {
	nc, err := p.dial(ctx, deadline)
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.dials.Add(1)
	c := &Conn{NC: nc}
	c.BR = bufio.NewReaderSize(counter{c}, p.rbuf)
	return c, nil
}

func (p *Pool) dial(ctx context.Context, deadline time.Time) (net.Conn, error) {
	if p.timeout > 0 {
		if d := time.Now().Add(p.timeout); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	dctx, cancel := ctx, context.CancelFunc(func() {})
	if !deadline.IsZero() {
		dctx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	nc, err := p.dialer(dctx, "tcp", p.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	return nc, nil
}

// Put returns c to the pool, or closes it when it is broken or the pool is
// closed.
func (p *Pool) Put(c *Conn) {
	if c.Broken {
		p.discard(c)
		return
	}
	if cap(c.Buf) > maxKeptBuffer {
		c.Buf = nil
	}
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
func (p *Pool) discard(c *Conn) {
	p.discards.Add(1)
	if c.PeerGone {
		p.lost.Add(1)
	}
	p.release(c)
}

func (p *Pool) release(c *Conn) {
	_ = c.NC.Close()
	<-p.slots
}

// Close closes the idle connections and the streams', waits for background
// reads of late replies (which it cuts short), and makes every later Get
// fail with ErrClosed. Connections in use are closed when they come back.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.shutdown()
	streams := make([]net.Conn, 0, len(p.streams))
	for nc := range p.streams {
		streams = append(streams, nc)
	}
	p.mu.Unlock()
	p.drains.Wait()
	for {
		select {
		case c := <-p.idle:
			p.release(c)
			continue
		default:
		}
		break
	}
	// Streams see their connection fail and, the pool being closed, end.
	for _, nc := range streams {
		_ = nc.Close()
	}
}

// DialStream opens a connection outside the pool's slots, for a stream
// (replication) that holds it for as long as it runs. The caller hands it
// back with ReleaseStream; Close closes it before that.
func (p *Pool) DialStream(ctx context.Context) (net.Conn, error) {
	select {
	case <-p.life.Done():
		return nil, ErrClosed
	default:
	}
	nc, err := p.dial(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = nc.Close()
		return nil, ErrClosed
	}
	p.streams[nc] = struct{}{}
	return nc, nil
}

// ReleaseStream closes a connection from DialStream.
func (p *Pool) ReleaseStream(nc net.Conn) {
	p.mu.Lock()
	delete(p.streams, nc)
	p.mu.Unlock()
	_ = nc.Close()
}

// Recover reads the late reply to a request whose caller gave up before
// any of it arrived, in the background, then returns c to the pool: the
// connection is in step, only early, and keeping it spares a dial. drain
// reads and drops the reply; it has timeout to come. A reply that does not
// come in time or does not read cleanly, or a Close meanwhile, costs the
// connection as before. c keeps its slot throughout.
func (p *Pool) Recover(c *Conn, timeout time.Duration, drain func(*Conn) error) {
	p.RecoverThen(c, timeout, drain, func(bool) { p.Put(c) })
}

// RecoverThen is Recover for a connection its holder keeps (a cursor's,
// whose server state lives on it): instead of going back to the pool, c
// is handed to then, on the background goroutine, once the late reply was
// read (ok) or could not be (c is then Broken, for the holder to Put). The
// holder must not touch c before then runs. cut ends the read at once, as
// a failure, when the holder can wait no longer.
func (p *Pool) RecoverThen(c *Conn, timeout time.Duration, drain func(*Conn) error, then func(ok bool)) (cut func()) {
	c.Broken, c.PeerGone = false, false
	ctx, cancel := context.WithCancel(p.life)
	p.drains.Add(1)
	go func() {
		defer p.drains.Done()
		defer cancel()
		c.deadline = time.Now().Add(timeout)
		_ = c.NC.SetDeadline(c.deadline)
		stop := context.AfterFunc(ctx, func() { _ = c.NC.SetDeadline(pastDeadline) })
		err := drain(c)
		ok := stop() && err == nil && !c.Broken
		if ok {
			p.recovered.Add(1)
		} else {
			c.Broken = true
		}
		then(ok)
	}()
	return cancel
}

// TakeIdle removes an idle connection without checking it, for tests that
// must look at one; the caller hands it back with Put.
func (p *Pool) TakeIdle() (*Conn, bool) {
	select {
	case c := <-p.idle:
		return c, true
	default:
		return nil, false
	}
}

// Stats counts a pool's connections.
type Stats struct {
	// Size is the most connections the pool opens.
	Size int
	// Open is the connections open now, idle or in use.
	Open int
	// Idle is the open connections waiting in the pool.
	Idle int
	// InUse is the connections a call or a cursor holds.
	InUse int
	// Streams is the connections of running streams (replication), which
	// are not counted in Open.
	Streams int
	// Waits counts the times a call found every connection in use and had
	// to wait for one.
	Waits int64
	// Dials counts the connections opened so far: connection churn.
	Dials int64
	// Discards counts the connections closed because their state was
	// unknown (an error, a timeout or a cancellation mid-request) or because
	// the server closed them.
	Discards int64
	// Recovered counts the connections kept although a call gave up on
	// them (its deadline expired while the server was still to answer):
	// the late reply was read in the background and the connection
	// returned to the pool instead of being closed and replaced.
	Recovered int64
}

// Stats reports the pool's counts now.
func (p *Pool) Stats() Stats {
	open, idle := len(p.slots), len(p.idle)
	p.mu.Lock()
	streams := len(p.streams)
	p.mu.Unlock()
	return Stats{
		Size:      cap(p.slots),
		Open:      open,
		Idle:      idle,
		InUse:     max(open-idle, 0),
		Streams:   streams,
		Waits:     p.waits.Load(),
		Dials:     p.dials.Load(),
		Discards:  p.discards.Load(),
		Recovered: p.recovered.Load(),
	}
}

// Backend converts s to the form the gateway's metrics read.
func (s Stats) Backend() backend.PoolStats {
	return backend.PoolStats{
		Size:      s.Size,
		Open:      s.Open,
		Idle:      s.Idle,
		InUse:     s.InUse,
		Waits:     s.Waits,
		Dials:     s.Dials,
		Discards:  s.Discards,
		Recovered: s.Recovered,
	}
}

// healthy reports whether an idle connection is still usable: nothing may
// be buffered (the servers never speak unasked) and the peer must not have
// closed it.
func (c *Conn) healthy() bool {
	c.clearPastDeadline()
	return c.BR.Buffered() == 0 && c.probe.Idle(c.NC)
}

// WaitRecovering waits until no late reply is being read in the background
// (see Recover), so that tests can read the counts that follow.
func (p *Pool) WaitRecovering() { p.drains.Wait() }
