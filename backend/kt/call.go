package kt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// conn is a pooled connection.
type conn = connpool.Conn

// retry says whether a call may be sent again after its connection failed.
type retry bool

const (
	// idempotent calls read only; one that failed on a reused connection
	// before any reply byte arrived is sent once more on a new connection,
	// because the server may simply have closed the idle one.
	idempotent retry = true
	// once calls change state (or run scripts) and are never repeated: the
	// first attempt may have taken effect.
	once retry = false
)

// RPC statuses that carry meaning for callers.
const (
	statusOK    = 200
	statusLogic = 450 // the operation ran but its condition was not met
)

// params is an ordered TSV-RPC input map.
type params []ktwire.Pair

func (p *params) add(name string, value []byte) {
	*p = append(*p, ktwire.Pair{Key: []byte(name), Value: value})
}

func (p *params) str(name, value string) { p.add(name, []byte(value)) }

func (p *params) int(name string, v int64) { p.add(name, strconv.AppendInt(nil, v, 10)) }

// flag adds a parameter whose presence alone means true.
func (p *params) flag(name string) { p.add(name, nil) }

// db adds the database selector; index 0 is the server's default and is
// left out.
func (p *params) db(idx uint16) {
	if idx != 0 {
		p.int("DB", int64(idx))
	}
}

// reply is a decoded TSV-RPC response with status 200 or 450.
type reply struct {
	status int
	fields []ktwire.Pair
}

// get returns the last value of name.
func (r *reply) get(name string) ([]byte, bool) {
	for i := len(r.fields) - 1; i >= 0; i-- {
		if string(r.fields[i].Key) == name {
			return r.fields[i].Value, true
		}
	}
	return nil, false
}

func (r *reply) logic() bool { return r.status == statusLogic }

// message returns the ERROR field of a failed call.
func message(fields []ktwire.Pair) string {
	for _, f := range fields {
		if string(f.Key) == "ERROR" {
			return string(f.Value)
		}
	}
	return ""
}

// rpc calls a TSV-RPC procedure on a pooled connection. Statuses 200 and
// 450 return a reply; every other status returns an error wrapping the
// matching sentinel (see statusError).
func (b *Backend) rpc(ctx context.Context, proc string, p params, r retry) (*reply, error) {
	req := ktwire.AppendRPCRequest(nil, proc, p)
	var rep *reply
	err := b.roundTrip(ctx, proc, r, req, func(c *conn) error {
		var err error
		rep, err = readRPC(c, proc)
		return err
	})
	var re *rpcError
	if errors.As(err, &re) && re.status == 400 && re.msg == "no such database" {
		// The server lost a database the cache knew (a restart with other
		// databases): forget the list so that the next call reloads it.
		b.dbs.forget()
		return nil, fmt.Errorf("kt %s on %s: %w: the server has no such database (any more)", proc, b.addr, backend.ErrInvalid)
	}
	return rep, err
}

// readRPC reads one TSV-RPC response from c.
func readRPC(c *conn, proc string) (*reply, error) {
	resp, err := ktwire.ReadResponse(c.BR, false)
	if err != nil {
		return nil, err
	}
	if resp.Close {
		c.Broken = true
	}
	fields := ktwire.DecodeBody(resp)
	switch resp.Status {
	case statusOK, statusLogic:
		return &reply{status: resp.Status, fields: fields}, nil
	}
	msg := message(fields)
	if msg == "" {
		msg = string(resp.Body)
	}
	return nil, &connpool.AppError{Err: statusError(proc, resp.Status, msg)}
}

// rpcError is an RPC call that the server answered with a failure status.
type rpcError struct {
	proc     string
	status   int
	msg      string // the server's ERROR field
	sentinel error
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("kt %s: %v: server said %q (HTTP %d)", e.proc, e.sentinel, e.msg, e.status)
}

func (e *rpcError) Unwrap() error { return e.sentinel }

// statusError maps an RPC failure status to a sentinel error, reading the
// statuses as KT's own client does: 400-449 (bad parameters, and the HTTP
// layer's 413 for a body above 256 MiB) -> ErrInvalid, 501 ->
// ErrUnsupported, 503 (a WAIT that timed out, or a server shutting down) ->
// ErrTimeout, anything else -> ErrFailed. The server's message is kept.
func statusError(proc string, status int, msg string) error {
	e := &rpcError{proc: proc, status: status, msg: msg, sentinel: backend.ErrFailed}
	switch {
	case status >= 400 && status < 450:
		e.sentinel = backend.ErrInvalid
	case status == 501:
		e.sentinel = backend.ErrUnsupported
	case status == 503:
		e.sentinel = backend.ErrTimeout
	}
	return e
}

// rpcOK is rpc for procedures where 450 is not an expected outcome.
func (b *Backend) rpcOK(ctx context.Context, proc string, p params, r retry) (*reply, error) {
	rep, err := b.rpc(ctx, proc, p, r)
	if err != nil {
		return nil, err
	}
	if rep.logic() {
		return nil, fmt.Errorf("kt %s: %w: server said %q (HTTP 450)", proc, backend.ErrFailed, message(rep.fields))
	}
	return rep, nil
}

// roundTrip sends req on a pooled connection and runs read on the reply
// (read is nil for requests without one). Connections in an unknown state
// are discarded; one whose caller gave up before the reply began is kept by
// reading the reply in the background. An idempotent call that failed on a
// stale reused connection is sent once more on a new one.
//
// A call whose context has no deadline is bounded by the URL's timeout
// from its start, the wait for a connection included (see callContext),
// without a context of its own: the bound goes to the pool and the socket.
func (b *Backend) roundTrip(ctx context.Context, op string, r retry, req []byte, read func(*conn) error) error {
	ctx, end := backend.StartRoundTrip(ctx, "kt", op)
	// wait bounds the wait for a connection when ctx does not.
	deadline, ok := ctx.Deadline()
	var wait time.Time
	if !ok {
		deadline = time.Now().Add(b.opts.Timeout)
		wait = deadline
	}
	rq := &request{b: b, op: op, req: req, read: read, deadline: deadline, wait: wait}
	var err error
	if ref := resolvedFrom(ctx); ref != nil {
		err = b.pool.Do(ctx, wait, bool(r), b.opts.Timeout, &refRequest{request: rq, ref: ref})
	} else {
		err = b.pool.Do(ctx, wait, bool(r), b.opts.Timeout, rq)
	}
	var ae *connpool.AppError
	switch {
	case err == nil:
	case errors.As(err, &ae):
		err = ae.Err
	case !ok && ctx.Err() == nil && (errors.Is(err, connpool.ErrWaitTimeout) || errors.Is(err, os.ErrDeadlineExceeded)):
		err = fmt.Errorf("kt %s on %s: %w: %w", op, b.addr, backend.ErrTimeout, b.timeoutCause)
	default:
		err = b.connError(ctx, op, err)
	}
	end(err)
	return err
}

// request is one exchange of roundTrip (a connpool.Request).
type request struct {
	b        *Backend
	op       string
	req      []byte
	read     func(*conn) error
	deadline time.Time // of the exchange
	wait     time.Time // of the wait for a connection (zero: ctx's end)
}

func (r *request) Exchange(ctx context.Context, c *conn) (bool, error) {
	return c.Exchange(ctx, r.deadline, r.req, r.read)
}

func (r *request) HasReply() bool { return r.read != nil }

func (r *request) Drain(c *conn) error { return discardReply(c, r.req[0]) }

// refRequest is a request that names a database by an index resolved from
// ref: its connection is taken by acquire, which checks that the index
// still names the same database.
type refRequest struct {
	*request
	ref *dbRef
}

func (r *refRequest) Acquire(ctx context.Context, fresh bool) (*conn, error) {
	return r.b.acquire(ctx, r.b.pool, r.op, r.ref, fresh, r.wait)
}

// acquire takes a connection from p (a new one when fresh) for a request
// whose database index came from ref (nil when it names none). When the
// pool lost connections since ref was resolved, recheckDBs runs on the
// connection first; a stale connection found that way is replaced, since
// nothing of the call has been sent yet.
func (b *Backend) acquire(ctx context.Context, p *connpool.Pool, op string, ref *dbRef, fresh bool, deadline time.Time) (*conn, error) {
	for {
		c, err := p.GetUntil(ctx, fresh, deadline)
		if err != nil {
			return nil, b.connError(ctx, op, err)
		}
		if ref == nil || b.lost.Load() == ref.epoch {
			return c, nil
		}
		wrote, err := b.recheckDBs(ctx, c, ref, deadline)
		if err == nil {
			return c, nil
		}
		p.Put(c)
		var ae *connpool.AppError
		if errors.As(err, &ae) {
			return nil, ae.Err
		}
		if !c.Reused || fresh || ctx.Err() != nil || !connpool.Stale(wrote, err) {
			return nil, b.connError(ctx, op, err)
		}
		fresh = true
	}
}

// recheckDBs runs before a request that names a database by an index from
// ref, when the pool has lost connections since ref was resolved: the
// server may have restarted with other databases, and the index may now
// name another one. It compares ref's list with the server's: the cached
// one if it was read after the last lost connection, otherwise one read on
// c, the connection about to carry the request, and then cached. If the
// lists differ the request must not be sent: the error (an *connpool.AppError, c
// stays in step) is ErrUnavailable, and a retry of the call resolves the
// database again.
func (b *Backend) recheckDBs(ctx context.Context, c *conn, ref *dbRef, deadline time.Time) (wrote bool, err error) {
	if deadline.IsZero() {
		deadline = connpool.Deadline(ctx, b.opts.Timeout)
	}
	epoch := b.lost.Load()
	b.dbs.mu.Lock()
	list, listEpoch := b.dbs.list, b.dbs.epoch
	b.dbs.mu.Unlock()
	if list == nil || listEpoch != epoch {
		var rep *reply
		wrote, err = c.Exchange(ctx, deadline, ktwire.AppendRPCRequest(nil, "report", nil), func(c *conn) error {
			var err error
			rep, err = readRPC(c, "report")
			return err
		})
		if err != nil {
			return wrote, err
		}
		if rep.logic() {
			return true, &connpool.AppError{Err: fmt.Errorf("kt report: %w: server said %q (HTTP 450)", backend.ErrFailed, message(rep.fields))}
		}
		list = parseDBList(fieldMap(rep))
		b.dbs.store(list, epoch)
	}
	if !slices.Equal(list, ref.list) {
		return wrote, &connpool.AppError{Err: fmt.Errorf("kt on %s: %w: the server's databases changed (now %s; was it restarted?), so the request was not sent; a retry resolves the database again",
			b.addr, backend.ErrUnavailable, describeDBs(list))}
	}
	ref.epoch = epoch
	return wrote, nil
}

// callContext bounds a call whose context has no deadline by the URL's
// timeout. The bound covers the whole call: the wait for a pooled
// connection (cursors may hold every one of them for as long as their
// streams last), the dial and the exchange.
func (b *Backend) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, b.opts.Timeout, b.timeoutCause)
}

// connError classifies a failure to reach the server or to finish an
// exchange: the context's end, a timeout, or the server being unavailable.
func (b *Backend) connError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("kt %s on %s: %w: %w", op, b.addr, backend.ErrTimeout, context.Cause(ctx))
		}
		return fmt.Errorf("kt %s on %s: %w", op, b.addr, ctxErr)
	}
	if errors.Is(err, connpool.ErrWaitTimeout) {
		return fmt.Errorf("kt %s on %s: %w: %w", op, b.addr, backend.ErrTimeout, b.timeoutCause)
	}
	if errors.Is(err, connpool.ErrClosed) {
		return fmt.Errorf("kt %s on %s: %w: %w", op, b.addr, backend.ErrUnavailable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// The connection's deadline is the context's: it may fire a moment
		// before the context reports its end.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return fmt.Errorf("kt %s on %s: %w: %w", op, b.addr, backend.ErrTimeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("kt %s on %s: %w: no answer within %v", op, b.addr, backend.ErrTimeout, b.opts.Timeout)
	}
	if errors.Is(err, ktwire.ErrProtocol) || errors.Is(err, ktwire.ErrBodyTooLarge) {
		return fmt.Errorf("kt %s on %s: %w: %w", op, b.addr, backend.ErrFailed, err)
	}
	return fmt.Errorf("kt %s on %s: %w: %v", op, b.addr, backend.ErrUnavailable, err)
}

// discardReply reads one reply to a request starting with first: a binary
// reply for a binary request, an HTTP response otherwise.
func discardReply(c *conn, first byte) error {
	var err error
	switch first {
	case ktwire.MagicGetBulk:
		_, err = ktwire.ReadGetBulkReply(c.BR)
	case ktwire.MagicSetBulk, ktwire.MagicRemoveBulk:
		_, err = ktwire.ReadCountReply(c.BR, first)
	case ktwire.MagicPlayScript:
		_, err = ktwire.ReadPlayScriptReply(c.BR)
	default:
		if first >= 0x80 {
			return fmt.Errorf("no reply reader for magic %#x", first)
		}
		var resp *ktwire.Response
		resp, err = ktwire.ReadResponse(c.BR, false)
		if err == nil && resp.Close {
			c.Broken = true
		}
	}
	return err
}
