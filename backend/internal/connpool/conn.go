package connpool

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/internal/netcheck"
)

// Conn is one pooled connection. Between requests it holds no unread bytes;
// one that might (a failed or cancelled request) is closed instead of being
// returned.
type Conn struct {
	// NC is the connection; BR reads from it (and counts what arrives).
	NC net.Conn
	BR *bufio.Reader
	// Buf is a write buffer the adapter may reuse from request to request.
	Buf []byte
	// Reused is true when the connection served an earlier request: a
	// failure before any reply byte may then just mean the server closed it
	// while it was idle.
	Reused bool
	// Broken is set when the connection's state is unknown (an I/O error,
	// a timeout or cancellation mid-request, a protocol error) or the
	// server announced that it closes it; Put then closes it.
	Broken bool
	// PeerGone is set when the server closed or reset the connection.
	PeerGone bool
	// got counts the bytes read from NC, so that a failed exchange can tell
	// whether any of the reply arrived.
	got int64
	// deadline is the deadline last set on NC (zero: none), so that an
	// exchange under the same deadline as the one before sets none.
	deadline time.Time
	// armMu and armGen keep a cancellation from an earlier exchange off
	// the connection (see Arm).
	armMu  sync.Mutex
	armGen uint64
	probe  netcheck.Prober
}

// NewConn wraps nc, for tests of protocol readers that need no pool.
func NewConn(nc net.Conn, r io.Reader) *Conn {
	c := &Conn{NC: nc}
	if r == nil {
		r = counter{c}
	}
	c.BR = bufio.NewReaderSize(r, readBufferSize)
	return c
}

// Got counts the bytes read from the connection so far.
func (c *Conn) Got() int64 { return c.got }

// counter is the reader under a connection's bufio.Reader: it counts what
// arrives.
type counter struct{ c *Conn }

func (r counter) Read(b []byte) (int, error) {
	n, err := r.c.NC.Read(b)
	r.c.got += int64(n)
	return n, err
}

// pastDeadline interrupts blocked I/O at once.
var pastDeadline = time.Unix(1, 0)

func (c *Conn) setDeadline(t time.Time) error {
	if t.Equal(c.deadline) {
		return nil
	}
	c.deadline = t
	return c.NC.SetDeadline(t)
}

// clearPastDeadline removes a deadline that has passed, which would make
// any read, the idle check's included, fail at once. One still ahead is
// left: the next exchange sets its own, and not touching it spares a
// deadline update per call.
func (c *Conn) clearPastDeadline() {
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		c.deadline = time.Time{}
		_ = c.NC.SetDeadline(time.Time{})
	}
}

// Deadline is the deadline of an exchange under ctx: ctx's own, or timeout
// from now when ctx has none (zero when timeout is not positive either).
func Deadline(ctx context.Context, timeout time.Duration) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	if timeout > 0 {
		return time.Now().Add(timeout)
	}
	return time.Time{}
}

// Arm sets the connection's deadline and interrupts its I/O when ctx ends.
// The returned function disarms and reports whether the cancellation fired,
// in which case the exchange may have stopped half way. Once it returns, a
// cancellation still running can no longer touch the connection, which may
// then be read again (see Pool.Recover) or go back to the pool.
func (c *Conn) Arm(ctx context.Context, deadline time.Time) (disarm func() bool, err error) {
	if err := c.setDeadline(deadline); err != nil {
		return nil, err
	}
	if ctx.Done() == nil {
		// Nothing can cancel the exchange but its deadline.
		return neverFired, nil
	}
	c.armMu.Lock()
	c.armGen++
	gen := c.armGen
	c.armMu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.armMu.Lock()
		defer c.armMu.Unlock()
		if c.armGen == gen {
			_ = c.NC.SetDeadline(pastDeadline)
		}
	})
	return func() bool {
		fired := !stop()
		c.armMu.Lock()
		c.armGen++
		c.armMu.Unlock()
		if fired {
			// The interrupt may have moved the deadline into the past.
			c.deadline = pastDeadline
		}
		return fired
	}, nil
}

func neverFired() bool { return false }

// AppError marks an error that is the call's answer rather than a failure
// of the connection: the server answered in protocol (the exchange
// completed and the connection stays in step unless Broken says otherwise),
// or the adapter already phrased the error for its caller.
type AppError struct{ Err error }

func (e *AppError) Error() string { return e.Err.Error() }
func (e *AppError) Unwrap() error { return e.Err }

// Exchange writes req and runs read on the reply (read may be nil for
// requests without a reply) under deadline, interrupted when ctx ends.
// wrote reports whether the request left completely. I/O and protocol
// errors mark c Broken; errors read returns wrapped in *AppError do not.
func (c *Conn) Exchange(ctx context.Context, deadline time.Time, req []byte, read func(*Conn) error) (wrote bool, err error) {
	// A call whose context ended while it waited for the connection sends
	// nothing, and leaves the connection as it found it.
	if err := ctx.Err(); err != nil {
		return false, err
	}
	disarm, err := c.Arm(ctx, deadline)
	if err != nil {
		c.Broken = true
		return false, err
	}
	unsent := false
	defer func() {
		if disarm() && !unsent {
			c.Broken = true
		}
	}()
	if n, err := c.NC.Write(req); err != nil {
		// A deadline that passed before a byte left sends nothing: the
		// connection stays in step.
		unsent = n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
		c.Broken, c.PeerGone = !unsent, PeerClosed(err)
		return false, err
	}
	if read == nil {
		return true, nil
	}
	err = read(c)
	var ae *AppError
	if err != nil && !errors.As(err, &ae) {
		c.Broken, c.PeerGone = true, PeerClosed(err)
	}
	return true, err
}

// PeerClosed reports whether an I/O error means the server closed or reset
// the connection (rather than a timeout or a protocol error).
func PeerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Stale reports whether a failure looks like a connection the server had
// already closed while it sat idle: the request could not be written, or
// the connection ended before the reply. A write cut short by the call's
// deadline is not one: the socket's deadline can fire a moment before the
// context's, so the caller may not look finished yet, and sending again on
// a new connection would only throw a good one away.
func Stale(wrote bool, err error) bool {
	return !wrote && !errors.Is(err, os.ErrDeadlineExceeded) || PeerClosed(err)
}

// Early reports whether an exchange that failed with err (wrote as
// Exchange returned it) failed only because its caller gave up (its context
// ended or its deadline passed) before any of the reply arrived: got is
// Got() from before the exchange. The connection is then in step, only
// early, and its late reply can be read (see Pool.Recover).
func (c *Conn) Early(ctx context.Context, got int64, wrote bool, err error) bool {
	return err != nil && wrote && c.got == got && !c.PeerGone &&
		(ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded))
}

// Request is one request for Pool.Do.
type Request interface {
	// Exchange sends the request on c and reads the reply.
	Exchange(ctx context.Context, c *Conn) (wrote bool, err error)
	// Drain reads and drops the reply of a request whose caller gave up
	// before the reply began. It is called only when HasReply.
	Drain(c *Conn) error
	// HasReply reports whether the request is answered.
	HasReply() bool
}

// Acquirer is a Request that takes its connection itself (fresh asks for a
// new one); an error it returns is final.
type Acquirer interface {
	Acquire(ctx context.Context, fresh bool) (*Conn, error)
}

// Do runs r on a pooled connection; a wait for one ends at deadline (zero:
// only at ctx's end) with ErrWaitTimeout. A connection in an unknown state is
// discarded; one whose caller gave up before any of the reply arrived is
// kept by reading the late reply in the background (see Recover), which
// has drainTimeout to come. An idempotent request (it reads only) that
// failed on a stale reused connection is sent once more on a new one;
// other requests change state and are never repeated, since the first
// attempt may have taken effect. The error is an *AppError when it is the
// call's answer (the server's, or Acquire's), otherwise the raw failure
// for the adapter to classify.
func (p *Pool) Do(ctx context.Context, deadline time.Time, idempotent bool, drainTimeout time.Duration, r Request) error {
	acq, _ := r.(Acquirer)
	fresh := false
	for {
		var c *Conn
		var err error
		if acq != nil {
			c, err = acq.Acquire(ctx, fresh)
			if err != nil {
				return &AppError{Err: err}
			}
		} else if c, err = p.GetUntil(ctx, fresh, deadline); err != nil {
			return err
		}
		got, reused := c.got, c.Reused
		wrote, err := r.Exchange(ctx, c)
		if r.HasReply() && c.Early(ctx, got, wrote, err) {
			// The caller gave up before any of the reply arrived: the
			// connection is in step, only early.
			p.Recover(c, drainTimeout, r.Drain)
		} else {
			p.Put(c)
		}
		if err == nil {
			return nil
		}
		var ae *AppError
		if errors.As(err, &ae) {
			return err
		}
		if idempotent && reused && !fresh && ctx.Err() == nil && Stale(wrote, err) {
			fresh = true
			continue
		}
		return err
	}
}
