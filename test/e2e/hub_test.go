package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/hub"
	"github.com/ktgrpc/ktgrpc/backend/kt"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// hubLane is one backend behind the gateway for the hub's tests. The test
// servers count their replication sessions and can cut connections; a real
// server (KT_ADDR, TT_ADDR) can do neither, and the tests that need that
// skip it.
type hubLane struct {
	b backend.Backend
	// repls waits until the server serves exactly n replication sessions.
	repls func(ctx context.Context, n int) error
	// cut kills every client connection of the server.
	cut func()
	// restart stops the server and starts a fresh one on the same address.
	restart func(t *testing.T)
	// lateLog is set where the server writes its update log behind the
	// writes it acknowledges (a real Kyoto Tycoon flushes it about every
	// 0.1 s), so a replay can end before the newest writes are in it.
	lateLog bool
}

// hubLanes lists the backends: the embedded store, kttest, tttest, and the
// real servers when their addresses are set.
func hubLanes() []struct {
	name string
	open func(t *testing.T) hubLane
} {
	openKT := func(t *testing.T, addr string) backend.Backend {
		u, _ := url.Parse("kt://" + addr)
		b, err := kt.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	openTT := func(t *testing.T, addr string) backend.Backend {
		u, _ := url.Parse("tt://" + addr + "?repl_backoff=20ms")
		b, err := tt.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []struct {
		name string
		open func(t *testing.T) hubLane
	}{
		{"embedded", func(t *testing.T) hubLane {
			store, err := embedded.New(embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return hubLane{b: store}
		}},
		{"kttest", func(t *testing.T) hubLane {
			srv := kttest.Start(t)
			return hubLane{b: openKT(t, srv.Addr()), repls: srv.WaitReplicationCount, cut: srv.KillConnections,
				restart: func(t *testing.T) {
					addr := srv.Addr()
					if err := srv.Close(); err != nil {
						t.Fatal(err)
					}
					srv = kttest.Start(t, kttest.WithAddr(addr))
				}}
		}},
		{"tttest", func(t *testing.T) hubLane {
			srv := tttest.Start(t, tttest.WithReplInterval(20*time.Millisecond))
			return hubLane{b: openTT(t, srv.Addr()), repls: srv.WaitReplicationCount, cut: srv.KillConnections,
				restart: func(t *testing.T) {
					addr := srv.Addr()
					if err := srv.Close(); err != nil {
						t.Fatal(err)
					}
					next, err := tttest.New(tttest.WithReplInterval(20*time.Millisecond), tttest.WithAddr(addr))
					if err != nil {
						t.Fatal(err)
					}
					if err := next.Start(); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = next.Close() })
					srv = next
				}}
		}},
		{"real-kt", func(t *testing.T) hubLane {
			addr := os.Getenv("KT_ADDR")
			if addr == "" {
				t.Skip("KT_ADDR is not set: no real Kyoto Tycoon to test against")
			}
			return hubLane{b: openKT(t, addr), lateLog: true}
		}},
		{"real-tt", func(t *testing.T) hubLane {
			addr := os.Getenv("TT_ADDR")
			if addr == "" {
				t.Skip("TT_ADDR is not set: no real Tokyo Tyrant to test against")
			}
			return hubLane{b: openTT(t, addr)}
		}},
	}
}

// hubEnv is a lane served by a gateway.
type hubEnv struct {
	hubLane
	ctx   context.Context
	conn  *grpc.ClientConn
	kv    ktgrpcv1.KVClient
	repl  ktgrpcv1.ReplicationClient
	admin ktgrpcv1.AdminClient
	// prefix keeps the keys of one test apart from what a real server
	// already holds.
	prefix string
}

func eachHubLane(t *testing.T, opts server.Options, fn func(t *testing.T, e *hubEnv)) {
	for _, lane := range hubLanes() {
		t.Run(lane.name, func(t *testing.T) {
			l := lane.open(t)
			t.Cleanup(func() { _ = l.b.Close() })
			_, conn := gatewaytest.StartServer(t, l.b, opts)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			t.Cleanup(cancel)
			fn(t, &hubEnv{
				hubLane: l, ctx: ctx, conn: conn,
				kv:     ktgrpcv1.NewKVClient(conn),
				repl:   ktgrpcv1.NewReplicationClient(conn),
				admin:  ktgrpcv1.NewAdminClient(conn),
				prefix: fmt.Sprintf("hub%d/", time.Now().UnixNano()),
			})
		})
	}
}

func (e *hubEnv) set(t *testing.T, key, value string) {
	t.Helper()
	if _, err := e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Key: []byte(e.prefix + key), Value: []byte(value)}); err != nil {
		t.Fatal(err)
	}
}

func (e *hubEnv) remove(t *testing.T, key string) {
	t.Helper()
	if _, err := e.kv.Remove(e.ctx, &ktgrpcv1.RemoveRequest{Key: []byte(e.prefix + key)}); err != nil {
		t.Fatal(err)
	}
}

// subscribe opens a subscription (progress every 10 ms unless req says
// otherwise) and waits for its first message.
func (e *hubEnv) subscribe(t *testing.T, req *ktgrpcv1.SubscribeRequest) *liveSub {
	t.Helper()
	if req.ProgressInterval == nil {
		req.ProgressInterval = durationpb.New(10 * time.Millisecond)
	}
	return subscribe(t, e.ctx, e.repl, req)
}

// events collects n events of s, checking that positions strictly increase.
func (e *hubEnv) events(t *testing.T, s *liveSub, n int) []*ktgrpcv1.Event {
	t.Helper()
	evs := s.events(t, e.ctx, n)
	for i := 1; i < len(evs); i++ {
		if evs[i].Position <= evs[i-1].Position {
			t.Fatalf("position %d after %d", evs[i].Position, evs[i-1].Position)
		}
	}
	return evs
}

func (e *hubEnv) describe(evs []*ktgrpcv1.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s=%s", ev.Operation, bytes.TrimPrefix(ev.Key, []byte(e.prefix)), ev.Value))
	}
	return out
}

// TestHubFiltersOnOneUpstream attaches 100 subscribers, some with filters,
// and checks each receives exactly its sequence while the server serves a
// single replication session.
func TestHubFiltersOnOneUpstream(t *testing.T) {
	eachHubLane(t, server.Options{}, func(t *testing.T, e *hubEnv) {
		// Every record change of this test: a real server may have other
		// clients, whose clears reach every prefix.
		records := []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_SET, ktgrpcv1.Operation_OPERATION_REMOVE}
		all := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix), Operations: records})
		prefixed := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix + "a"), Operations: records})
		removes := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true},
			KeyPrefix: []byte(e.prefix), Operations: []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_REMOVE}})
		for range 97 {
			e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}})
		}
		if e.repls != nil {
			if err := e.repls(e.ctx, 1); err != nil {
				t.Fatalf("100 subscribers: %v", err)
			}
		}
		st, err := e.admin.ReplicationStatus(e.ctx, &ktgrpcv1.ReplicationStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Subscribers != 100 || st.UpstreamConnections != 1 {
			t.Errorf("status: %v; want 100 subscribers on 1 upstream connection", st)
		}
		e.set(t, "a1", "1")
		e.set(t, "b1", "2")
		e.remove(t, "a1")
		e.set(t, "a2", "3")
		e.remove(t, "b1")
		want := []string{"OPERATION_SET a1=1", "OPERATION_SET b1=2", "OPERATION_REMOVE a1=", "OPERATION_SET a2=3", "OPERATION_REMOVE b1="}
		if got := e.describe(e.events(t, all, 5)); !slices.Equal(got, want) {
			t.Errorf("all: %q, want %q", got, want)
		}
		if got, want := e.describe(e.events(t, prefixed, 3)), []string{want[0], want[2], want[3]}; !slices.Equal(got, want) {
			t.Errorf("prefix a: %q, want %q", got, want)
		}
		if got, want := e.describe(e.events(t, removes, 2)), []string{want[2], want[4]}; !slices.Equal(got, want) {
			t.Errorf("removes: %q, want %q", got, want)
		}
		if e.repls != nil {
			if err := e.repls(e.ctx, 1); err != nil {
				t.Fatalf("after the events: %v", err)
			}
		}
	})
}

// TestHubUpstreamCut cuts the server's connections mid-stream: the
// subscriber sees every change once, in order.
func TestHubUpstreamCut(t *testing.T) {
	eachHubLane(t, server.Options{}, func(t *testing.T, e *hubEnv) {
		if e.cut == nil {
			t.Skip("this backend cannot cut its connections")
		}
		sub := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix)})
		var want []string
		for i := range 5 {
			e.set(t, "k"+strconv.Itoa(i), "v")
			want = append(want, fmt.Sprintf("OPERATION_SET k%d=v", i))
		}
		first := e.events(t, sub, 5)
		e.cut()
		for i := 5; i < 10; i++ {
			e.set(t, "k"+strconv.Itoa(i), "v")
			want = append(want, fmt.Sprintf("OPERATION_SET k%d=v", i))
		}
		rest := e.events(t, sub, 5)
		if rest[0].Position <= first[4].Position {
			t.Errorf("position %d after %d across the cut", rest[0].Position, first[4].Position)
		}
		if got := e.describe(append(first, rest...)); !slices.Equal(got, want) {
			t.Errorf("events across the cut: %q, want %q", got, want)
		}
		// The server stops and a fresh one takes its address: the stream
		// goes on with the new server's changes.
		e.restart(t)
		e.set(t, "after", "restart")
		if got := e.describe(e.events(t, sub, 1)); !slices.Equal(got, []string{"OPERATION_SET after=restart"}) {
			t.Errorf("after the restart: %q", got)
		}
	})
}

var resumeAfter = regexp.MustCompile(`resume with after=(\d+)`)

// TestHubSlowConsumer lets one subscriber stop reading: it is ended with
// RESOURCE_EXHAUSTED and a position from which resuming yields exactly the
// rest, while another subscriber receives everything.
func TestHubSlowConsumer(t *testing.T) {
	const n = 1500
	eachHubLane(t, server.Options{Hub: hub.Options{SubscriberBuffer: 1024}}, func(t *testing.T, e *hubEnv) {
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		// Only sets: a real server's other clients may clear it.
		sets := []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_SET}
		// A connection with a fixed flow-control window: the gateway's
		// sends to a client that does not read stop after 64 KiB.
		conn, err := grpc.NewClient(e.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		slow, err := ktgrpcv1.NewReplicationClient(conn).Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix), Operations: sets})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := slow.Recv(); err != nil || m.GetProgress() == nil {
			t.Fatalf("first message %v, %v; want progress", m, err)
		}
		fast := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix), Operations: sets})
		big := string(bytes.Repeat([]byte("x"), 1<<10))
		var want []string
		var done sync.WaitGroup
		done.Add(1)
		var fastEvs []*ktgrpcv1.Event
		go func() {
			defer done.Done()
			fastEvs = e.events(t, fast, n)
		}()
		for i := range n {
			k := fmt.Sprintf("k%04d", i)
			e.set(t, k, big)
			want = append(want, "OPERATION_SET "+k+"="+big)
		}
		done.Wait()
		if got := e.describe(fastEvs); !slices.Equal(got, want) {
			t.Fatalf("the fast subscriber got %d events, want %d in order", len(got), len(want))
		}
		// Now read the slow one: some events, then the end.
		var got []*ktgrpcv1.Event
		var end error
		for {
			m, err := slow.Recv()
			if err != nil {
				end = err
				break
			}
			if ev := m.GetEvent(); ev != nil {
				got = append(got, ev)
			}
		}
		if status.Code(end) != codes.ResourceExhausted {
			t.Fatalf("the slow subscriber ended with %v after %d events; want RESOURCE_EXHAUSTED", end, len(got))
		}
		m := resumeAfter.FindStringSubmatch(status.Convert(end).Message())
		if m == nil {
			t.Fatalf("no resume position in %q", status.Convert(end).Message())
		}
		after, _ := strconv.ParseUint(m[1], 10, 64)
		if len(got) > 0 && got[len(got)-1].Position > after {
			t.Fatalf("resume after %d, but an event at %d was delivered", after, got[len(got)-1].Position)
		}
		resumed := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: after}, KeyPrefix: []byte(e.prefix), Operations: sets})
		got = append(got, e.events(t, resumed, n-len(got))...)
		if d := e.describe(got); !slices.Equal(d, want) {
			t.Fatalf("slow then resumed: %d events, want the %d written, in order", len(d), len(want))
		}
		st, err := e.admin.ReplicationStatus(e.ctx, &ktgrpcv1.ReplicationStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.SlowSubscribersEnded != 1 || st.EventsDropped == 0 {
			t.Errorf("status %v; want one slow subscriber ended, with events dropped", st)
		}
	})
}

// TestHubBatches: a subscriber that asked for several events per message
// and starts behind the newest change gets the changes waiting for it
// together, in order, no more to a message than it asked for; one that did
// not ask gets one per message.
func TestHubBatches(t *testing.T) {
	eachHubLane(t, server.Options{}, func(t *testing.T, e *hubEnv) {
		const n = 20
		sets := []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_SET}
		live := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix), Operations: sets})
		var want []string
		for i := range n {
			k := fmt.Sprintf("k%02d", i)
			e.set(t, k, "v")
			want = append(want, "OPERATION_SET "+k+"=v")
		}
		// Once the first has them all, they are in the gateway's window.
		evs := e.events(t, live, n)
		from := &ktgrpcv1.SubscribeRequest_After{After: evs[0].Position - 1}
		for _, limit := range []uint32{0, 1, 8} {
			req := &ktgrpcv1.SubscribeRequest{Start: from, KeyPrefix: []byte(e.prefix), Operations: sets, MaxEventsPerMessage: limit}
			st := e.subscribe(t, req)
			var got []*ktgrpcv1.Event
			largest := 0
			for len(got) < n {
				var m *ktgrpcv1.SubscribeResponse
				select {
				case m = <-st.msgs:
				case err := <-st.err:
					t.Fatalf("max %d: ended after %d events: %v", limit, len(got), err)
				}
				batch := m.GetEvents().GetEvents()
				if m.GetEvents() != nil && limit <= 1 {
					t.Fatalf("max %d: a batch of %d", limit, len(batch))
				}
				if ev := m.GetEvent(); ev != nil {
					batch = []*ktgrpcv1.Event{ev}
				}
				largest = max(largest, len(batch))
				for _, ev := range batch {
					if len(got) > 0 && ev.Position <= got[len(got)-1].Position {
						t.Fatalf("max %d: position %d after %d", limit, ev.Position, got[len(got)-1].Position)
					}
					got = append(got, ev)
				}
			}
			if d := e.describe(got); !slices.Equal(d, want) {
				t.Errorf("max %d: %q, want %q", limit, d, want)
			}
			switch {
			case limit <= 1 && largest != 1:
				t.Errorf("max %d: %d events in a message", limit, largest)
			case limit > 1 && (largest < 2 || largest > int(limit)):
				t.Errorf("max %d: at most %d events in a message; want between 2 and %d", limit, largest, limit)
			}
		}
		// Watch from the same position: the same changes, batched.
		w, err := e.repl.Watch(e.ctx, &ktgrpcv1.WatchRequest{Target: &ktgrpcv1.WatchRequest_Prefix{Prefix: []byte(e.prefix)}, After: from.After, MaxEventsPerMessage: 64})
		if err != nil {
			t.Fatal(err)
		}
		var got []*ktgrpcv1.Event
		batched := false
		for len(got) < n {
			m, err := w.Recv()
			if err != nil {
				t.Fatalf("watch: ended after %d events: %v", len(got), err)
			}
			if ev := m.GetEvent(); ev != nil {
				got = append(got, ev)
			}
			if b := m.GetEvents().GetEvents(); len(b) > 0 {
				got, batched = append(got, b...), batched || len(b) > 1
			}
		}
		if d := e.describe(got); !slices.Equal(d, want) || !batched {
			t.Errorf("watch: %q (batched: %v), want %q in batches", d, batched, want)
		}
	})
}

// TestHubCatchUp starts a subscriber before the window (8 events): a
// catch-up reader serves it and hands over to the window with no gap and no
// duplicate.
func TestHubCatchUp(t *testing.T) {
	eachHubLane(t, server.Options{Hub: hub.Options{WindowEvents: 8}}, func(t *testing.T, e *hubEnv) {
		live := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, KeyPrefix: []byte(e.prefix)})
		var want []string
		var evs []*ktgrpcv1.Event
		for i := range 12 {
			k := fmt.Sprintf("k%02d", i)
			e.set(t, k, "v")
			want = append(want, "OPERATION_SET "+k+"=v")
			// One at a time: a window smaller than a burst of the
			// upstream would rightly end the live subscriber too.
			evs = append(evs, e.events(t, live, 1)...)
		}
		late := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: evs[0].Position}, KeyPrefix: []byte(e.prefix)})
		for i := 12; i < 15; i++ {
			k := fmt.Sprintf("k%02d", i)
			e.set(t, k, "v")
			want = append(want, "OPERATION_SET "+k+"=v")
		}
		if got := e.describe(e.events(t, late, 14)); !slices.Equal(got, want[1:]) {
			t.Errorf("caught up: %q, want %q", got, want[1:])
		}
		if e.repls != nil {
			// The catch-up reader is gone once it handed over.
			if err := e.repls(e.ctx, 1); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestHubProgressAfterReplay: a subscriber from the start of the log gets
// every retained change before its first progress message, and that
// message's position covers them. Tokyo Tyrant's master opens each stream
// with a NOP before it reads its log, which must not count as caught up.
func TestHubProgressAfterReplay(t *testing.T) {
	eachHubLane(t, server.Options{}, func(t *testing.T, e *hubEnv) {
		// The replay starts at the position of an empty Watch snapshot, so
		// that on a real server the log's older history (large values,
		// other tests' clears) stays out of it.
		wctx, endWatch := context.WithCancel(e.ctx)
		w, err := e.repl.Watch(wctx, &ktgrpcv1.WatchRequest{Target: &ktgrpcv1.WatchRequest_Prefix{Prefix: []byte(e.prefix + "none/")}})
		if err != nil {
			t.Fatal(err)
		}
		var start uint64
		for {
			m, err := w.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if snap := m.GetSnapshot(); snap.GetLast() {
				start = snap.GetPosition()
				break
			}
		}
		endWatch()
		var want []string
		for i := range 5 {
			k := fmt.Sprintf("r%d", i)
			e.set(t, k, "v")
			want = append(want, "OPERATION_SET "+k+"=v")
		}
		s := e.subscribe(t, &ktgrpcv1.SubscribeRequest{
			Start:      &ktgrpcv1.SubscribeRequest_After{After: start},
			KeyPrefix:  []byte(e.prefix),
			Operations: []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_SET},
		})
		var (
			evs      []*ktgrpcv1.Event
			progress uint64
		)
		for {
			var m *ktgrpcv1.SubscribeResponse
			select {
			case m = <-s.msgs:
			case err := <-s.err:
				t.Fatalf("subscription ended: %v", err)
			}
			if ev := m.GetEvent(); ev != nil {
				// Whatever came before, a progress message promised every
				// change up to its position.
				if ev.Position <= progress {
					t.Fatalf("event at %d after progress at %d", ev.Position, progress)
				}
				evs = append(evs, ev)
				if e.lateLog && len(evs) == len(want) {
					if got := e.describe(evs); !slices.Equal(got, want) {
						t.Fatalf("events: %q, want %q", got, want)
					}
					return
				}
				continue
			}
			progress = m.GetProgress().GetPosition()
			if e.lateLog {
				continue
			}
			if got := e.describe(evs); !slices.Equal(got, want) {
				t.Fatalf("events before the first progress: %q, want %q", got, want)
			}
			if progress < evs[len(evs)-1].Position {
				t.Fatalf("first progress at %d, before the last replayed event at %d", progress, evs[len(evs)-1].Position)
			}
			return
		}
	})
}

// TestHubOutOfRange asks the embedded store, which can tell, for a position
// it no longer retains.
func TestHubOutOfRange(t *testing.T) {
	store, err := embedded.New(embedded.Options{LogCapacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	conn := gatewaytest.Start(t, store)
	kv, repl := ktgrpcv1.NewKVClient(conn), ktgrpcv1.NewReplicationClient(conn)
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte(k), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		after uint64
		code  codes.Code
		msg   string
	}{
		{1, codes.OutOfRange, "oldest retained position"},
		{store.LogPosition() + 1, codes.InvalidArgument, "newest change is at"},
	} {
		st, err := repl.Subscribe(t.Context(), &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: tc.after}})
		if err == nil {
			_, err = st.Recv()
		}
		if !gatewaytest.WantCode(t, err, tc.code, tc.msg) {
			t.Logf("after %d", tc.after)
		}
	}
}

// TestHubOutOfRangeKT removes the older update-log files of a Kyoto Tycoon
// test server: a subscriber whose start position went with them ends with
// OUT_OF_RANGE naming the oldest retained position, also while another
// subscriber's stream from the start of the log is running; from that
// position on, the stream starts at the oldest change left.
func TestHubOutOfRangeKT(t *testing.T) {
	srv := kttest.Start(t, kttest.WithUlogLimit(200))
	u, _ := url.Parse("kt://" + srv.Addr())
	b, err := kt.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	_, conn := gatewaytest.StartServer(t, b, server.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &hubEnv{ctx: ctx, conn: conn, kv: ktgrpcv1.NewKVClient(conn), repl: ktgrpcv1.NewReplicationClient(conn), admin: ktgrpcv1.NewAdminClient(conn)}
	for i := range 20 {
		e.set(t, fmt.Sprintf("k%02d", i), strings.Repeat("v", 40))
	}
	logs, err := e.admin.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
	if err != nil || len(logs.GetFiles()) < 3 {
		t.Fatalf("ListUpdateLogs: %v, %v; want several files", logs, err)
	}
	removed := logs.GetFiles()[1].GetMaxPosition()
	if _, err := e.admin.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{Before: &removed}); err != nil {
		t.Fatal(err)
	}
	// From the start: the whole retained log, which begins after the
	// removed files.
	all := e.subscribe(t, &ktgrpcv1.SubscribeRequest{})
	evs := e.events(t, all, 1)
	oldest := evs[0].GetPosition()
	if oldest <= removed {
		t.Fatalf("the replay starts at %d, inside the removed files (up to %d)", oldest, removed)
	}
	for _, after := range []uint64{1, removed - 1} {
		st, err := e.repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: after}})
		if err == nil {
			_, err = st.Recv()
		}
		if !gatewaytest.WantCode(t, err, codes.OutOfRange, fmt.Sprintf("oldest retained position %d", oldest)) {
			t.Logf("after %d", after)
		}
	}
	resumed := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: oldest - 1}})
	if got := e.events(t, resumed, 1)[0].GetPosition(); got != oldest {
		t.Errorf("after %d: first event at %d, want %d", oldest-1, got, oldest)
	}
}

// TestWatchSnapshotThenChanges writes while a Watch reads its snapshot, and
// checks what the proto promises: every change after the snapshot's
// position comes as an event (a change the snapshot already shows may come
// again), positions increase, and applying the events over the snapshot
// gives the records the server holds.
func TestWatchSnapshotThenChanges(t *testing.T) {
	eachHubLane(t, server.Options{}, func(t *testing.T, e *hubEnv) {
		for i := range 20 {
			e.set(t, fmt.Sprintf("w%02d", i), "0")
		}
		e.set(t, "other", "x")
		stop := make(chan struct{})
		racing := make(chan int, 1)
		go func() {
			n := 0
			defer func() { racing <- n }()
			for ; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Key: []byte(fmt.Sprintf("%sw%02d", e.prefix, n%25)), Value: []byte(strconv.Itoa(n + 1))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		st, err := e.repl.Watch(e.ctx, &ktgrpcv1.WatchRequest{Target: &ktgrpcv1.WatchRequest_Prefix{Prefix: []byte(e.prefix + "w")}, SnapshotBatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		state := map[string]string{}
		var snapPos, last uint64
		for {
			m, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			s := m.GetSnapshot()
			if s == nil {
				t.Fatalf("%v before the snapshot ended", m)
			}
			if snapPos != 0 && s.Position != snapPos {
				t.Fatalf("snapshot batches at %d and %d", snapPos, s.Position)
			}
			snapPos = s.Position
			for _, r := range s.Records {
				state[string(r.Key)] = string(r.Value)
			}
			if s.Last {
				break
			}
		}
		close(stop)
		n := <-racing
		// A final write, after the racing ones, marks the end.
		e.set(t, "w99", "end")
		last = snapPos
		for state[e.prefix+"w99"] != "end" {
			m, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			ev := m.GetEvent()
			if ev == nil {
				continue
			}
			if ev.Position <= last {
				t.Fatalf("event at %d after %d (snapshot at %d)", ev.Position, last, snapPos)
			}
			last = ev.Position
			if ev.Operation == ktgrpcv1.Operation_OPERATION_CLEAR {
				// Another client of a shared real server cleared it.
				clear(state)
				continue
			}
			if !bytes.HasPrefix(ev.Key, []byte(e.prefix+"w")) {
				t.Fatalf("event on %q outside the prefix", ev.Key)
			}
			state[string(ev.Key)] = string(ev.Value)
		}
		for i := range 25 {
			k := fmt.Sprintf("%sw%02d", e.prefix, i)
			g, err := e.kv.Get(e.ctx, &ktgrpcv1.GetRequest{Key: []byte(k)})
			if err != nil {
				t.Fatal(err)
			}
			if g.Found != (state[k] != "") || string(g.Value) != state[k] {
				t.Errorf("%s: snapshot and events give %q, the server holds %q (after %d racing writes)", k, state[k], g.Value, n)
			}
		}
		// The same with one key, resumed after the snapshot's position:
		// no snapshot, the changes since.
		st, err = e.repl.Watch(e.ctx, &ktgrpcv1.WatchRequest{Target: &ktgrpcv1.WatchRequest_Key{Key: []byte(e.prefix + "w99")}, After: snapPos})
		if err != nil {
			t.Fatal(err)
		}
		for {
			m, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.GetSnapshot() != nil {
				t.Fatal("a snapshot on a resumed Watch")
			}
			if ev := m.GetEvent(); ev != nil {
				if string(ev.Key) != e.prefix+"w99" || string(ev.Value) != "end" {
					t.Fatalf("event %v; want only the change of w99", ev)
				}
				break
			}
		}
	})
}

// TestIdleStreamHoldsOneGoroutine: an idle Subscribe or Watch stream holds
// its handler's goroutine and no other in the gateway: the hub is read on
// the handler's goroutine, and a send runs on one of its own only while it
// is under way.
func TestIdleStreamHoldsOneGoroutine(t *testing.T) {
	b, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	_, conn := gatewaytest.StartServer(t, b, server.Options{})
	repl := ktgrpcv1.NewReplicationClient(conn)
	ctx := testCtx(t)
	const streams = 20
	for i := range streams {
		if i%2 == 0 {
			subscribe(t, ctx, repl, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}})
			continue
		}
		st, err := repl.Watch(ctx, &ktgrpcv1.WatchRequest{Target: &ktgrpcv1.WatchRequest_Prefix{Prefix: []byte("w")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	// Counted over the whole process, which other tests' gateways share:
	// every goroutine that follows the hub must be a stream's handler.
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	handlers, others := 0, 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if !strings.Contains(g, "github.com/ktgrpc/ktgrpc/server.(*follower).run(") {
			continue
		}
		if strings.Contains(g, "github.com/ktgrpc/ktgrpc/server.(*replicationService).") {
			handlers++
		} else {
			others++
		}
	}
	if handlers < streams || others > 0 {
		t.Fatalf("%d idle streams: %d handler goroutines follow the hub, and %d other goroutines; want at least %d and none", streams, handlers, others, streams)
	}
}
