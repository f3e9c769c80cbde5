package tt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/testclock"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// replWrites makes one change of every logged kind, plus failures and
// reads that must not come out as events. It returns the events expected,
// as "command key".
func replWrites(t *testing.T, b *tt.Backend, addr string) []string {
	ctx := ctxT(t)
	never := backend.Expiry{}
	k := func(s string) []byte { return []byte(s) }
	mustOK(t, b.Set(ctx, "", k("a"), k("1"), never, backend.WriteOptions{}))
	if ok, _ := b.Add(ctx, "", k("a"), k("2"), never); ok {
		t.Fatal("putkeep on an existing key")
	}
	mustOK(t, b.Append(ctx, "", k("a"), k("23"), never, 0))
	mustOK(t, b.Append(ctx, "", k("a"), k("45"), never, 3))
	mustOK(t, b.Set(ctx, "", k("nr"), k("x"), never, backend.WriteOptions{NoReply: true}))
	if ok, _ := b.Remove(ctx, "", k("missing")); ok {
		t.Fatal("out of a missing key")
	}
	if ok, _ := b.Remove(ctx, "", k("nr")); !ok {
		t.Fatal("out")
	}
	_, _, err := b.Increment(ctx, "", k("n"), 7, backend.IncrementOptions{})
	mustOK(t, err)
	_, _, err = b.IncrementDouble(ctx, "", k("d"), 2.5, backend.IncrementDoubleOptions{})
	mustOK(t, err)
	// Reads are kept out of the log even when the caller does not ask.
	_, _, err = b.Misc(ctx, "", "getlist", [][]byte{k("a")}, false)
	mustOK(t, err)
	_, _, err = b.Misc(ctx, "", "range", nil, false)
	mustOK(t, err)
	_, ok, err := b.Misc(ctx, "", "putlist", [][]byte{k("m1"), k("v1"), k("m2"), k("v2")}, false)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	// iterinit and iternext through misc only move the shared iterator.
	_, _, err = b.Misc(ctx, "", "iterinit", nil, false)
	mustOK(t, err)
	// Another client's read, sent without the no-update-log option, is in
	// the log but is not a change.
	rawMisc(t, addr, "getlist", 0, k("a"))
	mustOK(t, b.Synchronize(ctx, "", false, ""))
	mustOK(t, b.Optimize(ctx, "", ""))
	mustOK(t, b.Clear(ctx, ""))
	return []string{"put a", "putcat a", "putshl a", "put nr", "out nr", "addint n", "adddouble d", "misc:putlist ", "sync ", "optimize ", "vanish "}
}

// rawMisc sends one misc request on a connection of its own, as another
// client of the server would, and checks that it succeeded.
func rawMisc(t *testing.T, addr, name string, opts uint32, args ...[]byte) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	mustOK(t, err)
	defer nc.Close()
	mustOK(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = nc.Write(req(t, &ttwire.Request{Cmd: ttwire.CmdMisc, Name: name, Opts: opts, Args: args}))
	mustOK(t, err)
	rep, err := ttwire.ReadReply(nc, ttwire.CmdMisc)
	mustOK(t, err)
	if !rep.OK() {
		t.Fatalf("misc %s failed", name)
	}
}

// serverMicros reads the server's clock from stat, in microseconds. Every
// record logged after the call has a timestamp at least this large.
func serverMicros(t *testing.T, b *tt.Backend) uint64 {
	t.Helper()
	rep, err := b.Report(ctxT(t))
	mustOK(t, err)
	sec, frac, _ := strings.Cut(rep["time"], ".")
	s, err1 := strconv.ParseUint(sec, 10, 64)
	us, err2 := strconv.ParseUint((frac + "000000")[:6], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("stat time %q", rep["time"])
	}
	return s*1_000_000 + us
}

func describe(e *backend.Event) string { return e.Command + " " + string(e.Key) }

// collect subscribes and returns the events until want of them arrived,
// with the position of each update. onEvent runs after each event.
func collect(t *testing.T, b *tt.Backend, opts backend.SubscribeOptions, want int, onEvent func(n int)) ([]*backend.Event, []uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var evs []*backend.Event
	var positions []uint64
	err := b.Subscribe(ctx, opts, func(u backend.Update) error {
		if n := len(positions); n > 0 && u.Position < positions[n-1] {
			t.Errorf("position went back from %d to %d", positions[n-1], u.Position)
		}
		positions = append(positions, u.Position)
		if u.Event == nil {
			return nil
		}
		evs = append(evs, u.Event)
		if onEvent != nil {
			onEvent(len(evs))
		}
		if len(evs) == want {
			cancel()
		}
		return nil
	})
	if len(evs) < want {
		t.Fatalf("subscribe ended after %d of %d events: %v", len(evs), want, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe returned %v, want the context's error", err)
	}
	return evs, positions
}

// TestTTReplicationProgressAfterReplay: the master opens a stream with a
// NOP before it reads its log; the first progress update comes only after
// the records the log held, at a position no lower than the last of them.
func TestTTReplicationProgressAfterReplay(t *testing.T) {
	srv := tttest.Start(t, tttest.WithReplInterval(10*time.Millisecond))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "")
	ctx := ctxT(t)
	var want []string
	for i := range 5 {
		k := fmt.Sprintf("k%d", i)
		mustOK(t, b.Set(ctx, "", []byte(k), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
		want = append(want, "put "+k)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []string
	var last, progress uint64
	err := b.Subscribe(sctx, backend.SubscribeOptions{}, func(u backend.Update) error {
		if u.Event != nil {
			got = append(got, describe(u.Event))
			last = u.Event.Position
			return nil
		}
		progress = u.Position
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	eqStrs(t, "events before the first progress", got, want...)
	if progress < last || progress == 0 {
		t.Fatalf("first progress at %d, want at least the last replayed event's %d", progress, last)
	}
}

func TestTTReplication(t *testing.T) {
	eachFixture(t, "tt-hash", "TT_ADDR", func(t *testing.T, f fixture) {
		b := f.open(t, "")
		// A real server's log holds whatever ran before: start where this
		// test begins, just before the first position of its microsecond
		// (positions are ts*1000 + index).
		start := serverMicros(t, b)*1000 - 1
		want := replWrites(t, b, f.addr)
		evs, _ := collect(t, b, backend.SubscribeOptions{After: start}, len(want), nil)
		var got []string
		for i, e := range evs {
			if i > 0 && e.Position <= evs[i-1].Position {
				t.Errorf("event %d at position %d, not after %d", i, e.Position, evs[i-1].Position)
			}
			got = append(got, describe(e))
			if e.DB != "0" || e.OriginSID != 1 || !bytes.HasPrefix(e.Raw, []byte{0xC8}) || e.Position == 0 {
				t.Errorf("event %s: db %q sid %d raw %x pos %d", describe(e), e.DB, e.OriginSID, e.Raw, e.Position)
			}
		}
		eqStrs(t, "events", got, want...)
		byCmd := map[string]*backend.Event{}
		for _, e := range evs {
			if byCmd[e.Command] == nil {
				byCmd[e.Command] = e
			}
		}
		checks := []struct {
			ok   bool
			what string
		}{
			{byCmd["put"].Op == backend.OpSet && string(byCmd["put"].Value) == "1", "put"},
			{byCmd["putcat"].Op == backend.OpAppend && string(byCmd["putcat"].Value) == "23" && byCmd["putcat"].KeepLast == 0, "putcat"},
			{byCmd["putshl"].Op == backend.OpAppend && byCmd["putshl"].KeepLast == 3, "putshl"},
			{byCmd["out"].Op == backend.OpRemove, "out"},
			{byCmd["addint"].Op == backend.OpIncrement && byCmd["addint"].IntDelta == 7, "addint"},
			{byCmd["adddouble"].Op == backend.OpIncrementDouble && byCmd["adddouble"].DoubleDelta == 2.5, "adddouble"},
			{byCmd["misc:putlist"].Op == backend.OpMisc && len(byCmd["misc:putlist"].Args) == 4 && string(byCmd["misc:putlist"].Args[3]) == "v2", "misc"},
			{byCmd["sync"].Op == backend.OpSync, "sync"},
			{byCmd["optimize"].Op == backend.OpOptimize && len(byCmd["optimize"].Args) == 1, "optimize"},
			{byCmd["vanish"].Op == backend.OpClear, "vanish"},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%s event: %+v", c.what, byCmd[strings.Fields(c.what)[0]])
			}
		}

		// Resuming after any event's position delivers exactly the events
		// logged after it, even where timestamps repeat.
		for _, k := range []int{0, 4, len(evs) - 2} {
			after := evs[k].Position
			var rest []string
			for _, e := range evs {
				if e.Position > after {
					rest = append(rest, describe(e))
				}
			}
			if len(rest) == 0 {
				continue
			}
			resumed, _ := collect(t, b, backend.SubscribeOptions{After: after}, len(rest), nil)
			var got []string
			for _, e := range resumed {
				got = append(got, describe(e))
			}
			eqStrs(t, fmt.Sprintf("resumed after event %d", k), got, rest...)
		}

		// Filters.
		only, _ := collect(t, b, backend.SubscribeOptions{After: start, Filter: backend.Filter{Ops: []backend.Operation{backend.OpRemove, backend.OpClear}}}, 2, nil)
		eqStrs(t, "filtered", []string{describe(only[0]), describe(only[1])}, "out nr", "vanish ")
		pref, _ := collect(t, b, backend.SubscribeOptions{After: start, Filter: backend.Filter{KeyPrefix: []byte("n"), DBs: []string{""}}}, 2, nil)
		eqStrs(t, "prefix", []string{describe(pref[0]), describe(pref[1])}, "put nr", "out nr")

		// The master's own id is refused with a clear error.
		err := b.Subscribe(ctxT(t), backend.SubscribeOptions{ServerID: 1}, func(backend.Update) error { return nil })
		if !errors.Is(err, backend.ErrInvalid) || !strings.Contains(err.Error(), "master's own id") {
			t.Fatalf("sid 1: %v", err)
		}
		// An error from fn ends the subscription with that error.
		stop := errors.New("stop")
		if err := b.Subscribe(ctxT(t), backend.SubscribeOptions{}, func(backend.Update) error { return stop }); err != stop {
			t.Fatalf("fn error: %v", err)
		}
	})
}

// TestReplicationReconnect kills the stream mid-way: the adapter reconnects
// and goes on exactly where it stopped. The server's clock stands still, so
// every record has the same timestamp: resuming by timestamp alone would
// either repeat or lose records. Positions go on counting within the
// microsecond across the reconnect.
func TestTTReplicationReconnect(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_700_000_000, 0))
	srv := tttest.Start(t, tttest.WithClock(clock))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "")
	ctx := ctxT(t)
	batch := func(prefix string) []string {
		var keys []string
		for i := range 100 {
			k := fmt.Sprintf("%s%03d", prefix, i)
			mustOK(t, b.Set(ctx, "", []byte(k), []byte("v"), backend.Expiry{}, backend.WriteOptions{NoReply: i%2 == 0}))
			keys = append(keys, "put "+k)
		}
		return keys
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// With the clock standing still the master sends a NOP only when a
	// stream starts; records arrive live. Each batch is written when a
	// stream has started, so that it is live on that stream.
	ts := uint64(clock.Now().UnixMicro())
	var want, got []string
	var nops []uint64
	streams := 0
	b.OnReplSessionForTest(func() {
		streams++
		switch streams {
		case 1:
			want = append(want, batch("a")...)
		case 2:
			want = append(want, batch("b")...)
		}
	})
	err := b.Subscribe(sctx, backend.SubscribeOptions{}, func(u backend.Update) error {
		if u.Event == nil {
			nops = append(nops, u.Position)
			return nil
		}
		got = append(got, describe(u.Event))
		if p := ts*1000 + uint64(len(got)-1); u.Event.Position != p || u.Position != p {
			t.Errorf("event %d at %d (update at %d), want %d", len(got), u.Event.Position, u.Position, p)
		}
		switch len(got) {
		case 100:
			srv.KillConnections()
		case 200:
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	eqStrs(t, "events across a reconnect", got, want...)
	rep, err := b.Report(ctx)
	mustOK(t, err)
	if rep["cnt_repl"] != "2" || streams != 2 {
		t.Fatalf("%s repl handshakes and %d streams, want 2", rep["cnt_repl"], streams)
	}
	// With the clock standing still the master sends no NOP after its
	// opening ones, which are not reported: every update was an event.
	if len(nops) != 0 {
		t.Fatalf("progress updates at %v, want none", nops)
	}
}

func TestTTReplicationNow(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_700_000_000, 0))
	srv := tttest.Start(t, tttest.WithClock(clock))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "")
	ctx := ctxT(t)
	mustOK(t, b.Set(ctx, "", []byte("before"), []byte("1"), backend.Expiry{}, backend.WriteOptions{}))
	clock.Advance(time.Second)
	// A stream from now reports the master's opening NOP at once, at its
	// start: nothing is replayed before it. The write made then is live,
	// and is the first event from "now".
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wrote := false
	var got []string
	err := b.Subscribe(sctx, backend.SubscribeOptions{Now: true}, func(u backend.Update) error {
		if !wrote {
			wrote = true
			if u.Event != nil {
				t.Errorf("first update %v, want the progress of a stream from now", u)
			}
			return b.Set(ctx, "", []byte("after"), []byte("2"), backend.Expiry{}, backend.WriteOptions{})
		}
		if u.Event != nil {
			got = append(got, describe(u.Event))
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	eqStrs(t, "events from now", got, "put after")
}

func TestTTReplicationRefusals(t *testing.T) {
	for config, msg := range map[string]string{
		"tt-noulog":    "no update log",
		"tt-nosid":     "no server id",
		"tt-mask-repl": "refused",
	} {
		t.Run(config, func(t *testing.T) {
			srv := tttest.Start(t, tttest.WithConfig(config))
			b := fixture{addr: srv.Addr(), srv: srv}.open(t, "")
			err := b.Subscribe(ctxT(t), backend.SubscribeOptions{}, func(backend.Update) error { return nil })
			if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("got %v, want ErrUnsupported mentioning %q", err, msg)
			}
		})
	}
	// A server that is down fails at once rather than retrying forever.
	srv := tttest.Start(t)
	addr := srv.Addr()
	mustOK(t, srv.Close())
	u, _ := url.Parse("tt://" + addr)
	b, err := tt.Open(context.Background(), u)
	mustOK(t, err)
	defer b.Close()
	err = b.Subscribe(ctxT(t), backend.SubscribeOptions{}, func(backend.Update) error { return nil })
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("server down: %v", err)
	}
}

// TestKilledMidRequest kills every connection while a request is running:
// the call answers Unavailable, and the next one works on a new
// connection.
func TestTTKilledMidRequest(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	srv := tttest.Start(t, tttest.WithExt("block", func(key, value []byte) ([]byte, bool) {
		entered <- struct{}{}
		<-release
		return []byte("late"), true
	}))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "kind=hash")
	ctx := ctxT(t)
	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
	done := make(chan error, 1)
	go func() {
		_, _, err := b.CallScript(ctx, "block", nil, backend.LockNone)
		done <- err
	}()
	<-entered
	srv.KillConnections()
	err := <-done
	close(release)
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("killed ext: %v", err)
	}
	rec, found, err := b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "v")
	if st := b.PoolStats(); st.Open != 1 || st.Idle != 1 {
		t.Fatalf("pool after recovery: %+v", st)
	}
	mustOK(t, srv.WaitConnCount(ctx, 1))
}

func TestTTSharedIteratorCursor(t *testing.T) {
	eachFixture(t, "tt-hash", "TT_ADDR", sharedIteratorCursor)
}

func sharedIteratorCursor(t *testing.T, f fixture) {
	b := f.open(t, "iterator=shared")
	ctx := ctxT(t)
	for _, k := range []string{"x", "y", "z"} {
		mustOK(t, b.Set(ctx, "", []byte(k), []byte("v"+k), backend.Expiry{}, backend.WriteOptions{}))
	}
	c, err := b.OpenCursor(ctx, "")
	mustOK(t, err)
	if _, err := b.OpenCursor(ctx, ""); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("second shared cursor: %v", err)
	}
	if _, err := c.Jump(ctx, []byte("y")); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("jump to a key: %v", err)
	}
	if ok, err := c.Jump(ctx, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	var keys []string
	for {
		rec, ok, err := c.Get(ctx, true)
		mustOK(t, err)
		if !ok {
			break
		}
		if string(rec.Value) != "v"+string(rec.Key) {
			t.Fatalf("value %q for %q", rec.Value, rec.Key)
		}
		keys = append(keys, string(rec.Key))
	}
	slices.Sort(keys)
	eqStrs(t, "iterated", keys, "x", "y", "z")
	if ok, err := c.Jump(ctx, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := c.Remove(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if st, _ := b.Status(ctx, ""); st.Count != 2 {
		t.Fatalf("count after cursor remove: %d", st.Count)
	}
	mustOK(t, c.Close())
	c2, err := b.OpenCursor(ctx, "")
	mustOK(t, err)
	mustOK(t, c2.Close())
}

// Close ends a running subscription and its connection.
func TestTTCloseEndsSubscription(t *testing.T) {
	srv := tttest.Start(t, tttest.WithReplInterval(time.Hour))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "kind=hash")
	ctx := ctxT(t)
	streams := -1
	b.OnReplSessionForTest(func() {
		streams = b.PoolStats().Streams
		mustOK(t, b.Close())
	})
	err := b.Subscribe(ctx, backend.SubscribeOptions{}, func(u backend.Update) error {
		t.Errorf("update %v after Close", u)
		return nil
	})
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("subscription after Close: %v", err)
	}
	if streams != 1 || b.PoolStats().Streams != 0 {
		t.Fatalf("stream connections: %d while running, %d after", streams, b.PoolStats().Streams)
	}
	mustOK(t, srv.WaitConnCount(ctx, 0))
}
