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
// indexes, names are resolved through the report once, and a miss reloads
// the list (the server may have been restarted with other databases).
type dbCache struct {
	mu    sync.Mutex
	list  []dbEntry
	types map[uint16]int // status "type" code of each database seen
}

// forget drops everything cached about the server's databases.
func (c *dbCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list, c.types = nil, nil
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
// index, anything else a name. Unknown databases are ErrNotFound.
func (b *Backend) resolveDB(ctx context.Context, db string) (uint16, error) {
	if db == "" || db == "0" {
		return 0, nil // every server has database 0
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
	list := b.dbs.list
	b.dbs.mu.Unlock()
	if idx, ok := find(list); ok {
		return uint16(idx), nil
	}
	list, err := b.loadDBs(ctx)
	if err != nil {
		return 0, err
	}
	if idx, ok := find(list); ok {
		return uint16(idx), nil
	}
	names := make([]string, len(list))
	for i, e := range list {
		names[i] = fmt.Sprintf("%d=%q", e.index, e.name)
	}
	return 0, fmt.Errorf("kt %s: %w: no database %q (the server has %s)", b.addr, backend.ErrNotFound, db, strings.Join(names, ", "))
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
// ("count=<n> size=<n> path=<path>").
func (b *Backend) loadDBs(ctx context.Context) ([]dbEntry, error) {
	report, err := b.Report(ctx)
	if err != nil {
		return nil, err
	}
	list := parseDBList(report)
	b.dbs.mu.Lock()
	b.dbs.list = list
	b.dbs.mu.Unlock()
	return list, nil
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
	idx, err := b.resolveDB(ctx, db)
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
	list, err := b.loadDBs(ctx)
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
	idx, err := b.resolveDB(ctx, db)
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
// server's replication; port 0, position 0 and interval 0 are left out so
// that the server keeps its current values. A server without an RTS file
// answers ErrUnsupported.
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
