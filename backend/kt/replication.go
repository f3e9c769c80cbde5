package kt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// errRefused is the master's 0xBF answer to a replication request.
var errRefused = errors.New("replication refused")

// fnError carries the error of the subscriber's callback out of a session.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

// Subscribe follows the server's update log over the binary replication
// protocol (0xB1).
//
// The stream starts after opts.After (KT's timestamps are exclusive, like
// After) or, with opts.Now, at the server's current clock. It presents
// opts.ServerID (or the URL's sid), so that the server withholds changes
// that originated there. Every frame becomes an Update: a data record with
// its Event (nil when the filter withholds it), and a NOP or filler with no
// Event. NOPs are acknowledged at once, as the master requires. The
// position only grows: it is the largest of the record, filler and NOP
// timestamps seen, since a NOP can carry a timestamp below the requested
// one.
//
// Events: USET is OpSet with the 5-byte expiration prefix removed (not on
// databases with ktopts=p, which store none), UREMOVE is OpRemove and UCLEAR
// OpClear; Command is "set", "remove" or "clear", DB is the database index
// and Raw the logged message.
//
// When an established stream breaks, Subscribe reopens it from the last
// position it delivered, waiting backoff, then twice as long after each
// failure up to max_backoff, and gives up with ErrUnavailable after
// reconnects failures in a row. A first connection that fails is reported
// at once. It returns ctx.Err() when ctx ends, and ErrUnsupported when the
// server has no update log.
func (b *Backend) Subscribe(ctx context.Context, opts backend.SubscribeOptions, fn func(backend.Update) error) error {
	sid := uint16(b.opts.SID)
	if opts.ServerID != 0 {
		if opts.ServerID > 65535 {
			return fmt.Errorf("kt subscribe: %w: server id %d does not fit KT's 16 bits", backend.ErrInvalid, opts.ServerID)
		}
		sid = uint16(opts.ServerID)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.life, cancel)()
	ended := func() error {
		if parent.Err() != nil {
			return parent.Err()
		}
		return fmt.Errorf("kt subscribe on %s: %w: %w", b.addr, backend.ErrUnavailable, connpool.ErrClosed)
	}

	filter, err := b.normalizeFilter(ctx, opts.Filter)
	if err != nil {
		return err
	}
	st := &stream{b: b, sid: sid, want: opts.Filter, filter: filter, fn: fn, pos: opts.After}
	if opts.Now {
		if st.pos, err = b.serverClock(ctx); err != nil {
			return err
		}
	}
	backoff, failures, established := b.opts.ReplBackoff, 0, false
	for {
		progressed, err := st.session(ctx)
		if ctx.Err() != nil {
			return ended()
		}
		var fe *fnError
		switch {
		case errors.As(err, &fe):
			return fe.err
		case errors.Is(err, backend.ErrInvalid):
			// A database of the filter is gone (see refresh).
			return err
		case errors.Is(err, errRefused):
			return fmt.Errorf("kt subscribe on %s: %w: the server refused replication (0xBF): it keeps no update log (start ktserver with -ulog and -sid)", b.addr, backend.ErrUnsupported)
		case errors.Is(err, ktwire.ErrProtocol):
			return fmt.Errorf("kt subscribe on %s at position %d: %w: %w", b.addr, st.pos, backend.ErrFailed, err)
		}
		if progressed {
			established, failures, backoff = true, 0, b.opts.ReplBackoff
		}
		if !established {
			return b.connError(ctx, "subscribe", err)
		}
		failures++
		if failures > b.opts.ReplReconnects {
			return fmt.Errorf("kt subscribe on %s: %w: the stream broke and %d attempts to reopen it from position %d failed; last error: %v", b.addr, backend.ErrUnavailable, failures-1, st.pos, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ended()
		case <-t.C:
		}
		backoff = min(2*backoff, b.opts.ReplMaxBackoff)
	}
}

// stream is one subscription's state across sessions.
type stream struct {
	b   *Backend
	sid uint16
	// want is the filter as asked for; filter has its databases as the
	// index strings that events carry.
	want, filter backend.Filter
	fn           func(backend.Update) error
	pos          uint64
	// persist says which databases store values without the expiration
	// prefix; nil until the server has told.
	persist map[uint16]bool
}

// refresh reads the server's databases at the start of every session: a
// stream that broke may meet a restarted server with other databases, and
// the filter's names may stand for other indexes. A failure keeps the
// previous values (the session's own dial then reports an unreachable
// server), except that a database of the filter that no longer exists ends
// the subscription with ErrNotFound.
func (st *stream) refresh(ctx context.Context) error {
	if persist := st.b.persistentDBs(ctx); persist != nil {
		st.persist = persist
	}
	filter, err := st.b.normalizeFilter(ctx, st.want)
	switch {
	case err == nil:
		st.filter = filter
	case errors.Is(err, backend.ErrInvalid):
		return err
	}
	return nil
}

// session runs one replication connection until it breaks. progressed
// reports whether the master accepted and sent at least one frame.
func (st *stream) session(ctx context.Context) (progressed bool, err error) {
	b := st.b
	if err := st.refresh(ctx); err != nil {
		return false, err
	}
	nc, err := b.pool.DialStream(ctx)
	if err != nil {
		return false, err
	}
	// Closing, not a past deadline, ends the session on cancellation: the
	// loop sets fresh deadlines, which would undo a past one.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	defer b.pool.ReleaseStream(nc)

	_ = nc.SetDeadline(time.Now().Add(b.opts.Timeout))
	if _, err := nc.Write(ktwire.AppendReplicationRequest(nil, 0, st.pos, st.sid)); err != nil {
		return false, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	if err := ktwire.ReadReplicationAccept(br); err != nil {
		if err == ktwire.ErrServer {
			return false, errRefused
		}
		return false, err
	}
	ack := []byte{ktwire.NOPAck}
	for {
		// An idle master sends a NOP about every 0.1 s; silence for the
		// whole timeout means the connection is dead.
		_ = nc.SetReadDeadline(time.Now().Add(b.opts.ReplTimeout))
		f, err := ktwire.ReadFrame(br)
		if err != nil {
			return progressed, err
		}
		progressed = true
		var ev *backend.Event
		switch f.Kind {
		case ktwire.FrameNOP:
			_ = nc.SetWriteDeadline(time.Now().Add(b.opts.Timeout))
			if _, err := nc.Write(ack); err != nil {
				return true, err
			}
		case ktwire.FrameData:
			if ev, err = st.event(f); err != nil {
				return true, err
			}
			if !st.filter.Match(ev) {
				ev = nil
			}
		}
		st.pos = max(st.pos, f.TS)
		if err := st.fn(backend.Update{Position: st.pos, Event: ev}); err != nil {
			return true, &fnError{err}
		}
	}
}

// event decodes a data frame.
func (st *stream) event(f ktwire.Frame) (*backend.Event, error) {
	m, err := ktwire.ParseMessage(f.Message)
	if err != nil {
		return nil, err
	}
	ev := &backend.Event{
		Position:  f.TS,
		OriginSID: uint32(m.SID),
		DB:        strconv.Itoa(int(m.DB)),
		Key:       m.Key,
		Raw:       f.Message,
	}
	switch m.Op {
	case ktwire.OpSet:
		ev.Op, ev.Command, ev.Value = backend.OpSet, "set", m.Value
		if !st.persist[m.DB] {
			if xt, user, ok := ktwire.SplitXT(m.Value); ok {
				ev.Value, ev.ExpireTime = user, expireTime(xt)
			}
		}
	case ktwire.OpRemove:
		ev.Op, ev.Command = backend.OpRemove, "remove"
	case ktwire.OpClear:
		ev.Op, ev.Command = backend.OpClear, "clear"
	default:
		// KT 0.9 emits no other operation; pass a future one through raw.
		ev.Op, ev.Command = backend.OpMisc, fmt.Sprintf("op 0x%02X", m.Op)
	}
	return ev, nil
}

// persistentDBs asks the server which databases have ktopts=p, whose
// replicated values carry no expiration prefix; it reads the database list
// afresh, and caches it. The answer is best effort: it is nil on failure.
func (b *Backend) persistentDBs(ctx context.Context) map[uint16]bool {
	list, _, err := b.loadDBs(ctx)
	if err != nil {
		return nil
	}
	persist := map[uint16]bool{}
	for _, e := range list {
		fields, err := b.status(ctx, uint16(e.index))
		if err != nil {
			return nil
		}
		opts, _ := strconv.ParseInt(fields["ktopts"], 10, 64)
		persist[uint16(e.index)] = opts&ktoptsPersist != 0
	}
	return persist
}

// normalizeFilter rewrites the filter's database selectors (names, "" for
// the default) as the index strings that events carry.
func (b *Backend) normalizeFilter(ctx context.Context, f backend.Filter) (backend.Filter, error) {
	if len(f.DBs) == 0 {
		return f, nil
	}
	dbs := make([]string, len(f.DBs))
	for i, db := range f.DBs {
		_, idx, err := b.resolveDB(ctx, db)
		if err != nil {
			return f, err
		}
		dbs[i] = strconv.Itoa(int(idx))
	}
	f.DBs = dbs
	return f, nil
}

// serverClock returns a position one second before the server's current
// time, from the report's serv_current_time (epoch seconds with a
// fraction), in the update log's unit (milliseconds * 10^6 + counter).
// Kyoto Tycoon stamps logged changes with a clock that can trail
// serv_current_time (changes acknowledged after the report have been seen
// stamped milliseconds, under load seconds, earlier); its own NOPs keep the
// same one-second margin. Starting earlier may deliver a change made just
// before the subscription; starting at the reported time would lose ones
// made just after it.
func (b *Backend) serverClock(ctx context.Context) (uint64, error) {
	report, err := b.Report(ctx)
	if err != nil {
		return 0, err
	}
	ms := time.Now().UnixMilli()
	if v, ok := report["serv_current_time"]; ok {
		secText, fracText, _ := strings.Cut(v, ".")
		fracText = (fracText + "000")[:3]
		sec, err1 := strconv.ParseInt(secText, 10, 64)
		frac, err2 := strconv.ParseInt(fracText, 10, 64)
		if err1 == nil && err2 == nil {
			ms = sec*1000 + frac
		}
	}
	return uint64(ms-nowMarginMillis) * 1_000_000, nil
}

// nowMarginMillis is how far before the server's clock a subscription from
// now starts; see serverClock.
const nowMarginMillis = 1000

// CheckFilter checks the databases f names and rewrites them as events
// name them (database indexes).
func (b *Backend) CheckFilter(ctx context.Context, f backend.Filter) (backend.Filter, error) {
	return b.normalizeFilter(ctx, f)
}

// CheckRetained tells whether the server's update log still holds every
// change after after. KT itself resumes silently at its oldest retained
// change; ulog_list lets the gateway tell. Log files are numbered from 1
// and only ever removed from the oldest end, so while the oldest file is
// the first one nothing was removed. Otherwise a position at or past the
// oldest file's newest change is safe, and an older one is compared with
// the oldest retained change, read from the head of the log: ulog_list
// names only each file's newest change. A position just before that change
// passes; one further back may have lost the removed changes after it, and
// is out of range even where none were there.
func (b *Backend) CheckRetained(ctx context.Context, after uint64) error {
	if after == 0 {
		return nil
	}
	files, err := b.ListUpdateLogs(ctx)
	if errors.Is(err, backend.ErrUnsupported) {
		// Subscribe reports a server without a log.
		return nil
	}
	if err != nil {
		return err
	}
	if len(files) == 0 || logFileID(files[0].Path) <= 1 || after >= files[0].MaxPosition {
		return nil
	}
	oldest, err := b.oldestLogPosition(ctx)
	if err != nil {
		return err
	}
	if oldest > 0 && after+1 < oldest {
		return fmt.Errorf("kt subscribe on %s: update log position %d is older than the retained log (oldest retained position %d, in %s; older log files were removed); resubscribe from 0 or from now: %w",
			b.addr, after, oldest, files[0].Path, backend.ErrOutOfRange)
	}
	return nil
}

// logFileID is the number of an update-log file (<dir>/<10 digits>.ulog);
// 0 when the name has none.
func logFileID(path string) uint64 {
	base := path[strings.LastIndexByte(path, '/')+1:]
	id, err := strconv.ParseUint(strings.TrimSuffix(base, ".ulog"), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// oldestLogPosition reads the position of the oldest change the server
// retains: the first record of a replication session from the start. It
// is 0 when the log holds none.
func (b *Backend) oldestLogPosition(ctx context.Context) (uint64, error) {
	nc, err := b.pool.DialStream(ctx)
	if err != nil {
		return 0, b.connError(ctx, "subscribe", err)
	}
	defer b.pool.ReleaseStream(nc)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	_ = nc.SetDeadline(time.Now().Add(b.opts.Timeout))
	br := bufio.NewReader(nc)
	if _, err = nc.Write(ktwire.AppendReplicationRequest(nil, 0, 0, uint16(b.opts.SID))); err == nil {
		err = ktwire.ReadReplicationAccept(br)
	}
	if err != nil {
		return 0, b.connError(ctx, "subscribe", err)
	}
	// The gateway's server id is no server's, so nothing is withheld and
	// the first frame is the oldest record; a NOP first means the log
	// holds none.
	f, err := ktwire.ReadFrame(br)
	switch {
	case err != nil:
		return 0, b.connError(ctx, "subscribe", err)
	case f.Kind == ktwire.FrameNOP:
		return 0, nil
	}
	return f.TS, nil
}
