// Package tt is the backend adapter for Tokyo Tyrant (ttserver 1.1.x). It
// speaks the binary protocol (package ttwire) over a pool of TCP connections
// and implements backend.Backend, backend.Scripter (ext), backend.Tabler
// (table databases through misc) and backend.TTAdmin.
//
// # URL
//
//	tt://host[:port][?option=value&...]
//
// The port defaults to 1978. The options shared with kt (pool, timeout,
// connect_timeout, sid, repl_*, coalesce*) are described in the README's
// backend URL section; tt's defaults are pool=8, sid=2147483647 (which no
// real server uses, so nothing is withheld), repl_timeout=60s (the master
// sends a NOP every second), repl_max_backoff=5s. tt's own options:
//
//	kind             the database type: auto (default: read from stat's
//	                 "type" line on first use), hash, btree, table,
//	                 memory-hash, memory-tree, fixed
//	iterator         none (default) or shared: let cursors on hash and
//	                 table databases use the server's iterator, which every
//	                 client of the server shares (see OpenCursor)
//
// repl_backoff once named the longest pause between replication
// reconnects; that is repl_max_backoff now, and repl_backoff the first
// pause, as on kt. Given without repl_max_backoff, repl_backoff keeps its
// old meaning (deprecated).
//
// Open does not connect: a server that is down makes calls answer
// backend.ErrUnavailable until it is back, and Ping reports it.
//
// # What maps to what
//
// Tokyo Tyrant has one database per server, addressed as "" or "0", and no
// expiration: any other db is backend.ErrInvalid, any TTL or expire time
// backend.ErrUnsupported.
//
//	Get / GetBulk       get / mget (mget has no lock: atomic has no effect)
//	Set                 put, or putnr with NoReply
//	SetBulk             pipelined put (putnr with NoReply); the count is of
//	                    the puts that succeeded. Not atomic.
//	Add                 putkeep
//	Append              putcat, or putshl with keepLast (a missing record
//	                    is stored whole, as the server does)
//	Remove / RemoveBulk out / pipelined out
//	Check               vsiz (on a table database this is the size of the
//	                    server's internal row form, not of get's value)
//	Increment           addint: the record holds a 4-byte little-endian
//	                    int32; delta and result must fit an int32. A missing
//	                    record starts at 0; must_exist and a non-zero
//	                    initial value are unsupported, because the server
//	                    cannot do them atomically
//	IncrementDouble     adddouble (8-byte native double; the wire carries
//	                    the fraction in trillionths, so precision is 1e-12)
//	MatchKeys           fwmkeys (prefix only; regex and similarity are
//	                    unsupported, misc "regex" is reachable via Admin.Misc)
//	Scan                B+ tree: misc "range" pages, memory-bounded (every
//	                    duplicate value of a key comes as its own record);
//	                    other types and reverse scans: fwmkeys of the prefix,
//	                    sorted here, then mget pages
//	OpenCursor          B+ trees: misc "range"; other types (on-memory trees
//	                    included, whose range walks the shared iterator):
//	                    iterinit / iternext, only with iterator=shared,
//	                    since all clients share it
//	Subscribe           repl
//	Status / Report     rnum + size + stat / stat
//	Clear / Synchronize vanish / sync
//	Vacuum              misc "defrag" (a no-op on on-memory databases)
//	CallScript          ext
//	Table*              misc put/putkeep/putcat/get/search/setindex/genuid
//	Optimize, Copy, Restore, SetMaster, Misc: the commands of the same names
//
// SetBulk, RemoveBulk and GetBulk do not use misc putlist / outlist /
// getlist: putlist adds duplicates on a B+ tree instead of overwriting,
// outlist cannot say how many records existed, and pipelined commands are
// logged one record each, which replication consumers can follow. The list
// functions, putdup / putdupback and the rest of the misc catalogue are
// reachable through Admin.Misc.
//
// Seize, CompareAndSwap and Replace answer backend.ErrUnsupported: the
// server has no such primitives, and a Lua function run through ext with a
// record lock would only be atomic against other locked ext calls, since
// plain put and out never take those locks.
//
// # Ordering
//
// MatchKeys and Scan return keys in ascending byte order on every database
// type: B+ trees give that order themselves, hash and table databases are
// sorted here. Limits apply after sorting, but fwmkeys still reads every
// matching key, so scans of hash and table databases cost memory in
// proportion to the keys under the prefix.
//
// # Replication
//
// A position is ts*1000 + i: the record's update-log timestamp
// (microseconds since the epoch) and its 0-based index among the records
// logged in that same microsecond. Timestamps alone are not unique; with
// the index, resuming after any event's position delivers exactly the
// records after it, even within one microsecond. The index stops at 999:
// the 1000th and later records of one microsecond share ts*1000+999 and
// cannot be told apart. Subscribe resumes after P by asking the server
// for timestamp P/1000 (inclusive) and skipping the records of that
// microsecond up to index P%1000; reconnects inside one subscription do the
// same from the last record handled. Restore and SetMaster take positions
// too and hand the server their timestamp, P/1000. Failed commands and
// misc reads, which the server logs too, move the position without an
// event. A database filter may only name the server's database.
//
// # Connections
//
// Every request runs on a pooled connection under a deadline. A connection
// that fails mid-request, times out or returns bytes out of step is closed,
// never reused. Reads (get, mget, vsiz, fwmkeys, rnum, size, stat and misc
// reads) are retried once on a fresh connection when a pooled one turns out
// to be dead; writes are never retried, since their outcome is unknown, and
// neither is anything that moves the shared iterator. Replication streams
// hold a connection each, outside the pool; Close ends them.
package tt

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
)

// DefaultPort is ttserver's default port.
const DefaultPort = "1978"

// DefaultReplSID is the server id Subscribe presents when neither the caller
// nor the URL chose one. Real server ids are at most 65535, so it never
// equals the master's id and never withholds a record.
const DefaultReplSID = 1<<31 - 1

// DefaultReplReconnects is how many failed replication reconnects in a row
// Subscribe tolerates unless the URL says otherwise.
const DefaultReplReconnects = 10

// DefaultCoalesce is whether a tt:// URL merges concurrent calls unless it
// says otherwise (New takes Options.Coalesce as given).
const DefaultCoalesce = true

// Options are the adapter's settings; Open reads them from the URL.
type Options struct {
	PoolSize       int
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// Kind is the database type ("" detects it from stat).
	Kind        string
	ReplSID     uint32
	ReplTimeout time.Duration
	// ReplBackoff is the first pause before reopening a broken replication
	// stream, doubled per failure up to ReplMaxBackoff.
	ReplBackoff    time.Duration
	ReplMaxBackoff time.Duration
	// ReplReconnects is how many failed reconnects in a row Subscribe
	// tolerates before giving up; 0 takes the default
	// (DefaultReplReconnects) and a negative value allows none.
	ReplReconnects int
	// Coalesce merges concurrent single-key calls (see coalesce.go);
	// CoalesceWait and CoalesceMax bound a batch (0 takes the default).
	Coalesce     bool
	CoalesceWait time.Duration
	CoalesceMax  int
	// SharedIterator lets OpenCursor use the server's iterator on
	// databases without ordered lookup (see OpenCursor).
	SharedIterator bool
	// Dialer opens connections; nil uses net.Dialer. Tests inject one.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

func defaultOptions() Options {
	return Options{
		PoolSize:       8,
		Timeout:        30 * time.Second,
		ConnectTimeout: 5 * time.Second,
		ReplSID:        DefaultReplSID,
		ReplTimeout:    60 * time.Second,
		ReplBackoff:    100 * time.Millisecond,
		ReplMaxBackoff: 5 * time.Second,
		ReplReconnects: DefaultReplReconnects,
		Coalesce:       DefaultCoalesce,
		CoalesceWait:   100 * time.Microsecond,
		CoalesceMax:    64,
	}
}

// Backend is a Tokyo Tyrant adapter. It implements backend.Backend and the
// features it lists in Capabilities, and is safe for concurrent use.
type Backend struct {
	backend.Base
	addr string
	name string
	opts Options
	pool *connpool.Pool
	// kind caches the database type: 0 until known.
	kind atomic.Int32
	// calls merges concurrent Gets, Sets and Removes (coalesce=on), or
	// is nil.
	calls *connpool.Batcher[call, answer]
	// iterBusy is true while a cursor uses the server's shared iterator.
	iterBusy atomic.Bool
	// timeoutCause is the cause of a call that ran out of the timeout.
	timeoutCause error
	// replSessionHook, when set (by tests), runs once a replication
	// session has received the master's opening frame.
	replSessionHook func()
}

var _ backend.Backend = (*Backend)(nil)

// Open returns an adapter for the server named by u (tt://host:port?...). It
// validates the URL but does not connect.
func Open(ctx context.Context, u *url.URL) (*Backend, error) {
	addr, opts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return New(addr, opts)
}

// New returns an adapter for addr (host:port) with explicit options; zero
// fields take their defaults.
func New(addr string, opts Options) (*Backend, error) {
	d := defaultOptions()
	if opts.PoolSize == 0 {
		opts.PoolSize = d.PoolSize
	}
	if opts.Timeout == 0 {
		opts.Timeout = d.Timeout
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = d.ConnectTimeout
	}
	if opts.ReplSID == 0 {
		opts.ReplSID = d.ReplSID
	}
	if opts.ReplTimeout == 0 {
		opts.ReplTimeout = d.ReplTimeout
	}
	if opts.ReplBackoff == 0 {
		opts.ReplBackoff = d.ReplBackoff
	}
	if opts.ReplMaxBackoff == 0 {
		opts.ReplMaxBackoff = max(d.ReplMaxBackoff, opts.ReplBackoff)
	}
	if opts.ReplReconnects == 0 {
		opts.ReplReconnects = d.ReplReconnects
	}
	if opts.CoalesceWait == 0 {
		opts.CoalesceWait = d.CoalesceWait
	}
	if opts.CoalesceMax == 0 {
		opts.CoalesceMax = d.CoalesceMax
	}
	if opts.PoolSize < 1 || opts.PoolSize > 10000 {
		return nil, fmt.Errorf("tt: pool size %d out of range 1..10000: %w", opts.PoolSize, backend.ErrInvalid)
	}
	if opts.Timeout < 0 || opts.ConnectTimeout < 0 || opts.ReplTimeout < 0 || opts.ReplBackoff < 0 || opts.ReplMaxBackoff < 0 || opts.CoalesceWait < 0 {
		return nil, fmt.Errorf("tt: timeouts must be positive: %w", backend.ErrInvalid)
	}
	k := kindUnknown
	if opts.Kind != "" && opts.Kind != "auto" {
		var ok bool
		if k, ok = kindFromOption(opts.Kind); !ok {
			return nil, fmt.Errorf("tt: kind %q: want auto, hash, btree, table, memory-hash, memory-tree or fixed: %w", opts.Kind, backend.ErrInvalid)
		}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("tt: address %q: %v: %w", addr, err, backend.ErrInvalid)
	}
	b := &Backend{addr: addr, name: "tt://" + addr, opts: opts}
	b.kind.Store(int32(k))
	b.pool = connpool.New(connpool.Config{Addr: addr, Size: opts.PoolSize, ConnectTimeout: opts.ConnectTimeout, Dial: opts.Dialer})
	b.timeoutCause = fmt.Errorf("no answer within the URL's timeout=%v: %w", opts.Timeout, context.DeadlineExceeded)
	b.startCoalescing()
	return b, nil
}

func parseURL(u *url.URL) (string, Options, error) {
	opts := defaultOptions()
	bad := func(format string, args ...any) (string, Options, error) {
		return "", opts, fmt.Errorf("tt URL %q: %s: %w", u.Redacted(), fmt.Sprintf(format, args...), backend.ErrInvalid)
	}
	if u.Scheme != "tt" {
		return bad("scheme must be tt")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("want tt://host:port")
	}
	if u.User != nil {
		return bad("Tokyo Tyrant has no authentication; remove the user info")
	}
	if u.Path != "" && u.Path != "/" {
		return bad("Tokyo Tyrant has one database per server; remove the path %q", u.Path)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return bad("missing host")
	}
	if port == "" {
		port = DefaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("port %q out of range", port)
	}
	so := connpool.Options{
		Pool:           opts.PoolSize,
		Timeout:        opts.Timeout,
		ConnectTimeout: opts.ConnectTimeout,
		SID:            opts.ReplSID,
		ReplTimeout:    opts.ReplTimeout,
		ReplBackoff:    opts.ReplBackoff,
		ReplMaxBackoff: opts.ReplMaxBackoff,
		ReplReconnects: opts.ReplReconnects,
		Coalesce:       opts.Coalesce,
		CoalesceWait:   opts.CoalesceWait,
		CoalesceMax:    opts.CoalesceMax,
	}
	q := u.Query()
	if q.Has("repl_backoff") && !q.Has("repl_max_backoff") {
		// The deprecated meaning: the longest pause.
		u2 := *u
		q.Set("repl_max_backoff", q.Get("repl_backoff"))
		q.Del("repl_backoff")
		if len(u.Query()["repl_backoff"]) > 1 {
			return bad("option repl_backoff given %d times", len(u.Query()["repl_backoff"]))
		}
		u2.RawQuery = q.Encode()
		u = &u2
	}
	err := connpool.ParseQuery(u, connpool.Limits{MaxSID: math.MaxUint32}, &so, []string{"kind", "iterator"}, func(name, v string) (bool, error) {
		switch name {
		case "kind":
			if _, ok := kindFromOption(v); !ok && v != "auto" {
				return true, fmt.Errorf("kind=%q: want auto, hash, btree, table, memory-hash, memory-tree or fixed", v)
			}
			opts.Kind = v
		case "iterator":
			switch v {
			case "none":
				opts.SharedIterator = false
			case "shared":
				opts.SharedIterator = true
			default:
				return true, fmt.Errorf("iterator=%q: want none or shared", v)
			}
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return bad("%v", err)
	}
	opts.PoolSize, opts.Timeout, opts.ConnectTimeout = so.Pool, so.Timeout, so.ConnectTimeout
	opts.ReplSID, opts.ReplTimeout = so.SID, so.ReplTimeout
	opts.ReplBackoff, opts.ReplMaxBackoff = so.ReplBackoff, so.ReplMaxBackoff
	opts.Coalesce, opts.CoalesceWait, opts.CoalesceMax = so.Coalesce, so.CoalesceWait, so.CoalesceMax
	// Options take 0 as the default; negative means none.
	opts.ReplReconnects = so.ReplReconnects
	if opts.ReplReconnects == 0 {
		opts.ReplReconnects = -1
	}
	return net.JoinHostPort(host, port), opts, nil
}

// Name identifies the adapter in messages: "tt://host:port".
func (b *Backend) Name() string { return b.name }

// Close closes every pooled connection. Calls after Close answer
// backend.ErrUnavailable.
func (b *Backend) Close() error {
	b.pool.Close()
	return nil
}

// PoolStats counts a pool's connections.
type PoolStats = connpool.Stats

// PoolStats reports the pool's connections, for health pages and leak
// tests.
func (b *Backend) PoolStats() PoolStats { return b.pool.Stats() }

// checkDB accepts the only database a server has.
func checkDB(db string) error {
	if db == "" || db == "0" {
		return nil
	}
	return fmt.Errorf("tt: database %q: Tokyo Tyrant has one database per server; db must be empty or \"0\": %w", db, backend.ErrInvalid)
}

// checkExpiry refuses expirations, which the server cannot store.
func checkExpiry(e backend.Expiry) error {
	if e.Never() {
		return nil
	}
	return fmt.Errorf("tt: Tokyo Tyrant records do not expire; leave ttl and expire_time unset: %w", backend.ErrUnsupported)
}
