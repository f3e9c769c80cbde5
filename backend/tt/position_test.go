package tt_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/testclock"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// Positions are ts*1000 + i, i the record's index among the records of its
// microsecond. These tests drive the adapter with exact byte streams (a
// scripted master) and with the test server's clock frozen, so that many
// records share one timestamp.

// baseTS is a microsecond timestamp for scripted streams.
const baseTS = 1_700_000_000_000_000

// replReq is the repl request the adapter must send for ts, as sid 2.
func replReq(t *testing.T, ts uint64) []byte {
	return req(t, &ttwire.Request{Cmd: ttwire.CmdRepl, TS: ts, SID: 2})
}

// logged is a logged put of key at ts, from server 1.
type logged struct {
	ts  uint64
	key string
}

// replReply is a master's answer to repl: its sid (1), the initial NOP, the
// records, then a NOP.
func replReply(t *testing.T, recs ...logged) []byte {
	t.Helper()
	out := []byte{0, 0, 0, 1, ttwire.LogNOPMagic}
	for _, r := range recs {
		p, err := ttwire.AppendLogPayload(nil, &ttwire.Request{Cmd: ttwire.CmdPut, Key: []byte(r.key), Value: []byte("v")}, ttwire.StatusOK)
		mustOK(t, err)
		out = ttwire.AppendFrame(out, &ttwire.Frame{TS: r.ts, SID: 1, Payload: p})
	}
	return append(out, ttwire.LogNOPMagic)
}

// describeUpdate is one Update as "key@position", or "nop@position".
func describeUpdate(u backend.Update) string {
	if u.Event == nil {
		return "nop@" + strconv.FormatUint(u.Position, 10)
	}
	if u.Event.Position != u.Position {
		return fmt.Sprintf("%s@%d (update at %d)", u.Event.Key, u.Event.Position, u.Position)
	}
	return string(u.Event.Key) + "@" + strconv.FormatUint(u.Position, 10)
}

func at(key string, pos uint64) string { return key + "@" + strconv.FormatUint(pos, 10) }

// subscribeScript subscribes as sid 2 after after, on a scripted master,
// until nops progress updates arrived, and returns every update. A
// session's opening NOP is not one: the master sends it before reading
// its log.
func subscribeScript(t *testing.T, after uint64, nops int, exs ...exchange) []string {
	t.Helper()
	s := startScript(t, exs...)
	b, err := tt.New(s.lis.Addr().String(), tt.Options{Kind: "hash", Timeout: 5 * time.Second, ReplBackoff: time.Millisecond})
	mustOK(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var got []string
	err = b.Subscribe(ctx, backend.SubscribeOptions{After: after, ServerID: 2}, func(u backend.Update) error {
		got = append(got, describeUpdate(u))
		if u.Event == nil {
			if nops--; nops == 0 {
				cancel()
			}
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe: %v (updates %q)", err, got)
	}
	return got
}

// TestTTPositionsResumeWithinMicrosecond resumes after every kind of
// position: the request carries the position's microsecond, and exactly the
// records after the position come out.
func TestTTPositionsResumeWithinMicrosecond(t *testing.T) {
	const x, a, b, c, d, y = (baseTS - 1) * 1000, baseTS * 1000, baseTS*1000 + 1, baseTS*1000 + 2, baseTS*1000 + 3, (baseTS + 1) * 1000
	log := []logged{{baseTS - 1, "x"}, {baseTS, "a"}, {baseTS, "b"}, {baseTS, "c"}, {baseTS, "d"}, {baseTS + 1, "y"}}
	// from returns the records the master sends for ts (inclusive).
	from := func(ts uint64) []logged {
		var out []logged
		for _, r := range log {
			if r.ts >= ts {
				out = append(out, r)
			}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		after uint64
		reqTS uint64
		want  []string
	}{
		{"from the start", 0, 1, []string{at("x", x), at("a", a), at("b", b), at("c", c), at("d", d), at("y", y)}},
		// Positions below 1000 are in microsecond 0, which the server
		// cannot be asked for and no record has.
		{"microsecond 0", 500, 1, []string{at("x", x), at("a", a), at("b", b), at("c", c), at("d", d), at("y", y)}},
		{"after the only record of its microsecond", x, baseTS - 1, []string{at("a", a), at("b", b), at("c", c), at("d", d), at("y", y)}},
		{"after the first of a microsecond", a, baseTS, []string{at("b", b), at("c", c), at("d", d), at("y", y)}},
		{"after the middle of a microsecond", b, baseTS, []string{at("c", c), at("d", d), at("y", y)}},
		{"after the last of a microsecond", d, baseTS, []string{at("y", y)}},
		{"after a saturated index", baseTS*1000 + 999, baseTS, []string{at("y", y)}},
		{"after the last record", y, baseTS + 1, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ex := exchange{send: replReq(t, c.reqTS), reply: replReply(t, from(c.reqTS)...)}
			got := subscribeScript(t, c.after, 1, ex)
			// The NOP after the records reports the last record's
			// position; the opening one is not reported.
			last := c.after
			if len(c.want) > 0 {
				_, p, _ := strings.Cut(c.want[len(c.want)-1], "@")
				last, _ = strconv.ParseUint(p, 10, 64)
			}
			want := append(c.want, at("nop", last))
			eqStrs(t, "updates", got, want...)
		})
	}
}

// TestTTPositionsReconnectMidBurst breaks the stream in the middle of a
// microsecond: the reconnect asks for that microsecond again and skips
// exactly the records already handled.
func TestTTPositionsReconnectMidBurst(t *testing.T) {
	// The first master dies after b, before its closing NOP.
	full := replReply(t, logged{baseTS - 1, "x"}, logged{baseTS, "a"}, logged{baseTS, "b"})
	first := exchange{send: replReq(t, 1), reply: full[:len(full)-1], closeAfter: true}
	second := exchange{send: replReq(t, baseTS), reply: replReply(t, logged{baseTS, "a"}, logged{baseTS, "b"}, logged{baseTS, "c"}, logged{baseTS, "d"}, logged{baseTS + 1, "y"})}
	got := subscribeScript(t, 0, 1, first, second)
	eqStrs(t, "updates", got,
		at("x", (baseTS-1)*1000), at("a", baseTS*1000), at("b", baseTS*1000+1),
		at("c", baseTS*1000+2), at("d", baseTS*1000+3), at("y", (baseTS+1)*1000),
		at("nop", (baseTS+1)*1000))
}

// TestTTPositionsSaturate logs 1003 records in one microsecond: the index
// stops at 999, reconnects still skip exactly what was handled, and a new
// subscription after the saturated position skips the whole microsecond.
func TestTTPositionsSaturate(t *testing.T) {
	var burst []logged
	for i := range 1003 {
		burst = append(burst, logged{baseTS, fmt.Sprintf("k%04d", i)})
	}
	part := replReply(t, burst[:1001]...)
	got := subscribeScript(t, 0, 1,
		exchange{send: replReq(t, 1), reply: part[:len(part)-1], closeAfter: true},
		exchange{send: replReq(t, baseTS), reply: replReply(t, burst...)})
	var want []string
	for i := range 1003 {
		want = append(want, at(fmt.Sprintf("k%04d", i), baseTS*1000+uint64(min(i, 999))))
	}
	want = append(want, at("nop", baseTS*1000+999))
	eqStrs(t, "updates", got, want...)

	got = subscribeScript(t, baseTS*1000+999, 1,
		exchange{send: replReq(t, baseTS), reply: replReply(t, append(burst, logged{baseTS + 1, "z"})...)})
	eqStrs(t, "resumed after the saturated position", got, at("z", (baseTS+1)*1000), at("nop", (baseTS+1)*1000))
}

// TestTTPositionsClockBack: a record stamped before the newest one handled
// (the server's clock went back) takes the stream's position, so positions
// never go back and resuming from it matches what the server resends.
func TestTTPositionsClockBack(t *testing.T) {
	got := subscribeScript(t, 0, 1, exchange{send: replReq(t, 1), reply: replReply(t,
		logged{baseTS, "a"}, logged{baseTS, "b"}, logged{baseTS - 5, "late"}, logged{baseTS, "c"})})
	eqStrs(t, "updates", got, at("a", baseTS*1000), at("b", baseTS*1000+1),
		at("late", baseTS*1000+1), at("c", baseTS*1000+2), at("nop", baseTS*1000+2))
	// Resuming after "late": the server leaves it out (ts < requested),
	// and c is next.
	got = subscribeScript(t, baseTS*1000+1, 1, exchange{send: replReq(t, baseTS), reply: replReply(t,
		logged{baseTS, "a"}, logged{baseTS, "b"}, logged{baseTS, "c"})})
	eqStrs(t, "resumed", got, at("c", baseTS*1000+2), at("nop", baseTS*1000+2))
}

// TestTTPositionsSameMicrosecond freezes the test server's clock: records
// written together share a timestamp, and a consumer that checkpoints the
// middle one and resumes gets exactly the later ones.
func TestTTPositionsSameMicrosecond(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_700_000_000, 0))
	srv := tttest.Start(t, tttest.WithClock(clock))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "")
	ctx := ctxT(t)
	set := func(keys ...string) {
		for _, k := range keys {
			mustOK(t, b.Set(ctx, "", []byte(k), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
		}
	}
	t0 := uint64(clock.Now().UnixMicro())
	set("x")
	clock.Advance(time.Microsecond)
	set("a", "b", "c", "d", "e")
	clock.Advance(time.Microsecond)
	set("y")
	// With the clock frozen the master sends its NOP when a stream starts
	// and records as they are logged: a write made then (trigger) brings
	// the whole log.
	subscribe := func(after uint64, trigger string, want int) []string {
		t.Helper()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.OnReplSessionForTest(func() { set(trigger) })
		defer b.OnReplSessionForTest(nil)
		var got []string
		err := b.Subscribe(sctx, backend.SubscribeOptions{After: after}, func(u backend.Update) error {
			got = append(got, describeUpdate(u))
			if len(got) == want {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("subscribe: %v", err)
		}
		return got
	}
	p := func(us, i uint64) uint64 { return (t0+us)*1000 + i }
	got := subscribe(0, "t1", 8)
	eqStrs(t, "from the start", got, at("x", p(0, 0)),
		at("a", p(1, 0)), at("b", p(1, 1)), at("c", p(1, 2)), at("d", p(1, 3)), at("e", p(1, 4)),
		at("y", p(2, 0)), at("t1", p(2, 1)))
	// Checkpoint at c, the middle of its microsecond.
	got = subscribe(p(1, 2), "t2", 5)
	eqStrs(t, "resumed after c", got, at("d", p(1, 3)), at("e", p(1, 4)),
		at("y", p(2, 0)), at("t1", p(2, 1)), at("t2", p(2, 2)))
}

// TestTTPositionsAdmin: Restore and SetMaster take positions and hand the
// server the microsecond, P/1000.
func TestTTPositionsAdmin(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_700_000_000, 0))
	srv := tttest.Start(t, tttest.WithClock(clock))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "")
	ctx := ctxT(t)
	t0 := uint64(clock.Now().UnixMicro())
	if ok, err := b.Add(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	clock.Advance(time.Microsecond)
	mustOK(t, b.Set(ctx, "", []byte("j"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
	// Restore is inclusive of the position's whole microsecond. From
	// microsecond t0+1 it replays only the put, which is consistent; from
	// t0, with any index, it replays the putkeep of k first, which now
	// fails.
	mustOK(t, b.Restore(ctx, "", "ulog", (t0+1)*1000, true))
	for _, pos := range []uint64{t0 * 1000, t0*1000 + 999} {
		if err := b.Restore(ctx, "", "ulog", pos, true); !errors.Is(err, backend.ErrFailed) {
			t.Errorf("restore from position %d: %v, want the putkeep of microsecond %d replayed and found inconsistent", pos, err, t0)
		}
	}

	rts := func() string {
		rep, err := b.Report(ctx)
		mustOK(t, err)
		return rep["rts"]
	}
	mustOK(t, b.SetMaster(ctx, "master.example", 1978, t0*1000+7, false))
	if got := rts(); got != strconv.FormatUint(t0, 10) {
		t.Errorf("rts after SetMaster(%d) = %s, want %d", t0*1000+7, got, t0)
	}
	// 0 keeps the saved timestamp; a position within microsecond 0 is
	// still a position, the earliest.
	mustOK(t, b.SetMaster(ctx, "master.example", 1978, 0, false))
	if got := rts(); got != strconv.FormatUint(t0, 10) {
		t.Errorf("rts after SetMaster(0) = %s, want %d kept", got, t0)
	}
	mustOK(t, b.SetMaster(ctx, "master.example", 1978, 999, false))
	if got := rts(); got != "1" {
		t.Errorf("rts after SetMaster(999) = %s, want 1", got)
	}
}

// TestTTReplicationReconnectLimit breaks every stream as it starts and
// lets only some reconnects through: Subscribe gives up after
// ReplReconnects failed attempts in a row, and a successful one starts the
// count again.
func TestTTReplicationReconnectLimit(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_700_000_000, 0))
	srv := tttest.Start(t, tttest.WithClock(clock))
	// Dials 1 and 3 connect; the others fail.
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch dials.Add(1) {
		case 1, 3:
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		return nil, errors.New("refused by the test")
	}
	b, err := tt.New(srv.Addr(), tt.Options{Kind: "hash", ReplBackoff: time.Millisecond, ReplReconnects: 2, Dialer: dial})
	mustOK(t, err)
	t.Cleanup(func() { _ = b.Close() })
	streams := 0
	b.OnReplSessionForTest(func() {
		streams++
		srv.KillConnections()
	})
	err = b.Subscribe(ctxT(t), backend.SubscribeOptions{}, func(u backend.Update) error {
		t.Errorf("update %v from a stream killed at its start", u)
		return nil
	})
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "repl_reconnects=2") {
		t.Fatalf("subscribe: %v, want ErrUnavailable naming repl_reconnects", err)
	}
	// Stream 1, two failures, stream 2, two failures.
	if n := dials.Load(); n != 5 || streams != 2 {
		t.Fatalf("%d dials and %d streams, want 5 and 2", n, streams)
	}

	// repl_reconnects=0 gives up as soon as the stream breaks.
	b0 := fixture{addr: srv.Addr(), srv: srv}.open(t, "repl_reconnects=0")
	before := replCount(t, b0)
	b0.OnReplSessionForTest(srv.KillConnections)
	err = b0.Subscribe(ctxT(t), backend.SubscribeOptions{}, func(u backend.Update) error {
		t.Errorf("update %v from a stream killed at its start", u)
		return nil
	})
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("repl_reconnects=0: %v", err)
	}
	if n := replCount(t, b0) - before; n != 1 {
		t.Fatalf("repl_reconnects=0: %d repl handshakes, want 1", n)
	}
}

// replCount is the server's count of repl requests.
func replCount(t *testing.T, b *tt.Backend) int {
	t.Helper()
	rep, err := b.Report(ctxT(t))
	mustOK(t, err)
	n, err := strconv.Atoi(rep["cnt_repl"])
	mustOK(t, err)
	return n
}
