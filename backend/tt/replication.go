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
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// errPermanent marks a replication failure that reconnecting cannot cure.
type errPermanent struct{ err error }

func (e *errPermanent) Error() string { return e.err.Error() }
func (e *errPermanent) Unwrap() error { return e.err }

// Positions. A record's position is its timestamp times posScale plus its
// index among the records of that timestamp, so that records logged in the
// same microsecond can be told apart and a stream can resume between them.
// The index saturates at maxIndex: the thousandth and later records of one
// microsecond share its last position.
const (
	posScale = 1000
	maxIndex = posScale - 1
	// maxPosTS is the largest timestamp whose positions fit a uint64.
	maxPosTS = (math.MaxUint64 - maxIndex) / posScale
)

// position is the position of the record with index i among those of
// timestamp ts. Timestamps too large to scale, which no real clock gives,
// take the largest position.
func position(ts, i uint64) uint64 {
	if ts > maxPosTS {
		return math.MaxUint64
	}
	return ts*posScale + min(i, maxIndex)
}

// positionTS is the server timestamp of a position: the microsecond its
// records were logged in.
func positionTS(p uint64) uint64 { return p / posScale }

// replState is where a stream stands, so that a reconnect resumes exactly
// after the last record handled.
type replState struct {
	// pos is the stream position: the greatest position handled, or the
	// start position.
	pos uint64
	// lastTS and sameTS: the timestamp of the newest record handled and how
	// many records with exactly that timestamp were handled (or are to be
	// taken as handled, after a start position; math.MaxUint64 stands for
	// all of them). The server's ts is inclusive, so a (re)connect asks for
	// lastTS itself and skips sameTS records of it, rather than asking for
	// lastTS+1 and losing the rest of that microsecond. sameTS is not
	// bounded by maxIndex, so reconnects stay exact even where positions
	// saturate.
	lastTS uint64
	sameTS uint64
	// skip counts the records of lastTS still to skip in this session.
	skip uint64
	// announce: report the next session's opening NOP. Only a stream
	// started from now has nothing to replay before it is caught up.
	announce bool
}

// newReplState starts a stream after position after (exclusive): the
// records of its timestamp up to its index count as handled. A saturated
// index stands for every later record of that microsecond too, since they
// all share that position.
func newReplState(after uint64) *replState {
	st := &replState{pos: after, lastTS: positionTS(after), sameTS: after%posScale + 1}
	switch {
	case after == 0:
		st.sameTS = 0
	case after%posScale == maxIndex:
		st.sameTS = math.MaxUint64
	}
	return st
}

// requestTS is the timestamp to ask the server for; it arms the skip of
// the records of that timestamp already handled. The server refuses ts 0,
// and no record has it.
func (s *replState) requestTS() uint64 {
	s.skip = s.sameTS
	return max(s.lastTS, 1)
}

// handled records that a record with ts was consumed and returns its
// position. A record older than the newest handled one (the server's clock
// went back) takes the stream's position: resuming from the timestamp it
// carries would resend everything logged after it, and the server does
// not resend it after a resume from a later one.
func (s *replState) handled(ts uint64) uint64 {
	switch {
	case ts > s.lastTS || s.sameTS == 0:
		s.lastTS, s.sameTS = ts, 1
	case ts == s.lastTS:
		if s.sameTS < math.MaxUint64 {
			s.sameTS++
		}
	default:
		return s.pos
	}
	s.pos = max(s.pos, position(ts, s.sameTS-1))
	return s.pos
}

// Subscribe streams the server's update log with repl.
//
// A position is the record's timestamp (microseconds since the epoch)
// times 1000 plus the record's index among the records of that
// microsecond, counted from 0 in log order: ts*1000 + i. Positions are
// therefore unique and exact for up to 1000 records per microsecond; the
// index stops at 999, so the 1000th and later records of one microsecond
// share the position ts*1000+999 and cannot be told apart (resuming after
// that position skips the rest of the microsecond). Resuming after a
// position P asks the server for timestamp P/1000 (its ts is inclusive;
// 1 when P/1000 is 0), skips the records of that microsecond whose index
// is at most P%1000 and delivers everything after them. After 0 replays
// the whole retained log. Progress updates carry the position of the last
// record handled. The master opens every session with a NOP before it has
// read its log, so that NOP is not reported: the first progress update
// follows the records the log held (TT's next NOP comes after them). Only
// a stream from now, which has nothing to replay, reports it, at once. A record logged while the server's clock stood behind
// an earlier one takes that earlier record's position, and is not resent
// to a stream resumed after it: positions follow TT's timestamps, which a
// clock stepping back makes ambiguous.
//
// Every record is the original command plus the outcome it had; failed
// commands (and misc reads) are not delivered as events, only as progress.
// A database filter may only name the server's database ("" or "0").
// ServerID 0 uses the URL's sid (by default 2147483647, which no master
// uses; the server refuses 0 and its own id).
//
// The first connection's failure is returned at once. Once streaming, a
// lost connection is re-established from the exact position where it
// stopped (nothing lost, nothing repeated), waiting 100ms, then twice as
// long after each failure up to repl_backoff; after repl_reconnects failed
// attempts in a row Subscribe gives up with backend.ErrUnavailable. A
// stream silent for repl_timeout counts as lost. Close ends the
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
	after := opts.After
	if opts.Now {
		now, err := b.serverNow(ctx)
		if err != nil {
			return err
		}
		// Just before the current microsecond's first record.
		if after = position(now, 0); after > 0 {
			after--
		}
	}
	st := newReplState(after)
	st.announce = opts.Now
	backoff := b.opts.ReplBackoff
	streamed, failures := false, 0
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
			streamed, failures = true, 0
			backoff = b.opts.ReplBackoff
		}
		if !streamed {
			return err
		}
		failures++
		if failures > b.replReconnects() {
			return fmt.Errorf("%s: repl: the stream broke and %d attempts in a row to reopen it at position %d failed (repl_reconnects=%d); last error: %v: %w",
				b.name, failures-1, st.pos, b.replReconnects(), err, backend.ErrUnavailable)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-b.pool.Done():
			t.Stop()
			return b.classify(ctx, "repl", connpool.ErrClosed)
		case <-t.C:
		}
		backoff = min(backoff*2, b.opts.ReplMaxBackoff)
	}
}

// replReconnects is how many failed reconnects in a row a subscription
// tolerates.
func (b *Backend) replReconnects() int { return max(b.opts.ReplReconnects, 0) }

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
	nc, err := b.pool.DialStream(ctx)
	if err != nil {
		if errors.Is(err, connpool.ErrClosed) {
			return false, &errPermanent{b.classify(ctx, "repl", err)}
		}
		return false, b.classify(ctx, "repl", err)
	}
	defer b.pool.ReleaseStream(nc)
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
	if b.replSessionHook != nil {
		b.replSessionHook()
	}
	for f := first; ; {
		if f != first || !f.NOP || st.announce {
			st.announce = false
			if err := b.replFrame(f, st, filter, fn); err != nil {
				return true, err
			}
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
		return &errPermanent{fmt.Errorf("%s: repl: record at %d µs: %v: %w", b.name, f.TS, err, backend.ErrFailed)}
	}
	ev.Position = st.handled(f.TS)
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

// eventFromRecord decodes a record; the caller sets its position. ok is
// false for a command that failed where it first ran, and for a misc read:
// the log keeps them, but nothing changed.
func eventFromRecord(f *ttwire.Frame) (*backend.Event, bool, error) {
	req, status, err := ttwire.DecodeLogPayload(f.Payload)
	if err != nil {
		return nil, false, err
	}
	ev := &backend.Event{
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

// CheckFilter checks the databases f names, which can only be the server's
// one, and names it as events do ("0").
func (b *Backend) CheckFilter(_ context.Context, f backend.Filter) (backend.Filter, error) {
	return replFilter(f)
}
