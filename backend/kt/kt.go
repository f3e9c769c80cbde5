// Package kt is the backend adapter for Kyoto Tycoon (ktserver 0.9.x).
//
// It speaks both protocols that share the server's port, each where it is
// the better fit:
//
//   - the binary protocol for Get, Set, Remove (one-record bulk requests) and
//     GetBulk, SetBulk, RemoveBulk: compact, and it reports every record's
//     absolute expiration;
//   - HTTP TSV-RPC over keep-alive connections for everything else (add,
//     replace, append, cas, increment, check, seize, matching, cursors,
//     scripts, status and maintenance), because only RPC reports logical
//     outcomes (status 450) and error messages;
//   - the binary play_script only for procedure names RPC refuses (see
//     CallScript);
//   - the binary replication stream (0xB1) for Subscribe.
//
// The HTTP/1.1 client is written by hand over the pooled net.Conn rather
// than with net/http: a KT cursor lives on one TCP connection, and the binary
// protocol runs on the same connections, so the adapter must choose the exact
// connection of every request, which net/http's Transport does not allow.
// TSV-RPC needs only a small subset of HTTP (POST with Content-Length, a
// response with Content-Length), which package ktwire implements.
//
// Open never dials: a Backend whose server is down answers
// backend.ErrUnavailable on every call, and Ping reports health, so that the
// gateway can start before the server and recover when it comes back.
package kt

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// DefaultPort is Kyoto Tycoon's default port, used when the URL has none.
const DefaultPort = 1978

// Defaults of the URL options.
const (
	DefaultPoolSize       = 16
	DefaultTimeout        = 30 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultServerID       = 65535
	DefaultBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultReconnects     = 10
	DefaultCursors        = 64
)

// options are the settings parsed from the URL.
type options struct {
	poolSize       int
	timeout        time.Duration
	connectTimeout time.Duration
	serverID       uint16
	backoff        time.Duration
	maxBackoff     time.Duration
	reconnects     int
	cursors        int
}

// Backend is a Kyoto Tycoon adapter. It implements backend.Backend and the
// features it lists in Capabilities, and is safe for concurrent use.
type Backend struct {
	backend.Base
	addr string
	opts options
	pool *pool
	// cursorPool holds the connections of open cursors (and of scans of
	// unordered databases, which keep one cursor throughout), apart from
	// pool, so that streams held open by their clients never make unary
	// calls wait. cursorSlots, of the same size, is taken without waiting:
	// a cursor over the limit fails at once with ErrExhausted.
	cursorPool  *pool
	cursorSlots chan struct{}
	// scanSlots bounds the call pool's connections that scans read batches
	// on to half the pool, so that many scans at once leave room for
	// calls.
	scanSlots chan struct{}
	lost      atomic.Int64 // shared by both pools; see pool.lost
	dbs       dbCache

	cursorIDs atomic.Int64
	// drains counts the goroutines reading late replies (see drainLate).
	drains sync.WaitGroup

	// life ends when the Backend is closed; it ends subscriptions.
	life     context.Context
	shutdown context.CancelFunc
	closeMu  sync.Once
}

var _ backend.Backend = (*Backend)(nil)

// Open returns an adapter for the server named by u:
//
//	kt://host[:port][?option=value&...]
//
// It fails only for a malformed URL; it does not contact the server. The
// options are:
//
//	pool=N               most connections open at once for calls (16); scans
//	                     of tree databases read batches on at most half
//	cursors=N            most cursors open at once, each on a connection of
//	                     its own outside the call pool (64); one more fails
//	                     with ErrExhausted
//	timeout=D            limit of a call whose context has no deadline (the
//	                     wait for a pooled connection included), and of the
//	                     silence tolerated on a replication stream (30s)
//	connect_timeout=D    limit of one TCP connect (5s)
//	sid=N                server id presented when subscribing, 1-65535 (65535);
//	                     the server withholds changes that originated there
//	backoff=D            first delay before re-opening a broken replication
//	                     stream, doubled per failure (100ms)
//	max_backoff=D        cap of that delay (10s)
//	reconnects=N         failed re-openings in a row before Subscribe gives
//	                     up with ErrUnavailable (10)
//
// Durations use Go syntax ("250ms", "1m"); a bare number means seconds.
func Open(_ context.Context, u *url.URL) (*Backend, error) {
	addr, opts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	life, shutdown := context.WithCancel(context.Background())
	b := &Backend{
		addr:     addr,
		opts:     opts,
		life:     life,
		shutdown: shutdown,
	}
	b.pool = newPool(addr, opts.poolSize, opts.connectTimeout, &b.lost)
	b.cursorPool = newPool(addr, opts.cursors, opts.connectTimeout, &b.lost)
	b.cursorSlots = make(chan struct{}, opts.cursors)
	b.scanSlots = make(chan struct{}, max(1, opts.poolSize/2))
	return b, nil
}

func parseURL(u *url.URL) (string, options, error) {
	opts := options{
		poolSize:       DefaultPoolSize,
		timeout:        DefaultTimeout,
		connectTimeout: DefaultConnectTimeout,
		serverID:       DefaultServerID,
		backoff:        DefaultBackoff,
		maxBackoff:     DefaultMaxBackoff,
		reconnects:     DefaultReconnects,
		cursors:        DefaultCursors,
	}
	bad := func(format string, args ...any) (string, options, error) {
		return "", options{}, fmt.Errorf("kt URL %q: %s: %w", u.Redacted(), fmt.Sprintf(format, args...), backend.ErrInvalid)
	}
	if u.Scheme != "kt" {
		return bad("scheme must be kt")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("want kt://host:port")
	}
	if u.User != nil {
		return bad("user information is not supported")
	}
	if u.Path != "" && u.Path != "/" {
		return bad("unexpected path %q; select databases per request", u.Path)
	}
	if u.Fragment != "" {
		return bad("unexpected fragment")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return bad("missing host")
	}
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("bad port %q", port)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return bad("option %s given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "pool":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return bad("pool=%q: want a connection count from 1 to 10000", v)
			}
			opts.poolSize = n
		case "cursors":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return bad("cursors=%q: want a cursor count from 1 to 10000", v)
			}
			opts.cursors = n
		case "timeout", "connect_timeout", "backoff", "max_backoff":
			d, err := parseDuration(v)
			if err != nil || d <= 0 {
				return bad("%s=%q: want a positive duration such as 500ms or 30s", name, v)
			}
			switch name {
			case "timeout":
				opts.timeout = d
			case "connect_timeout":
				opts.connectTimeout = d
			case "backoff":
				opts.backoff = d
			default:
				opts.maxBackoff = d
			}
		case "sid":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return bad("sid=%q: want a server id from 1 to 65535", v)
			}
			opts.serverID = uint16(n)
		case "reconnects":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad("reconnects=%q: want a count, 0 or more", v)
			}
			opts.reconnects = n
		default:
			return bad("unknown option %q (known: pool, cursors, timeout, connect_timeout, sid, backoff, max_backoff, reconnects)", name)
		}
	}
	if opts.maxBackoff < opts.backoff {
		opts.maxBackoff = opts.backoff
	}
	return net.JoinHostPort(host, port), opts, nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// Name identifies the server, for example "kt://127.0.0.1:1978".
func (b *Backend) Name() string { return "kt://" + b.addr }

// Close closes every pooled connection and ends subscriptions. Cursors still
// open lose their connection. Calls after Close answer ErrUnavailable.
func (b *Backend) Close() error {
	b.closeMu.Do(func() {
		b.shutdown()
		b.drains.Wait() // b.life's end cuts them short
		b.pool.close()
		b.cursorPool.close()
	})
	return nil
}

// Ping checks that the server answers an RPC call.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.rpc(ctx, "void", nil, idempotent)
	return err
}

// PoolStats counts the connections of one of a Backend's pools. Replication
// streams use connections of their own and are not counted.
type PoolStats struct {
	// Open is the number of connections open now, idle or in use.
	Open int
	// Idle is the number of open connections waiting in the pool.
	Idle int
	// InUse is the number of connections a call or a cursor holds.
	InUse int
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

// Stats reports the call pool's connection counts; tests use it to show that
// no connection leaks, and Dials shows connection churn.
func (b *Backend) Stats() PoolStats { return b.pool.stats() }

// CursorStats reports the cursor pool's connection counts: InUse is the
// number of cursors open.
func (b *Backend) CursorStats() PoolStats { return b.cursorPool.stats() }
