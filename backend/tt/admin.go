package tt

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// stat reads and parses the server's stat text.
func (b *Backend) stat(ctx context.Context) (map[string]string, error) {
	rep, err := b.one(ctx, "stat", true, &ttwire.Request{Cmd: ttwire.CmdStat})
	if err != nil {
		return nil, err
	}
	st := ttwire.ParseStat(rep.Value)
	_, _ = b.learnKind(st)
	return st, nil
}

// Status pipelines rnum, size and stat: the counts come from the first two,
// Fields from stat.
func (b *Backend) Status(ctx context.Context, db string) (backend.Status, error) {
	if err := checkDB(db); err != nil {
		return backend.Status{}, err
	}
	reps, err := b.do(ctx, "status", true,
		&ttwire.Request{Cmd: ttwire.CmdRNum}, &ttwire.Request{Cmd: ttwire.CmdSize}, &ttwire.Request{Cmd: ttwire.CmdStat})
	if err != nil {
		return backend.Status{}, err
	}
	st := ttwire.ParseStat(reps[2].Value)
	_, _ = b.learnKind(st)
	return backend.Status{
		Count:  int64(min(reps[0].Num, math.MaxInt64)),
		Size:   int64(min(reps[1].Num, math.MaxInt64)),
		Fields: st,
	}, nil
}

// Report returns stat's fields.
func (b *Backend) Report(ctx context.Context) (map[string]string, error) {
	return b.stat(ctx)
}

// Clear removes every record with vanish.
func (b *Backend) Clear(ctx context.Context, db string) error {
	return b.simple(ctx, db, "vanish", &ttwire.Request{Cmd: ttwire.CmdVanish})
}

// Synchronize flushes the database with sync, which always reaches the
// device; the server cannot run a command afterwards.
func (b *Backend) Synchronize(ctx context.Context, db string, hard bool, command string) error {
	if command != "" {
		if err := checkDB(db); err != nil {
			return err
		}
		return fmt.Errorf("%s: sync: Tokyo Tyrant cannot run a command after synchronising; leave command empty: %w", b.name, backend.ErrUnsupported)
	}
	return b.simple(ctx, db, "sync", &ttwire.Request{Cmd: ttwire.CmdSync})
}

// Vacuum defragments with misc "defrag" (steps 0: all of it). Records never
// expire on the server, so there is nothing else to purge; on-memory
// databases have no defrag and nothing to do. The call stays out of the
// update log: slaves manage their own files.
func (b *Backend) Vacuum(ctx context.Context, db string, steps int64) error {
	if err := checkDB(db); err != nil {
		return err
	}
	if steps < 0 {
		return fmt.Errorf("%s: vacuum: negative steps %d: %w", b.name, steps, backend.ErrInvalid)
	}
	kind, err := b.dbKind(ctx)
	if err != nil {
		return err
	}
	switch kind {
	case kindHash, kindBTree, kindTable:
	default:
		return nil
	}
	var args [][]byte
	if steps > 0 {
		args = [][]byte{[]byte(strconv.FormatInt(steps, 10))}
	}
	_, ok, err := b.misc(ctx, "defrag", args, true)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: misc defrag: the server reported failure: %w", b.name, backend.ErrFailed)
	}
	return nil
}

// Databases describes the server's single database.
func (b *Backend) Databases(ctx context.Context) ([]backend.DatabaseInfo, error) {
	info := backend.DatabaseInfo{Index: 0, Name: "0", Backend: b.name, Healthy: true}
	st, err := b.stat(ctx)
	if err != nil {
		info.Healthy, info.Error = false, err.Error()
		if k := dbKind(b.kind.Load()); k != kindUnknown {
			info.Kind = k.String()
		}
		return []backend.DatabaseInfo{info}, nil
	}
	info.Kind = st["type"]
	return []backend.DatabaseInfo{info}, nil
}

// Ping asks for rnum (or stat, while the database type is unknown).
func (b *Backend) Ping(ctx context.Context) error {
	if dbKind(b.kind.Load()) == kindUnknown {
		_, err := b.stat(ctx)
		return err
	}
	_, err := b.one(ctx, "rnum", true, &ttwire.Request{Cmd: ttwire.CmdRNum})
	return err
}

// simple runs a command whose reply is a status byte alone.
func (b *Backend) simple(ctx context.Context, db, op string, req *ttwire.Request) error {
	if err := checkDB(db); err != nil {
		return err
	}
	rep, err := b.one(ctx, op, false, req)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return b.refused(op)
	}
	return nil
}

// Optimize rebuilds the database with a Tokyo Cabinet tuning string (for
// example "bnum=1000000#opts=ld"); empty keeps the current tuning.
func (b *Backend) Optimize(ctx context.Context, db string, params string) error {
	return b.simple(ctx, db, "optimize", &ttwire.Request{Cmd: ttwire.CmdOptimize, Params: params})
}

// Copy makes a hot backup at path on the server's host; a leading "@" runs
// the rest as a command there instead.
func (b *Backend) Copy(ctx context.Context, db string, path string) error {
	if path == "" {
		return fmt.Errorf("%s: copy: empty path: %w", b.name, backend.ErrInvalid)
	}
	return b.simple(ctx, db, "copy", &ttwire.Request{Cmd: ttwire.CmdCopy, Path: path})
}

// Restore replays the update-log directory path on the server's host from
// position on. Positions are Subscribe's (ts*1000 + index); the server
// takes a timestamp, so restore starts at position/1000 microseconds,
// inclusive: every record of that microsecond is replayed, including any
// logged before position within it. Never point it at the server's own
// update-log directory: each replayed record is appended to the log being
// read, and the call never ends.
func (b *Backend) Restore(ctx context.Context, db string, path string, position uint64, checkConsistency bool) error {
	if path == "" {
		return fmt.Errorf("%s: restore: empty path: %w", b.name, backend.ErrInvalid)
	}
	req := &ttwire.Request{Cmd: ttwire.CmdRestore, Path: path, TS: positionTS(position)}
	if checkConsistency {
		req.Opts = ttwire.CheckConsistency
	}
	return b.simple(ctx, db, "restore", req)
}

// SetMaster makes the server replicate from host:port after position, a
// Subscribe position (ts*1000 + index); 0 keeps the slave's saved
// position. An empty host stops replication. The server keeps only a
// timestamp, position/1000 microseconds (at least 1, so that a non-zero
// position never reads as "keep"), as the last one applied, and resumes
// at the next microsecond: any records of that microsecond after position
// are not replicated, as with Tokyo Tyrant's own slaves.
func (b *Backend) SetMaster(ctx context.Context, host string, port int, position uint64, checkConsistency bool) error {
	if port < 0 || port > math.MaxInt32 || (host != "" && (port < 1 || port > 65535)) {
		return fmt.Errorf("%s: setmst: port %d out of range 1..65535: %w", b.name, port, backend.ErrInvalid)
	}
	var ts uint64
	if position > 0 {
		ts = max(positionTS(position), 1)
	}
	req := &ttwire.Request{Cmd: ttwire.CmdSetMst, Host: host, Port: int32(port), TS: ts}
	if checkConsistency {
		req.Opts = ttwire.CheckConsistency
	}
	return b.simple(ctx, "", "setmst", req)
}

// Misc calls a misc function as is. noUpdateLog keeps the call out of the
// update log. Known reads (get, getlist, getpart, regex, range, error,
// iterinit, iternext, and search / metasearch without an out directive) are
// always kept out of it, because the server would otherwise log them and
// replay them on every slave. The reads that leave no trace on the server
// are also the calls retried after a dropped connection; iterinit and
// iternext move the shared iterator and are not.
func (b *Backend) Misc(ctx context.Context, db string, name string, args [][]byte, noUpdateLog bool) ([][]byte, bool, error) {
	if err := checkDB(db); err != nil {
		return nil, false, err
	}
	if name == "" {
		return nil, false, fmt.Errorf("%s: misc: empty function name: %w", b.name, backend.ErrInvalid)
	}
	if err := b.checkMisc(ctx, name, args); err != nil {
		return nil, false, err
	}
	read, idempotent := miscRead(name, args)
	req := &ttwire.Request{Cmd: ttwire.CmdMisc, Name: name, Args: args}
	if noUpdateLog || read {
		req.Opts = ttwire.MiscNoUpdateLog
	}
	rep, err := b.one(ctx, "misc "+name, idempotent, req)
	if err != nil {
		return nil, false, err
	}
	if !rep.OK() {
		return nil, false, nil
	}
	return rep.Elems, true, nil
}

// miscRead reports whether a misc call changes no record (read), and
// whether it changes nothing at all on the server, so that running it
// twice is harmless (idempotent).
func miscRead(name string, args [][]byte) (read, idempotent bool) {
	switch name {
	case "get", "getlist", "getpart", "regex", "range", "error":
		return true, true
	case "iterinit", "iternext":
		return true, false
	case "search", "metasearch":
		for _, a := range args {
			verb, _, _ := bytes.Cut(a, []byte{0})
			if string(verb) == "out" || string(verb) == "remove" {
				return false, false
			}
		}
		return true, true
	}
	return false, false
}
