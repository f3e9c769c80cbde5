package tt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// firstBackoff is the pause before the first replication reconnect; it
// doubles up to Options.ReplBackoff.
const firstBackoff = 100 * time.Millisecond

// errPermanent marks a replication failure that reconnecting cannot cure.
type errPermanent struct{ err error }

func (e *errPermanent) Error() string { return e.err.Error() }
func (e *errPermanent) Unwrap() error { return e.err }

// replState is where a stream stands, so that a reconnect resumes exactly
// after the last record handled.
type replState struct {
	// pos is the stream position: the greatest record timestamp handled,
	// or the start position.
	pos uint64
	// startTS is the inclusive timestamp of the first request.
	startTS uint64
	// lastTS and sameTS: the timestamp of the newest record handled and how
	// many records with exactly that timestamp were handled. Timestamps are
	// not unique, so a reconnect asks for lastTS itself (the server's ts is
	// inclusive) and skips that many records, instead of asking for
	// lastTS+1 and losing the rest of that microsecond.
	lastTS uint64
	sameTS int
	// skip counts the records still to skip after a reconnect.
	skip int
}

func (s *replState) requestTS() uint64 {
	if s.sameTS > 0 {
		s.skip = s.sameTS
		return s.lastTS
	}
	s.skip = 0
	return s.startTS
}

// handled records that a record with ts was consumed.
func (s *replState) handled(ts uint64) {
	switch {
	case ts > s.lastTS || s.sameTS == 0:
		s.lastTS, s.sameTS = ts, 1
	case ts == s.lastTS:
		s.sameTS++
	}
	s.pos = max(s.pos, ts)
}

// Subscribe streams the server's update log with repl. Positions are the
// server's record timestamps (microseconds since the epoch). The server's
// requested timestamp is inclusive and must be at least 1, so After maps to
// After+1. Records that share a timestamp with After are therefore not
// resent: resuming from a position skips the rest of its microsecond, as
// Tokyo Tyrant's own slaves do. Internal reconnects do not lose them.
//
// Every record is the original command plus the outcome it had; failed
// commands (and misc reads) are not delivered as events, only as progress.
// A database filter may only name the server's database ("" or "0").
// ServerID 0 uses the URL's sid (by default 2147483647, which no master
// uses; the server refuses 0 and its own id).
//
// The first connection's failure is returned at once; once streaming, a lost
// connection is re-established with bounded backoff from where it stopped,
// and a stream silent for repl_timeout counts as lost. Close ends the
// subscription with backend.ErrUnavailable.
func (b *Backend) Subscribe(ctx context.Context, opts backend.SubscribeOptions, fn func(backend.Update) error) error {
	sid := opts.ServerID
	if sid == 0 {
		sid = b.opts.ReplSID
	}
	filter, err := replFilter(opts.Filter)
	if err != nil {
		return err
	}
	st := &replState{startTS: opts.After + 1}
	if opts.After == math.MaxUint64 {
		st.startTS = opts.After
	}
	if opts.Now {
		now, err := b.serverNow(ctx)
		if err != nil {
			return err
		}
		st.startTS = now
	}
	st.pos = st.startTS - 1
	backoff := min(firstBackoff, b.opts.ReplBackoff)
	streamed := false
	for {
		started, err := b.replSession(ctx, sid, st, filter, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var perm *errPermanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if started {
			streamed = true
			backoff = min(firstBackoff, b.opts.ReplBackoff)
		}
		if !streamed {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-b.pool.done:
			t.Stop()
			return b.classify(ctx, "repl", errClosed)
		case <-t.C:
		}
		backoff = min(backoff*2, b.opts.ReplBackoff)
	}
}

// replFilter checks the databases a filter names, which can only be the
// server's one, and names it as events do ("0").
func replFilter(f backend.Filter) (backend.Filter, error) {
	if len(f.DBs) == 0 {
		return f, nil
	}
	for _, db := range f.DBs {
		if err := checkDB(db); err != nil {
			return f, err
		}
	}
	f.DBs = []string{"0"}
	return f, nil
}

// serverNow reads the server's clock from stat, in microseconds, so that
// "from now on" does not depend on this host's clock.
func (b *Backend) serverNow(ctx context.Context) (uint64, error) {
	st, err := b.stat(ctx)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(st["time"], 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%s: repl: stat has no usable time line (%q) to start from now: %w", b.name, st["time"], backend.ErrFailed)
	}
	return uint64(f * 1e6), nil
}

// replSession runs one connection. started reports whether the handshake
// completed. Errors from fn and refusals come back as *errPermanent.
func (b *Backend) replSession(ctx context.Context, sid uint32, st *replState, filter backend.Filter, fn func(backend.Update) error) (started bool, err error) {
	nc, err := b.pool.dialRaw(ctx)
	if err != nil {
		if errors.Is(err, errClosed) {
			return false, &errPermanent{b.classify(ctx, "repl", err)}
		}
		return false, b.classify(ctx, "repl", err)
	}
	defer b.pool.releaseRaw(nc)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// Setting a deadline could undo the interrupt of a context that ended
	// just before: the context is checked after each one.
	deadline := func(d time.Duration) error {
		if err := nc.SetDeadline(time.Now().Add(d)); err != nil {
			return b.unavailable("repl", err)
		}
		return ctx.Err()
	}
	if err := deadline(b.opts.Timeout); err != nil {
		return false, err
	}
	req, err := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdRepl, TS: st.requestTS(), SID: sid})
	if err != nil {
		return false, &errPermanent{fmt.Errorf("%s: repl: %v: %w", b.name, err, backend.ErrInvalid)}
	}
	if _, err := nc.Write(req); err != nil {
		return false, b.classify(ctx, "repl", err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	master, err := ttwire.ReadReplSID(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return false, b.refusedRepl(ctx, sid)
		}
		return false, b.classify(ctx, "repl", err)
	}
	if master == 0 {
		return false, &errPermanent{fmt.Errorf("%s: repl: the server has no server id (-sid) and cannot be replicated from: %w", b.name, backend.ErrUnsupported)}
	}
	// A master without an update log closes right after its id; one with
	// a log always sends a NOP at once.
	if err := deadline(b.opts.Timeout); err != nil {
		return false, err
	}
	first, err := ttwire.ReadFrame(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return false, &errPermanent{fmt.Errorf("%s: repl: the server has no update log (-ulog) and cannot be replicated from: %w", b.name, backend.ErrUnsupported)}
		}
		return false, b.classify(ctx, "repl", err)
	}
	for f := first; ; {
		if err := b.replFrame(f, st, filter, fn); err != nil {
			return true, err
		}
		if err := deadline(b.opts.ReplTimeout); err != nil {
			return true, err
		}
		if f, err = ttwire.ReadFrame(br); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				return true, fmt.Errorf("%s: repl: nothing received for %v: %w", b.name, b.opts.ReplTimeout, backend.ErrTimeout)
			}
			return true, b.classify(ctx, "repl", err)
		}
	}
}

// replFrame hands one frame to fn.
func (b *Backend) replFrame(f *ttwire.Frame, st *replState, filter backend.Filter, fn func(backend.Update) error) error {
	if f.NOP {
		return callFn(fn, backend.Update{Position: st.pos})
	}
	if st.skip > 0 {
		if f.TS == st.lastTS {
			st.skip--
			return nil
		}
		st.skip = 0
	}
	ev, ok, err := eventFromRecord(f)
	if err != nil {
		return &errPermanent{fmt.Errorf("%s: repl: record at %d: %v: %w", b.name, f.TS, err, backend.ErrFailed)}
	}
	st.handled(f.TS)
	u := backend.Update{Position: st.pos}
	if ok && filter.Match(ev) {
		u.Event = ev
	}
	return callFn(fn, u)
}

func callFn(fn func(backend.Update) error, u backend.Update) error {
	if err := fn(u); err != nil {
		return &errPermanent{err}
	}
	return nil
}

// refusedRepl explains a master that closed without a byte: the server id
// is its own or the command is masked.
func (b *Backend) refusedRepl(ctx context.Context, sid uint32) error {
	st, err := b.stat(ctx)
	if err != nil {
		return err
	}
	if st["sid"] == strconv.FormatUint(uint64(sid), 10) {
		return &errPermanent{fmt.Errorf("%s: repl: server id %d is the master's own id; choose another server_id: %w", b.name, sid, backend.ErrInvalid)}
	}
	return &errPermanent{fmt.Errorf("%s: repl: the server refused to serve replication (started with -mask repl?): %w", b.name, backend.ErrUnsupported)}
}

// eventFromRecord decodes a record. ok is false for a command that failed
// where it first ran, and for a misc read: the log keeps them, but nothing
// changed.
func eventFromRecord(f *ttwire.Frame) (*backend.Event, bool, error) {
	req, status, err := ttwire.DecodeLogPayload(f.Payload)
	if err != nil {
		return nil, false, err
	}
	ev := &backend.Event{
		Position:  f.TS,
		OriginSID: f.SID,
		DB:        "0",
		Command:   req.Cmd.String(),
		Raw:       f.Payload,
	}
	switch req.Cmd {
	case ttwire.CmdPut, ttwire.CmdPutKeep:
		ev.Op, ev.Key, ev.Value = backend.OpSet, req.Key, req.Value
	case ttwire.CmdPutCat:
		ev.Op, ev.Key, ev.Value = backend.OpAppend, req.Key, req.Value
	case ttwire.CmdPutShl:
		ev.Op, ev.Key, ev.Value, ev.KeepLast = backend.OpAppend, req.Key, req.Value, uint32(req.Width)
	case ttwire.CmdOut:
		ev.Op, ev.Key = backend.OpRemove, req.Key
	case ttwire.CmdAddInt:
		ev.Op, ev.Key, ev.IntDelta = backend.OpIncrement, req.Key, int64(req.Int)
	case ttwire.CmdAddDouble:
		ev.Op, ev.Key, ev.DoubleDelta = backend.OpIncrementDouble, req.Key, req.Double.Float64()
	case ttwire.CmdSync:
		ev.Op = backend.OpSync
	case ttwire.CmdOptimize:
		ev.Op, ev.Args = backend.OpOptimize, [][]byte{[]byte(req.Params)}
	case ttwire.CmdVanish:
		ev.Op = backend.OpClear
	case ttwire.CmdMisc:
		ev.Op, ev.Command, ev.Args = backend.OpMisc, "misc:"+req.Name, req.Args
		// Another client's read, logged because it did not ask otherwise,
		// changed nothing.
		if read, _ := miscRead(req.Name, req.Args); read {
			return ev, false, nil
		}
	default:
		return nil, false, fmt.Errorf("%s cannot appear in an update log", req.Cmd)
	}
	return ev, status == ttwire.StatusOK, nil
}
