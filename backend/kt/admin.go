package kt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// dbEntry is one database as the server's report lists it.
type dbEntry struct {
	index int
	// path is the database's path or in-memory spec ("*", "%", "a/b.kch").
	path string
	// name is the part of path after the last "/", what RPC accepts as DB.
	name string
}

// dbCache remembers the server's databases: the binary protocol needs
// indexes, and names are resolved through the report once. The server may
// be restarted with other databases, which a request cannot tell (binary
// requests skip an index the server does not have), so the cache is
// dropped when the server reports an unknown database, when a binary write
// stored nothing, and whenever the pool saw the server close or reset a
// connection, which a restart always does (see also recheckDBs).
type dbCache struct {
	mu   sync.Mutex
	list []dbEntry
	// epoch is the pool's count of lost connections when list was loaded.
	epoch int64
	types map[uint16]int // status "type" code of each database seen
}

// forget drops everything cached about the server's databases.
func (c *dbCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list, c.types = nil, nil
}

// current returns the cached list, first dropping the cache when
// connections were lost since it was loaded. Called with mu held.
func (c *dbCache) current(epoch int64) []dbEntry {
	if c.epoch != epoch {
		c.list, c.types, c.epoch = nil, nil, epoch
	}
	return c.list
}

// store caches list, read from the server when the pool had lost epoch
// connections.
func (c *dbCache) store(list []dbEntry, epoch int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch || !slices.Equal(c.list, list) {
		c.types = nil
	}
	c.list, c.epoch = list, epoch
}

// dbRef is the database list a request's index was resolved from, with the
// pool's count of lost connections at the time. resolveDB puts it in the
// call's context, so that the request is not sent to a server that may
// have restarted since with other databases (see recheckDBs).
type dbRef struct {
	epoch int64
	list  []dbEntry
}

type dbRefKey struct{}

// resolvedFrom returns a copy of the context's dbRef, or nil.
func resolvedFrom(ctx context.Context) *dbRef {
	ref, _ := ctx.Value(dbRefKey{}).(*dbRef)
	if ref == nil {
		return nil
	}
	cp := *ref
	return &cp
}

// KT database type codes (status "type").
const (
	typePrototypeHash = 0x10
	typePrototypeTree = 0x11
	typeStash         = 0x18
	typeCache         = 0x20
	typeGrass         = 0x21
	typeHash          = 0x30
	typeTree          = 0x31
	typeDir           = 0x40
	typeForest        = 0x41
	typeText          = 0x50
)

// ktoptsPersist is the ktopts bit of databases without expiration, whose
// stored values carry no 5-byte expiration prefix.
const ktoptsPersist = 2

// kindName names a database type by the family that decides what it can do:
// "tree" for the ordered ones (backward cursors work), "hash" for the
// unordered ones.
func kindName(code int) string {
	switch code {
	case typePrototypeTree, typeGrass, typeTree, typeForest:
		return "tree"
	case typePrototypeHash, typeStash, typeCache, typeHash:
		return "hash"
	case typeDir:
		return "dir"
	case typeText:
		return "text"
	}
	return fmt.Sprintf("type 0x%02x", code)
}

func orderedType(code int) bool { return kindName(code) == "tree" }

// resolveDB turns a database selector into an index: "" is 0, digits are an
// index, anything else a name. Unknown databases are ErrInvalid. The
// returned context carries the list the index came from (see dbRef); the
// call's requests must use it.
func (b *Backend) resolveDB(ctx context.Context, db string) (context.Context, uint16, error) {
	if db == "" || db == "0" {
		return ctx, 0, nil // every server has database 0
	}
	find := func(list []dbEntry) (int, bool) {
		if isDigits(db) {
			n, err := strconv.Atoi(db)
			return n, err == nil && n < len(list)
		}
		for _, e := range list {
			if e.name == db || e.path == db {
				return e.index, true
			}
		}
		return 0, false
	}
	b.dbs.mu.Lock()
	epoch := b.lost.Load()
	list := b.dbs.current(epoch)
	b.dbs.mu.Unlock()
	if idx, ok := find(list); ok {
		return context.WithValue(ctx, dbRefKey{}, &dbRef{epoch: epoch, list: list}), uint16(idx), nil
	}
	list, epoch, err := b.loadDBs(ctx)
	if err != nil {
		return ctx, 0, err
	}
	if idx, ok := find(list); ok {
		return context.WithValue(ctx, dbRefKey{}, &dbRef{epoch: epoch, list: list}), uint16(idx), nil
	}
	return ctx, 0, fmt.Errorf("kt %s: %w: no database %q (the server has %s)", b.addr, backend.ErrInvalid, db, describeDBs(list))
}

// describeDBs lists databases for messages: 0="*", 1="%".
func describeDBs(list []dbEntry) string {
	names := make([]string, len(list))
	for i, e := range list {
		names[i] = fmt.Sprintf("%d=%q", e.index, e.name)
	}
	return strings.Join(names, ", ")
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != "" && len(s) <= 5
}

// loadDBs reads the database list from the report's db_<i> lines
// ("count=<n> size=<n> path=<path>") and caches it. epoch is the pool's
// count of lost connections before the call: one lost during it makes the
// next resolution load again.
func (b *Backend) loadDBs(ctx context.Context) (list []dbEntry, epoch int64, err error) {
	epoch = b.lost.Load()
	// The report names no database: it needs no check of an earlier
	// resolution the context may carry.
	report, err := b.Report(context.WithValue(ctx, dbRefKey{}, (*dbRef)(nil)))
	if err != nil {
		return nil, 0, err
	}
	list = parseDBList(report)
	b.dbs.store(list, epoch)
	return list, epoch, nil
}

func parseDBList(report map[string]string) []dbEntry {
	var list []dbEntry
	for i := 0; ; i++ {
		v, ok := report["db_"+strconv.Itoa(i)]
		if !ok {
			return list
		}
		path := v
		if j := strings.Index(v, "path="); j >= 0 {
			path = v[j+len("path="):]
		}
		name := path
		if j := strings.LastIndexByte(path, '/'); j >= 0 {
			name = path[j+1:]
		}
		list = append(list, dbEntry{index: i, path: path, name: name})
	}
}

// dbType returns the database's type code, asking the server once.
func (b *Backend) dbType(ctx context.Context, idx uint16) (int, error) {
	b.dbs.mu.Lock()
	b.dbs.current(b.lost.Load())
	code, ok := b.dbs.types[idx]
	b.dbs.mu.Unlock()
	if ok {
		return code, nil
	}
	if _, err := b.status(ctx, idx); err != nil {
		return 0, err
	}
	b.dbs.mu.Lock()
	defer b.dbs.mu.Unlock()
	return b.dbs.types[idx], nil
}

// status calls RPC status and remembers the type it reports.
func (b *Backend) status(ctx context.Context, idx uint16) (map[string]string, error) {
	var p params
	p.db(idx)
	rep, err := b.rpcOK(ctx, "status", p, idempotent)
	if err != nil {
		return nil, err
	}
	fields := fieldMap(rep)
	b.dbs.mu.Lock()
	defer b.dbs.mu.Unlock()
	if b.dbs.types == nil {
		b.dbs.types = map[uint16]int{}
	}
	if code, err := strconv.Atoi(fields["type"]); err == nil {
		b.dbs.types[idx] = code
	}
	return fields, nil
}

func fieldMap(r *reply) map[string]string {
	m := make(map[string]string, len(r.fields))
	for _, f := range r.fields {
		m[string(f.Key)] = string(f.Value)
	}
	return m
}

// Status describes a database from RPC status; count and size are its
// "count" and "size" fields.
func (b *Backend) Status(ctx context.Context, db string) (backend.Status, error) {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return backend.Status{}, err
	}
	fields, err := b.status(ctx, idx)
	if err != nil {
		return backend.Status{}, err
	}
	st := backend.Status{Fields: fields}
	st.Count, _ = strconv.ParseInt(fields["count"], 10, 64)
	st.Size, _ = strconv.ParseInt(fields["size"], 10, 64)
	return st, nil
}

// Report returns the fields of RPC report.
func (b *Backend) Report(ctx context.Context) (map[string]string, error) {
	rep, err := b.rpcOK(ctx, "report", nil, idempotent)
	if err != nil {
		return nil, err
	}
	return fieldMap(rep), nil
}

// Databases lists the databases of the report's db_<i> lines, with each
// one's kind from RPC status.
func (b *Backend) Databases(ctx context.Context) ([]backend.DatabaseInfo, error) {
	list, _, err := b.loadDBs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]backend.DatabaseInfo, len(list))
	for i, e := range list {
		info := backend.DatabaseInfo{Index: e.index, Name: e.name, Backend: b.Name(), Healthy: true}
		if fields, err := b.status(ctx, uint16(e.index)); err != nil {
			info.Healthy, info.Error = false, err.Error()
		} else if code, err := strconv.Atoi(fields["type"]); err == nil {
			info.Kind = kindName(code)
		}
		out[i] = info
	}
	return out, nil
}

// simple runs a maintenance procedure on one database.
func (b *Backend) simple(ctx context.Context, proc, db string, build func(p *params)) error {
	ctx, idx, err := b.resolveDB(ctx, db)
	if err != nil {
		return err
	}
	var p params
	p.db(idx)
	if build != nil {
		build(&p)
	}
	_, err = b.rpcOK(ctx, proc, p, once)
	return err
}

// Clear removes every record of db (RPC clear).
func (b *Backend) Clear(ctx context.Context, db string) error {
	return b.simple(ctx, "clear", db, nil)
}

// Synchronize is RPC synchronize. command names a program in the server's
// -cmd directory, run after the flush; its failure is ErrFailed.
func (b *Backend) Synchronize(ctx context.Context, db string, hard bool, command string) error {
	return b.simple(ctx, "synchronize", db, func(p *params) {
		if hard {
			p.flag("hard")
		}
		if command != "" {
			p.str("command", command)
		}
	})
}

// Vacuum is RPC vacuum; steps 0 is a full vacuum.
func (b *Backend) Vacuum(ctx context.Context, db string, steps int64) error {
	if steps < 0 {
		return fmt.Errorf("kt vacuum: %w: steps must not be negative, got %d", backend.ErrInvalid, steps)
	}
	return b.simple(ctx, "vacuum", db, func(p *params) {
		if steps > 0 {
			p.int("step", steps)
		}
	})
}

// TuneReplication is RPC tune_replication: an empty host stops the
// server's replication, port 0 means KT's default port 1978, and position 0
// and interval 0 are left out so that the server keeps its current values.
// A server without an RTS file answers ErrUnsupported.
func (b *Backend) TuneReplication(ctx context.Context, host string, port int, position uint64, interval time.Duration) error {
	if port < 0 || port > 65535 {
		return fmt.Errorf("kt tune_replication: %w: port %d is out of range", backend.ErrInvalid, port)
	}
	if interval < 0 {
		return fmt.Errorf("kt tune_replication: %w: interval must not be negative, got %v", backend.ErrInvalid, interval)
	}
	var p params
	if host != "" {
		p.str("host", host)
	}
	if port > 0 {
		p.int("port", int64(port))
	}
	if position > 0 {
		p.str("ts", strconv.FormatUint(position, 10))
	}
	if interval > 0 {
		p.str("iv", formatFloat(float64(interval)/float64(time.Millisecond)))
	}
	_, err := b.rpcOK(ctx, "tune_replication", p, once)
	return err
}

// noUpdateLog rewrites the 400 that ulog_list and ulog_remove answer on a
// server without an update log.
func noUpdateLog(proc string, err error) error {
	if errors.Is(err, backend.ErrInvalid) {
		return fmt.Errorf("kt %s: %w: the server keeps no update log (start ktserver with -ulog and -sid): %v", proc, backend.ErrUnsupported, err)
	}
	return err
}

// ListUpdateLogs is RPC ulog_list: one file per pair, "<size>:<max ts>".
func (b *Backend) ListUpdateLogs(ctx context.Context) ([]backend.UpdateLogFile, error) {
	rep, err := b.rpcOK(ctx, "ulog_list", nil, idempotent)
	if err != nil {
		return nil, noUpdateLog("ulog_list", err)
	}
	files := make([]backend.UpdateLogFile, 0, len(rep.fields))
	for _, f := range rep.fields {
		sizeText, tsText, ok := strings.Cut(string(f.Value), ":")
		size, err1 := strconv.ParseInt(sizeText, 10, 64)
		ts, err2 := strconv.ParseUint(tsText, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("kt ulog_list: %w: file %q has %q, want <size>:<max ts>", backend.ErrFailed, f.Key, f.Value)
		}
		files = append(files, backend.UpdateLogFile{Path: string(f.Key), Size: size, MaxPosition: ts})
	}
	// File names are zero-padded sequence numbers, so name order is age.
	slices.SortFunc(files, func(a, b backend.UpdateLogFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// RemoveUpdateLogs is RPC ulog_remove; the server always keeps the newest
// file.
func (b *Backend) RemoveUpdateLogs(ctx context.Context, before *uint64) error {
	var p params
	if before != nil {
		p.str("ts", strconv.FormatUint(*before, 10))
	}
	_, err := b.rpcOK(ctx, "ulog_remove", p, once)
	return noUpdateLog("ulog_remove", err)
}
