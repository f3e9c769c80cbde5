// Package tttest runs a Tokyo Tyrant compatible server for tests, in the
// style of net/http/httptest and miniredis: Start listens on a loopback
// port and serves TT's binary protocol (magic 0xC8, every command from put
// to repl), a memcached and HTTP subset, and TT's replication stream, on an
// in-process embedded.Store viewed as a Tokyo Cabinet hash, B+ tree or
// table database (test/internal/ttstore).
//
// The server answers byte for byte like ttserver 1.1.41 in the
// configurations of the recorded golden transcripts (WithConfig), including
// its quirks: replies that fail with status 1 or with "01 00000000" for
// misc, masked commands, the iterator shared by every connection, and
// closing the connection after a malformed request only once nothing else
// is buffered. What is not reproduced, and why, is listed on Server.
package tttest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
	"github.com/ktgrpc/ktgrpc/test/testclock"
	"github.com/ktgrpc/ktgrpc/test/testserver"
	"github.com/ktgrpc/ktgrpc/test/workerpool"
)

// DefaultReplInterval is the replication heartbeat interval: TT sends a
// NOP when a second has passed since the last one.
const DefaultReplInterval = time.Second

// DefaultWorkers is the size of the worker pool, ttserver's default
// -thnum.
const DefaultWorkers = 8

// ExtFunc is an extension function called by the ext command with the
// request's key and value. It returns the result, or ok=false for failure
// (what a Lua function returning nil or false does).
type ExtFunc func(key, value []byte) (result []byte, ok bool)

// Server is a running TT test server.
//
// Differences from ttserver that a test may notice:
//   - size and the stat size line report the key and value bytes of the
//     records, not a database file size; the process lines of stat (fd,
//     loadavg, mem*, ru_*) describe this process.
//   - A hash database iterates in key order, not in hash-file order.
//   - Table searches always scan; setindex records index definitions, and
//     hints say "scanning the whole table".
//   - copy writes a dump of the records (as TT put requests) into the
//     server's directory and refuses "@command" paths; restore only reads
//     the server's own update log ("ulog"), replays the records from ts
//     that were there when it started, and returns instead of never ending.
//   - setmst is accepted and reported by stat, but the server does not act
//     as a slave.
//   - The memcached and HTTP subsets cover the common commands only: see
//     serveText.
type Server struct {
	cfg   config
	exts  map[string]ExtFunc
	clock Clock
	// replInterval is the heartbeat interval of replication streams.
	replInterval time.Duration

	store *embedded.Store
	db    *ttstore.DB
	dir   string
	// ownDir is true when the server made dir and removes it on Close.
	ownDir bool
	start  time.Time

	lis net.Listener
	// ctx ends when the server closes; every store call and stream uses it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	// changed wakes WaitConnCount and the other waits when a count changes.
	changed testserver.Waiter
	// repls counts the replication sessions being served.
	repls   int
	running bool
	// workers serve the requests, as ttserver's threads do.
	workers *workerpool.Pool
	closed  bool

	counts   [numCounters]atomic.Int64
	extLocks [extLockCount]sync.Mutex
	master   struct {
		sync.Mutex
		host string
		port int
		ts   uint64
	}
}

// Option configures New and Start. The options shared with kttest
// (WithConfig, WithClock, WithWorkers, WithAddr) mean the same there.
type Option func(*options) error

type options struct {
	config       string
	addr         string
	exts         map[string]ExtFunc
	clock        Clock
	replInterval time.Duration
	dir          string
	workers      int
}

// Clock is the time source of a Server: update-log timestamps, the stat
// "time" line and the replication heartbeat all read it.
type Clock = testclock.Clock

// WithConfig selects one of the configurations of the golden transcripts:
// "tt-hash" (the default), "tt-btree", "tt-table", "tt-noulog",
// "tt-nosid", "tt-noext", "tt-masked" and "tt-mask-repl". They set the
// database type, the update log, the server id, whether ext functions
// exist and the command mask.
func WithConfig(name string) Option {
	return func(o *options) error {
		if _, ok := configs[name]; !ok {
			return fmt.Errorf("tttest: unknown config %q (known: %s)", name, configNames())
		}
		o.config = name
		return nil
	}
}

// WithExt adds (or replaces) an ext function. It makes ext available even
// in a configuration without extension functions.
func WithExt(name string, fn ExtFunc) Option {
	return func(o *options) error {
		if fn == nil {
			return fmt.Errorf("tttest: WithExt(%q): nil function", name)
		}
		if o.exts == nil {
			o.exts = map[string]ExtFunc{}
		}
		o.exts[name] = fn
		return nil
	}
}

// WithClock sets the clock for update-log timestamps, stat and the
// replication heartbeat: a *testclock.Manual, testclock.Wall or a bare now
// function (whose timers run on the wall clock). A manual clock lets a test
// send heartbeats by advancing it.
func WithClock[C testclock.Source](c C) Option {
	return func(o *options) error {
		if o.clock = testclock.From(c); o.clock == nil {
			return errors.New("tttest: WithClock(nil)")
		}
		return nil
	}
}

// WithAddr sets the listening address; the default is 127.0.0.1:0.
func WithAddr(addr string) Option {
	return func(o *options) error {
		o.addr = addr
		return nil
	}
}

// WithReplInterval sets the replication heartbeat interval (default one
// second, as in TT). It must be positive.
func WithReplInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("tttest: WithReplInterval(%v): must be positive", d)
		}
		o.replInterval = d
		return nil
	}
}

// WithWorkers sets the number of worker threads (ttserver's -thnum;
// default DefaultWorkers). Like ttserver, the server runs each request on
// a worker taken from this pool when the request arrives and given back
// when it is answered, so an idle connection holds none; a replication
// session holds its worker for as long as it lasts, and a request that
// finds every worker busy waits for one.
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("tttest: WithWorkers(%d): need at least one worker", n)
		}
		o.workers = n
		return nil
	}
}

// WithDir sets the server's working directory, where copy writes and
// relative paths resolve. By default New makes a temporary directory and
// Close removes it.
func WithDir(dir string) Option {
	return func(o *options) error {
		o.dir = dir
		return nil
	}
}

// New creates a server and its listener without serving yet: Addr is
// known at once. Call Start, and Close when done.
func New(opts ...Option) (*Server, error) {
	o := options{config: "tt-hash", addr: "127.0.0.1:0", clock: testclock.Wall{}, replInterval: DefaultReplInterval, workers: DefaultWorkers}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	cfg := configs[o.config]
	s := &Server{
		exts:         map[string]ExtFunc{},
		clock:        o.clock,
		replInterval: o.replInterval,
		dir:          o.dir,
		conns:        map[net.Conn]struct{}{},
		workers:      workerpool.New(o.workers),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.ext {
		maps.Copy(s.exts, s.builtinExts())
	}
	if len(o.exts) > 0 {
		cfg.ext = true
		maps.Copy(s.exts, o.exts)
	}
	s.cfg = cfg
	s.start = s.clock.Now()
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "tttest-")
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("tttest: make the server directory: %w", err)
		}
		s.dir, s.ownDir = dir, true
	}
	store, err := embedded.New(embedded.Options{
		Databases:     []embedded.DBConfig{{Name: "0", Kind: cfg.typ.Kind()}},
		Now:           s.clock.Now,
		SweepInterval: -1,
		ServerID:      max(cfg.sid, 1),
	})
	if err != nil {
		s.cancel()
		s.removeDir()
		return nil, fmt.Errorf("tttest: open the store: %w", err)
	}
	db, err := ttstore.Open(store, "0", ttstore.Options{Type: cfg.typ, ServerID: cfg.sid, Now: s.clock.Now})
	if err != nil {
		store.Close()
		s.cancel()
		s.removeDir()
		return nil, fmt.Errorf("tttest: open the TT view: %w", err)
	}
	lis, err := net.Listen("tcp", o.addr)
	if err != nil {
		store.Close()
		s.cancel()
		s.removeDir()
		return nil, fmt.Errorf("tttest: listen on %s: %w", o.addr, err)
	}
	s.store, s.db, s.lis = store, db, lis
	return s, nil
}

// Start creates a server listening on 127.0.0.1 with a free port, and
// closes it when the test ends. It fails the test on bad options.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("tttest: %v", err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatalf("tttest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("tttest: close: %v", err)
		}
	})
	return s
}

// Start begins serving. It fails on a closed server or one already
// started.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("tttest: server is closed")
	}
	if s.running {
		return errors.New("tttest: server already started")
	}
	s.running = true
	s.wg.Add(1)
	go s.acceptLoop(s.lis)
	return nil
}

// Addr returns the listening address, host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Store returns the store the server serves. Its database "0" holds the
// records; table rows are stored as serialised columns.
func (s *Server) Store() *embedded.Store { return s.store }

// TT returns the TT view of the store the server uses.
func (s *Server) TT() *ttstore.DB { return s.db }

// ConnCount returns the number of open client connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnCount blocks until exactly n client connections are open, or
// until ctx ends. The server notices a connection that the client closed
// only when it next reads from it, so a test that closes connections and
// wants to see the count drop waits here instead of reading ConnCount once.
func (s *Server) WaitConnCount(ctx context.Context, n int) error {
	return s.waitCount(ctx, n, "open connections", func() int { return len(s.conns) })
}

// Stats is a snapshot of what the server is serving, the same type as
// tttest's and kttest's.
type Stats = testserver.Stats

// Stats returns what the server is serving now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Conns: len(s.conns), Replications: s.repls, BusyWorkers: s.workers.Busy(), Workers: s.workers.Size()}
}

// WaitReplicationCount blocks until exactly n replication sessions are
// being served, or ctx ends; see Stats.
func (s *Server) WaitReplicationCount(ctx context.Context, n int) error {
	return s.waitCount(ctx, n, "replication sessions", func() int { return s.repls })
}

// waitCount waits until count, called with mu held, returns n.
func (s *Server) waitCount(ctx context.Context, n int, what string, count func() int) error {
	if err := s.changed.Wait(ctx, &s.mu, n, what, count); err != nil {
		return fmt.Errorf("tttest: %w", err)
	}
	return nil
}

// replsAdded changes the replication session count by delta and wakes the
// waiters.
func (s *Server) replsAdded(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repls += delta
	s.connsUpdated()
}

// connsUpdated wakes WaitConnCount and WaitReplicationCount; called with mu
// held.
func (s *Server) connsUpdated() { s.changed.Changed() }

// KillConnections closes every open client connection at once, with a TCP
// reset where the platform allows, as a crashing server would. The server
// keeps accepting new connections.
func (s *Server) KillConnections() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// Close stops the server: it stops listening, closes every connection,
// waits for their goroutines and closes the store. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	var err error
	if e := s.lis.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
		err = e
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if e := s.store.Close(); e != nil && err == nil {
		err = e
	}
	s.removeDir()
	return err
}

func (s *Server) removeDir() {
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *Server) acceptLoop(lis net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := lis.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.connsUpdated()
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			newConn(s, nc).serve()
			s.mu.Lock()
			delete(s.conns, nc)
			s.connsUpdated()
			s.mu.Unlock()
			_ = nc.Close()
		}()
	}
}
