// Package kttest runs a Kyoto Tycoon-compatible server over an embedded
// store, for tests: the spirit of httptest and miniredis.
//
// One loopback TCP port speaks what ktserver 0.9.56 speaks on its port: HTTP
// (the TSV-RPC procedures under /rpc/ and the small RESTful key interface)
// and the binary protocol (set_bulk, remove_bulk, get_bulk, play_script and
// the replication stream), mixed and pipelined on one connection, with KT's
// status codes, error texts and connection-closing behaviour. The bytes it
// sends match the recordings of the real server in shared/golden.
//
// Databases, the update log, server id and scripting follow the named
// configurations of the recordings (see WithConfig). Lua procedures are Go
// functions (see Script and WithScript).
//
// Where a real server's answer depends on its files or internals, the
// server answers like a fresh ktserver with in-memory databases: status and
// report model Kyoto Cabinet's cache databases (count is exact, the sizes
// are estimates), synchronize with a command fails as without a -cmd
// directory, tune_replication is accepted but there is no slave side,
// the update log is one file unless WithUlogLimit rotates it (ulog_remove
// then deletes whole files, and a replication stream from before them
// starts at the oldest change left, as on ktserver), and
// match_prefix, match_regex and match_similar skip expired records that
// ktserver would still list until they are purged.
package kttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/test/internal/ktstore"
	"github.com/ktgrpc/ktgrpc/test/testclock"
	"github.com/ktgrpc/ktgrpc/test/testserver"
	"github.com/ktgrpc/ktgrpc/test/workerpool"
)

// Configuration names accepted by WithConfig; they match the server
// configurations of the golden recordings.
const (
	// ConfigMain has an update log with server id 1, an RTS file and the
	// default scripts. It is the default.
	ConfigMain = "kt-main"
	// ConfigNoUlog has the default scripts but no update log, server id or
	// RTS file.
	ConfigNoUlog = "kt-noulog"
	// ConfigNoScript has an update log with server id 1 and no scripts.
	ConfigNoScript = "kt-noscript"
)

// settings is what the options build.
type settings struct {
	config  string
	addr    string
	clock   testclock.Clock
	scripts map[string]Script
	dbs     []Database
	workers int
	ulim    int64
}

// Database describes one database of the server, for WithDatabases.
type Database struct {
	// Name is the database's name, what DB= selects and report shows as
	// its path, for example "*" or "users.kct".
	Name string
	// Ordered makes it a tree database, where cursors also move backwards;
	// otherwise it is a hash database.
	Ordered bool
}

// Option configures a Server. The options shared with tttest (WithConfig,
// WithClock, WithWorkers, WithAddr) mean the same there.
type Option func(*settings) error

// WithConfig selects one of the golden configurations: ConfigMain,
// ConfigNoUlog or ConfigNoScript. In all of them DB 0 is named "*" (a hash
// database, unordered) and DB 1 "%" (a tree database), unless
// WithDatabases says otherwise.
func WithConfig(name string) Option {
	return func(s *settings) error {
		switch name {
		case ConfigMain, ConfigNoUlog, ConfigNoScript:
			s.config = name
			return nil
		}
		return fmt.Errorf("kttest: unknown configuration %q (want %s, %s or %s)", name, ConfigMain, ConfigNoUlog, ConfigNoScript)
	}
}

// WithScript adds (or replaces) a procedure that play_script can call. It
// turns scripting on even in ConfigNoScript.
func WithScript(name string, fn Script) Option {
	return func(s *settings) error {
		if s.scripts == nil {
			s.scripts = map[string]Script{}
		}
		s.scripts[name] = fn
		return nil
	}
}

// WithDatabases replaces the default databases, "*" (index 0, hash) and
// "%" (index 1, tree), which the golden recordings use. Names must be
// unique, non-empty and must not start with a digit (DB= reads those as an
// index).
func WithDatabases(dbs ...Database) Option {
	return func(s *settings) error {
		if len(dbs) == 0 {
			return errors.New("kttest: WithDatabases needs at least one database")
		}
		seen := map[string]bool{}
		for _, db := range dbs {
			if db.Name == "" || db.Name[0] >= '0' && db.Name[0] <= '9' || seen[db.Name] {
				return fmt.Errorf("kttest: database name %q must be unique, non-empty and not start with a digit", db.Name)
			}
			seen[db.Name] = true
		}
		s.dbs = slices.Clone(dbs)
		return nil
	}
}

// WithClock sets the clock of the store (expiration, update-log
// timestamps) and of the server (Date headers, NOP timestamps): a
// *testclock.Manual, testclock.Wall or a bare now function. Tests inject a
// manual clock instead of sleeping. The server's own waits (WAIT, the
// replication stream's idle pause) run on the wall clock.
func WithClock[C testclock.Source](c C) Option {
	return func(s *settings) error {
		if s.clock = testclock.From(c); s.clock == nil {
			return errors.New("kttest: WithClock(nil)")
		}
		return nil
	}
}

// DefaultWorkers is the size of the worker pool, ktserver's default -th.
const DefaultWorkers = 16

// WithWorkers sets the number of worker threads (ktserver's -th; default
// DefaultWorkers). Like ktserver, the server runs each request on a worker
// taken from this pool when the request arrives and given back when it is
// answered, so an idle connection holds none; a replication session holds
// its worker for as long as it lasts, and a request that finds every worker
// busy waits for one.
func WithWorkers(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return fmt.Errorf("kttest: WithWorkers(%d): need at least one worker", n)
		}
		s.workers = n
		return nil
	}
}

// WithUlogLimit rotates the modelled update-log file once it reaches
// limit bytes (ktserver's -ulim; default 0: one file), so that ulog_list
// lists several files and ulog_remove can delete the older ones.
func WithUlogLimit(limit int64) Option {
	return func(s *settings) error {
		s.ulim = limit
		return nil
	}
}

// WithAddr sets the listening address; the default is 127.0.0.1:0.
func WithAddr(addr string) Option {
	return func(s *settings) error {
		s.addr = addr
		return nil
	}
}

// Server is a running test server. Its methods are safe for concurrent use.
type Server struct {
	store    *embedded.Store
	ln       net.Listener
	now      func() time.Time
	ulog     bool
	sid      uint16
	rts      bool
	scripts  map[string]Script // nil: scripting disabled
	dbNames  []string
	dbHash   []bool
	started  time.Time
	signals  *signalHub
	counters counters

	// ulogReader reads the store's update log for replication and
	// ulog_list.
	ulogReader *ktstore.Log
	// ulim is the update-log file size limit, 0 for one file.
	ulim int64
	// ulogMu guards the removal state of the update log: the newest
	// position in a removed file (0: none removed) and the number of the
	// oldest file left.
	ulogMu        sync.Mutex
	ulogRemovedTS uint64
	ulogFirstID   int
	// workers serve the requests, as ktserver's threads do.
	workers *workerpool.Pool

	// ctx ends when the server closes; it bounds WAITs, replication
	// streams and store calls.
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	conns map[*conn]struct{}
	// cursors counts the RPC cursors of all connections.
	cursors int
	// repls counts the replication sessions being served.
	repls int
	// changed wakes WaitConnCount and the other waits when a count changes.
	changed testserver.Waiter
	serving bool
	closed  bool
	wg      sync.WaitGroup
}

// Start starts a server on a loopback port and closes it when the test
// ends. It fails the test if the server cannot start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("kttest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Start(); err != nil {
		t.Fatalf("kttest: %v", err)
	}
	return s
}

// New creates a server and its listener without serving yet: Addr is
// known at once. Call Start, and Close when done.
func New(opts ...Option) (*Server, error) {
	cfg := settings{
		config:  ConfigMain,
		addr:    "127.0.0.1:0",
		clock:   testclock.Wall{},
		dbs:     []Database{{Name: "*"}, {Name: "%", Ordered: true}},
		workers: DefaultWorkers,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Server{
		ulim:    cfg.ulim,
		now:     cfg.clock.Now,
		signals: newSignalHub(),
		conns:   map[*conn]struct{}{},
		workers: workerpool.New(cfg.workers),
	}
	var dbConfigs []embedded.DBConfig
	for _, db := range cfg.dbs {
		kind := embedded.Hash
		if db.Ordered {
			kind = embedded.Tree
		}
		s.dbNames = append(s.dbNames, db.Name)
		s.dbHash = append(s.dbHash, !db.Ordered)
		dbConfigs = append(dbConfigs, embedded.DBConfig{Name: db.Name, Kind: kind})
	}
	switch cfg.config {
	case ConfigMain:
		s.ulog, s.sid, s.rts = true, 1, true
		s.scripts = defaultScripts()
	case ConfigNoUlog:
		s.scripts = defaultScripts()
	case ConfigNoScript:
		s.ulog, s.sid = true, 1
	}
	for name, fn := range cfg.scripts {
		if s.scripts == nil {
			s.scripts = map[string]Script{}
		}
		s.scripts[name] = fn
	}
	store, err := embedded.New(embedded.Options{
		Databases: dbConfigs,
		Now:       cfg.clock.Now,
		// KT purges expired records lazily and never logs the purge; the
		// store hides them from reads either way.
		SweepInterval: -1,
		ServerID:      uint32(max(s.sid, 1)),
		// KT logs a UREMOVE even for a key that did not exist.
		LogMissingRemoves: true,
	})
	if err != nil {
		return nil, fmt.Errorf("kttest: creating the store: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("kttest: listening on %s: %w", cfg.addr, err)
	}
	s.store, s.ln = store, ln
	s.started = s.now()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ulogReader = ktstore.NewLog(s.ctx, store)
	return s, nil
}

// Start begins serving. It fails on a closed server or one already
// started.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("kttest: server is closed")
	}
	if s.serving {
		return errors.New("kttest: server already started")
	}
	s.serving = true
	s.wg.Add(1)
	go s.acceptLoop()
	return nil
}

// Addr returns the listening address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Store returns the store the server serves; tests may read and write it
// directly. Its databases are those of the server, by default "*" (index 0,
// hash) and "%" (index 1, tree); the store takes indexes and names alike.
// Expiration times there are the first instant a record is gone, one second
// after the last second KT reports as its xt.
func (s *Server) Store() *embedded.Store { return s.store }

// ConnCount returns the number of client connections currently open.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnCount blocks until exactly n client connections are open, or ctx
// ends. The server notices a client's close as soon as it arrives, so tests
// wait for a count here instead of sleeping.
func (s *Server) WaitConnCount(ctx context.Context, n int) error {
	return s.waitCount(ctx, n, "open connections", func() int { return len(s.conns) })
}

// CursorCount returns the number of RPC cursors the clients hold: those
// created (by any request with CUR) and not yet deleted by cur_delete or
// freed with their connection.
func (s *Server) CursorCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors
}

// WaitCursorCount blocks until exactly n RPC cursors exist, or ctx ends;
// see CursorCount.
func (s *Server) WaitCursorCount(ctx context.Context, n int) error {
	return s.waitCount(ctx, n, "cursors", func() int { return s.cursors })
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

// replsAdded changes the replication session count by delta and wakes the
// waiters.
func (s *Server) replsAdded(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repls += delta
	s.connsUpdated()
}

// waitCount waits until count, called with mu held, returns n.
func (s *Server) waitCount(ctx context.Context, n int, what string, count func() int) error {
	if err := s.changed.Wait(ctx, &s.mu, n, what, count); err != nil {
		return fmt.Errorf("kttest: %w", err)
	}
	return nil
}

// cursorsAdded changes the cursor count by delta and wakes the waiters.
func (s *Server) cursorsAdded(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursors += delta
	s.connsUpdated()
}

// connsUpdated wakes WaitConnCount, WaitCursorCount and
// WaitReplicationCount. Called with mu held.
func (s *Server) connsUpdated() { s.changed.Changed() }

// KillConnections abruptly closes every open client connection, without
// replies; they no longer count in ConnCount when it returns. The server
// keeps accepting new connections.
func (s *Server) KillConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
		delete(s.conns, c)
	}
	s.connsUpdated()
}

// Close stops the listener, closes every connection, waits for their
// handlers and closes the store. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.nc.Close()
		delete(s.conns, c)
	}
	s.connsUpdated()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.connsUpdated()
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			if _, ok := s.conns[c]; ok {
				delete(s.conns, c)
				s.connsUpdated()
			}
			s.mu.Unlock()
		}()
	}
}

// dbSelector resolves a database selector the way KT reads DB: empty is 0,
// a leading digit means an index read with atoi, anything else a name. ok
// is false for an unknown name or an index out of range.
func (s *Server) dbSelector(sel string) (idx int, ok bool) {
	if sel == "" {
		return 0, true
	}
	if sel[0] >= '0' && sel[0] <= '9' {
		n := ktwire.Atoi(sel)
		if n < 0 || n >= int64(len(s.dbNames)) {
			return 0, false
		}
		return int(n), true
	}
	for i, name := range s.dbNames {
		if name == sel {
			return i, true
		}
	}
	return 0, false
}

// dbIndexByName maps a store database name back to its index, as the
// update log needs.
func (s *Server) dbIndexByName(name string) int {
	for i, n := range s.dbNames {
		if n == name {
			return i
		}
	}
	return -1
}
