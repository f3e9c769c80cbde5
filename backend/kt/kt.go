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
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
)

// DefaultPort is Kyoto Tycoon's default port, used when the URL has none.
const DefaultPort = 1978

// cursorReadBuffer is the read buffer of a cursor's connection: a cursor
// call's reply is one record, and a larger one is read in pieces.
const cursorReadBuffer = 4 << 10

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
	DefaultCoalesce       = true
	DefaultCoalesceWait   = 100 * time.Microsecond
	DefaultCoalesceMax    = 64
)

// options are the settings parsed from the URL: the shared vocabulary
// (see package connpool) and kt's own.
type options struct {
	connpool.Options
	cursors int
}

// Backend is a Kyoto Tycoon adapter. It implements backend.Backend and the
// features it lists in Capabilities, and is safe for concurrent use.
type Backend struct {
	backend.Base
	addr string
	opts options
	pool *connpool.Pool
	// cursorPool holds the connections of open cursors (and of scans of
	// unordered databases, which keep a cursor while their caller keeps
	// up), apart from
	// pool, so that streams held open by their clients never make unary
	// calls wait. cursorSlots, of the same size, is taken without waiting:
	// a cursor over the limit fails at once with ErrExhausted.
	cursorPool  *connpool.Pool
	cursorSlots chan struct{}
	// scanSlots bounds the call pool's connections that scans read batches
	// on to half the pool, so that many scans at once leave room for
	// calls.
	scanSlots chan struct{}
	lost      atomic.Int64 // shared by both pools; see connpool.Config.Lost
	dbs       dbCache

	cursorIDs atomic.Int64

	// parkDelay is scanParkDelay; tests change it. scanParked, when set
	// (by tests), runs when an unordered scan has released its cursor
	// while its caller is busy, with the keys it will re-enter by.
	parkDelay  time.Duration
	scanParked func(last, next []byte)

	// timeoutCause is the cause of a call that ran out of the URL's timeout.
	timeoutCause error

	// gets and sets merge concurrent calls (coalesce=on), or are nil.
	gets *connpool.Batcher[getCall, getAnswer]
	sets *connpool.Batcher[setCall, struct{}]

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
// options shared with tt (pool, timeout, connect_timeout, sid, repl_*,
// coalesce*) are described in the README's backend URL section; kt's
// defaults are pool=16, sid=65535 (ids go up to 65535), repl_timeout equal
// to timeout, repl_max_backoff=10s. kt's own option:
//
//	cursors=N            most cursors open at once, each on a connection of
//	                     its own outside the call pool (64); one more fails
//	                     with ErrExhausted
//
// The deprecated names backoff, max_backoff and reconnects are accepted
// for repl_backoff, repl_max_backoff and repl_reconnects.
func Open(_ context.Context, u *url.URL) (*Backend, error) {
	addr, opts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	life, shutdown := context.WithCancel(context.Background())
	b := &Backend{
		addr:      addr,
		opts:      opts,
		life:      life,
		shutdown:  shutdown,
		parkDelay: scanParkDelay,
	}
	b.pool = connpool.New(connpool.Config{Addr: addr, Size: opts.Pool, ConnectTimeout: opts.ConnectTimeout, Lost: &b.lost})
	// Cursors are many and mostly idle, waiting for their clients: a small
	// read buffer each keeps a thousand of them from costing 64 MiB.
	b.cursorPool = connpool.New(connpool.Config{Addr: addr, Size: opts.cursors, ConnectTimeout: opts.ConnectTimeout, Lost: &b.lost, ReadBufferSize: cursorReadBuffer})
	b.cursorSlots = make(chan struct{}, opts.cursors)
	b.scanSlots = make(chan struct{}, max(1, opts.Pool/2))
	b.timeoutCause = fmt.Errorf("no answer within the URL's timeout=%v: %w", opts.Timeout, context.DeadlineExceeded)
	b.startCoalescing()
	return b, nil
}

func parseURL(u *url.URL) (string, options, error) {
	opts := options{
		Options: connpool.Options{
			Pool:           DefaultPoolSize,
			Timeout:        DefaultTimeout,
			ConnectTimeout: DefaultConnectTimeout,
			SID:            DefaultServerID,
			ReplBackoff:    DefaultBackoff,
			ReplMaxBackoff: DefaultMaxBackoff,
			ReplReconnects: DefaultReconnects,
			Coalesce:       DefaultCoalesce,
			CoalesceWait:   DefaultCoalesceWait,
			CoalesceMax:    DefaultCoalesceMax,
		},
		cursors: DefaultCursors,
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
	err := connpool.ParseQuery(u, connpool.Limits{MaxSID: 65535}, &opts.Options, []string{"cursors"}, func(name, v string) (bool, error) {
		if name != "cursors" {
			return false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return true, fmt.Errorf("cursors=%q: want a cursor count from 1 to 10000", v)
		}
		opts.cursors = n
		return true, nil
	})
	if err != nil {
		return bad("%v", err)
	}
	if opts.ReplTimeout == 0 {
		opts.ReplTimeout = opts.Timeout
	}
	return net.JoinHostPort(host, port), opts, nil
}

// Name identifies the server, for example "kt://127.0.0.1:1978".
func (b *Backend) Name() string { return "kt://" + b.addr }

// Close closes every pooled connection and ends subscriptions. Cursors still
// open lose their connection. Calls after Close answer ErrUnavailable.
func (b *Backend) Close() error {
	b.closeMu.Do(func() {
		b.shutdown()
		b.pool.Close()
		b.cursorPool.Close()
	})
	return nil
}

// Ping checks that the server answers an RPC call.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.rpc(ctx, "void", nil, idempotent)
	return err
}

// PoolStats counts the connections of one of a Backend's pools.
// Replication streams use connections of their own and are counted in
// Streams, not Open.
type PoolStats = connpool.Stats

// PoolStats reports the call pool's connection counts; tests use it to show
// that no connection leaks, and Dials shows connection churn.
func (b *Backend) PoolStats() PoolStats { return b.pool.Stats() }

// Stats is PoolStats.
//
// Deprecated: use PoolStats, the name both adapters use.
func (b *Backend) Stats() PoolStats { return b.PoolStats() }

// CursorStats reports the cursor pool's connection counts: InUse is the
// number of cursors open.
func (b *Backend) CursorStats() PoolStats { return b.cursorPool.Stats() }
