package tt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
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

// conn is a pooled connection.
type conn = connpool.Conn

// do sends reqs on one connection, pipelined, and reads the reply of each
// one that has a reply (putnr has none). Reads pass idempotent, which allows
// one retry on a fresh connection when a pooled one turns out to be dead.
func (b *Backend) do(ctx context.Context, op string, idempotent bool, reqs ...*ttwire.Request) ([]*ttwire.Reply, error) {
	ctx, end := backend.StartRoundTrip(ctx, "tt", op)
	// A call whose context has no deadline is bounded by the timeout from
	// its start, the wait for a connection included, without a context of
	// its own: the bound goes to the pool and the socket.
	deadline, ok := ctx.Deadline()
	var wait time.Time
	if !ok {
		deadline = time.Now().Add(b.opts.Timeout)
		wait = deadline
	}
	rq := &request{deadline: deadline, reqs: reqs}
	err := b.pool.Do(ctx, wait, idempotent, b.opts.Timeout, rq)
	var ee *encodeError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		err = fmt.Errorf("%s: %s: %v: %w", b.name, op, ee.err, backend.ErrInvalid)
	case !ok && ctx.Err() == nil && (errors.Is(err, connpool.ErrWaitTimeout) || errors.Is(err, os.ErrDeadlineExceeded)):
		err = fmt.Errorf("%s: %s: %v: %w", b.name, op, b.timeoutCause, backend.ErrTimeout)
	default:
		err = b.classify(ctx, op, err)
	}
	end(err)
	if err != nil {
		return nil, err
	}
	return rq.reps, nil
}

// request is one pipelined exchange of do (a connpool.Request).
type request struct {
	deadline time.Time
	reqs     []*ttwire.Request
	reps     []*ttwire.Reply
}

func (r *request) Exchange(ctx context.Context, c *conn) (bool, error) {
	c.Buf = c.Buf[:0]
	for _, q := range r.reqs {
		var err error
		if c.Buf, err = ttwire.AppendRequest(c.Buf, q); err != nil {
			return false, &connpool.AppError{Err: &encodeError{err}}
		}
	}
	return c.Exchange(ctx, r.deadline, c.Buf, r.read)
}

func (r *request) read(c *conn) error {
	var err error
	r.reps, err = readReplies(c.BR, r.reqs)
	return err
}

func (r *request) HasReply() bool { return hasReply(r.reqs) }

func (r *request) Drain(c *conn) error {
	_, err := readReplies(c.BR, r.reqs)
	return err
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

// hasReply reports whether any of reqs is answered.
func hasReply(reqs []*ttwire.Request) bool {
	for _, r := range reqs {
		if ttwire.HasReply(r.Cmd) {
			return true
		}
	}
	return false
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

// classify turns a failure into the sentinel the API expects.
func (b *Backend) classify(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, connpool.ErrClosed):
		return fmt.Errorf("%s: %s: %w: %w", b.name, op, err, backend.ErrUnavailable)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: %s: no answer before the deadline (%v): %w", b.name, op, context.Cause(ctx), backend.ErrTimeout)
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

// unavailable wraps a connection-level failure.
func (b *Backend) unavailable(op string, err error) error {
	return fmt.Errorf("%s: %s: %v: %w", b.name, op, err, backend.ErrUnavailable)
}

// chunks splits n items into [start, end) ranges of at most size.
func chunks(n, size int) [][2]int {
	var out [][2]int
	for i := 0; i < n; i += size {
		out = append(out, [2]int{i, min(n, i+size)})
	}
	return out
}
