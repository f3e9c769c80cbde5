package tt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// pipelineChunk bounds the requests written before their replies are read.
// The replies of one chunk stay far below a socket buffer, so neither side
// can block the other while the chunk is in flight.
const pipelineChunk = 1024

// encodeError marks a request the server would reject; the connection it was
// about to use is untouched.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

// do sends reqs on one connection, pipelined, and reads the reply of each
// one that has a reply (putnr has none). Reads pass idempotent, which allows
// one retry on a fresh connection when a pooled one turns out to be dead.
func (b *Backend) do(ctx context.Context, op string, idempotent bool, reqs ...*ttwire.Request) (_ []*ttwire.Reply, err error) {
	ctx, end := backend.StartRoundTrip(ctx, "tt", op)
	defer func() { end(err) }()
	for attempt := 0; ; attempt++ {
		c, err := b.pool.get(ctx, attempt > 0)
		if err != nil {
			return nil, b.classify(ctx, op, err)
		}
		reused := c.reused
		reps, healthy, late, err := b.exchange(ctx, c, reqs)
		if late {
			// The caller gave up before any reply arrived: the
			// connection is in step, only early. Reading the replies in
			// the background keeps it, rather than closing it and
			// dialling another for the next call.
			b.drainLate(c, reqs)
		} else {
			b.pool.put(c, healthy)
		}
		if err == nil {
			return reps, nil
		}
		var ee *encodeError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s: %s: %v: %w", b.name, op, ee.err, backend.ErrInvalid)
		}
		if idempotent && attempt == 0 && reused && ctx.Err() == nil && droppedConn(err) {
			continue
		}
		return nil, b.classify(ctx, op, err)
	}
}

// one is do for a single request.
func (b *Backend) one(ctx context.Context, op string, idempotent bool, req *ttwire.Request) (*ttwire.Reply, error) {
	reps, err := b.do(ctx, op, idempotent, req)
	if err != nil {
		return nil, err
	}
	if len(reps) == 0 {
		return nil, nil
	}
	return reps[0], nil
}

// exchange runs one pipelined exchange under the request deadline. healthy
// is false when the connection may hold unread bytes or be half-written;
// late is set instead when the requests left whole and the deadline or
// cancellation came before any reply byte.
func (b *Backend) exchange(ctx context.Context, c *conn, reqs []*ttwire.Request) (reps []*ttwire.Reply, healthy, late bool, err error) {
	c.buf = c.buf[:0]
	for _, r := range reqs {
		if c.buf, err = ttwire.AppendRequest(c.buf, r); err != nil {
			return nil, true, false, &encodeError{err}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, true, false, err
	}
	deadline := time.Now().Add(b.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, false, false, err
	}
	// Cancelling ctx interrupts blocked I/O by moving the deadline into the
	// past; once exchange returns, an interrupt still running leaves the
	// connection alone (armGen moved on).
	c.armMu.Lock()
	c.armGen++
	gen := c.armGen
	c.armMu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.armMu.Lock()
		defer c.armMu.Unlock()
		if c.armGen == gen {
			_ = c.nc.SetDeadline(time.Unix(1, 0))
		}
	})
	defer func() {
		if !stop() && !late {
			healthy = false
		}
		c.armMu.Lock()
		c.armGen++
		c.armMu.Unlock()
	}()
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, false, false, err
	}
	got := c.got
	if reps, err = readReplies(c.br, reqs); err != nil {
		late = c.got == got && hasReply(reqs) && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded))
		return nil, false, late, err
	}
	return reps, true, false, nil
}

// hasReply reports whether any of reqs is answered.
func hasReply(reqs []*ttwire.Request) bool {
	for _, r := range reqs {
		if ttwire.HasReply(r.Cmd) {
			return true
		}
	}
	return false
}

// drainLate reads and drops the replies to reqs, whose caller gave up
// before they began, then returns the connection to the pool; it keeps its
// slot meanwhile. Replies that do not come within the timeout, or do not
// read cleanly, cost the connection as before; closing the pool cuts the
// wait short.
func (b *Backend) drainLate(c *conn, reqs []*ttwire.Request) {
	go func() {
		_ = c.nc.SetDeadline(time.Now().Add(b.opts.Timeout))
		drained := make(chan struct{})
		go func() {
			select {
			case <-b.pool.done:
				_ = c.nc.SetDeadline(time.Unix(1, 0))
			case <-drained:
			}
		}()
		_, err := readReplies(c.br, reqs)
		close(drained)
		if err == nil {
			b.pool.mu.Lock()
			b.pool.recovered++
			b.pool.mu.Unlock()
		}
		b.pool.put(c, err == nil)
	}()
}

// readReplies reads the reply of each of reqs that has one, in order.
func readReplies(r io.Reader, reqs []*ttwire.Request) ([]*ttwire.Reply, error) {
	reps := make([]*ttwire.Reply, 0, len(reqs))
	for _, req := range reqs {
		if !ttwire.HasReply(req.Cmd) {
			continue
		}
		rep, err := ttwire.ReadReply(r, req.Cmd)
		if err != nil {
			return nil, err
		}
		if req.Cmd == ttwire.CmdMGet && !inRequestOrder(req.Keys, rep.Records) {
			// Well formed, but the answer to another request: the
			// connection is out of step, and its records would be
			// returned as the ones asked for.
			return nil, fmt.Errorf("%w: mget reply holds records that were not asked for, or out of order", ttwire.ErrProtocol)
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

// inRequestOrder reports whether recs can be the reply to an mget of keys:
// the server returns the records it found, in request order, and nothing
// else.
func inRequestOrder(keys [][]byte, recs []ttwire.KV) bool {
	i := 0
	for _, r := range recs {
		for i < len(keys) && !bytes.Equal(keys[i], r.Key) {
			i++
		}
		if i == len(keys) {
			return false
		}
		i++
	}
	return true
}

// droppedConn reports whether err looks like a connection the server closed
// before the request reached it: worth one retry for a read.
func droppedConn(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	return false
}

// classify turns a failure into the sentinel the API expects.
func (b *Backend) classify(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, errClosed):
		return fmt.Errorf("%s: %s: %w: %w", b.name, op, err, backend.ErrUnavailable)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: %s: no answer before the deadline: %w", b.name, op, backend.ErrTimeout)
		}
		return fmt.Errorf("%s: %s: %w", b.name, op, ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%s: %s: no answer within %v: %w", b.name, op, b.opts.Timeout, backend.ErrTimeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: %s: %v: %w", b.name, op, err, backend.ErrTimeout)
	}
	if errors.Is(err, ttwire.ErrProtocol) {
		return fmt.Errorf("%s: %s: reply out of step (%v); connection discarded: %w", b.name, op, err, backend.ErrUnavailable)
	}
	return b.unavailable(op, err)
}

// chunks splits n items into [start, end) ranges of at most size.
func chunks(n, size int) [][2]int {
	var out [][2]int
	for i := 0; i < n; i += size {
		out = append(out, [2]int{i, min(n, i+size)})
	}
	return out
}
