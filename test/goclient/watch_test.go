package goclient_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// switchboard is the network between a test's client and its gateways: it
// dials whichever gateway the test points it at, fails while none is set,
// and can cut every connection it made, as a network failure would. A
// restarted gateway listens on a new port, and the client, which dials
// through the switchboard, follows it without knowing.
type switchboard struct {
	mu    sync.Mutex
	addr  string // "" while no gateway runs
	conns []net.Conn
}

func (sw *switchboard) route(addr string) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.addr = addr
}

func (sw *switchboard) dial(ctx context.Context, _ string) (net.Conn, error) {
	sw.mu.Lock()
	addr := sw.addr
	sw.mu.Unlock()
	if addr == "" {
		return nil, errors.New("switchboard: no gateway is running")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.conns = append(sw.conns, conn)
	return conn, nil
}

// cut closes every connection made so far.
func (sw *switchboard) cut() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, c := range sw.conns {
		_ = c.Close()
	}
	sw.conns = nil
}

// client returns a Client that reaches gateways through sw.
func (sw *switchboard) client(t *testing.T) *ktgrpc.Client {
	t.Helper()
	c, err := ktgrpc.Dial("passthrough:///gateway", grpc.WithContextDialer(sw.dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waits records the delays Watch asks for and returns at once; then, when
// set, runs the test's own step.
type waits struct {
	got  []time.Duration
	then func(ctx context.Context) error
}

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.got = append(w.got, d)
	if w.then != nil {
		return w.then(ctx)
	}
	return nil
}

func newStore(t *testing.T, opts embedded.Options) *embedded.Store {
	t.Helper()
	store, err := embedded.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// write sets key directly in the store, which works while no gateway runs.
func write(t *testing.T, store *embedded.Store, key, value string) {
	t.Helper()
	if err := store.Set(context.Background(), "", []byte(key), []byte(value), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatalf("store.Set(%q): %v", key, err)
	}
}

// bounded returns a context whose deadline only keeps a broken Watch from
// hanging the test; it would then fail with DeadlineExceeded.
func bounded(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), time.Minute)
}

// TestWatchAcrossRestart stops the gateway under a Watch, changes the store
// while no gateway runs, and starts a new gateway on it: Watch delivers
// every change once, in order, across the restart.
func TestWatchAcrossRestart(t *testing.T) {
	store := newStore(t, embedded.Options{})
	srv, conn := gatewaytest.StartServer(t, store, server.Options{})
	sw := &switchboard{addr: conn.Target()}
	c := sw.client(t)
	ctx, cancel := bounded(t)
	defer cancel()
	write(t, store, "a", "1")
	write(t, store, "b", "2")

	restarted := false
	w := &waits{then: func(context.Context) error {
		if !restarted {
			restarted = true
			write(t, store, "c", "3")
			_, conn := gatewaytest.StartServer(t, store, server.Options{})
			sw.route(conn.Target())
		}
		return nil
	}}
	var got []string
	var positions []uint64
	for ev, err := range c.Watch(ctx, ktgrpc.WithWait(w.wait)) {
		if err != nil {
			t.Fatalf("Watch after %q: %v", got, err)
		}
		if ev.Op == ktgrpc.OpProgress {
			continue
		}
		got = append(got, describe(ev))
		positions = append(positions, ev.Position)
		if ev.Key == "b" {
			sw.route("")
			if err := srv.Stop(ctx); err != nil {
				t.Fatalf("stop the gateway: %v", err)
			}
		}
		if ev.Key == "c" {
			write(t, store, "d", "4")
		}
		if ev.Key == "d" {
			break
		}
	}
	if want := []string{"set 0 a 1", "set 0 b 2", "set 0 c 3", "set 0 d 4"}; !slices.Equal(got, want) {
		t.Fatalf("Watch = %q, want %q", got, want)
	}
	if !restarted || len(w.got) == 0 {
		t.Fatalf("Watch never waited to retry (waits %v): the gateway did not restart under it", w.got)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] <= positions[i-1] {
			t.Errorf("positions not increasing: %v", positions)
		}
	}
	if d := w.got[0]; d < ktgrpc.DefaultBackoffInitial/2 || d > ktgrpc.DefaultBackoffInitial {
		t.Errorf("first wait %v, want within [%v, %v]", d, ktgrpc.DefaultBackoffInitial/2, ktgrpc.DefaultBackoffInitial)
	}
}

// TestWatchConnectionCut cuts the network under a Watch three times, each
// after a message arrived: Watch resumes each time, from the position a
// progress report gave as well as from an event's, and a message received
// starts the count of WithMaxRetries again.
func TestWatchConnectionCut(t *testing.T) {
	store := newStore(t, embedded.Options{})
	sw := &switchboard{addr: gatewaytest.Start(t, store).Target()}
	c := sw.client(t)
	ctx, cancel := bounded(t)
	defer cancel()
	write(t, store, "old", "0")

	w := &waits{}
	live := false
	var got []string
	for ev, err := range c.Watch(ctx, ktgrpc.WithNow(), ktgrpc.WithMaxRetries(2), ktgrpc.WithWait(w.wait)) {
		if err != nil {
			t.Fatalf("Watch after %q (waits %v): %v", got, w.got, err)
		}
		var next string
		switch {
		case ev.Op == ktgrpc.OpProgress && !live:
			// With WithNow, the first message is the progress report that
			// gives the position to resume from.
			live, next = true, "a"
		case ev.Op == ktgrpc.OpProgress:
			continue
		case ev.Key == "a":
			next = "b"
		case ev.Key == "b":
			next = "c"
		}
		if ev.Op != ktgrpc.OpProgress {
			got = append(got, describe(ev))
		}
		if next == "" {
			break
		}
		sw.cut()
		write(t, store, next, strings.ToUpper(next))
	}
	if want := []string{"set 0 a A", "set 0 b B", "set 0 c C"}; !slices.Equal(got, want) {
		t.Fatalf("Watch = %q, want %q", got, want)
	}
	if len(w.got) < 3 {
		t.Errorf("waits %v: want one per cut at least", w.got)
	}
}

func TestWatchNotRetryable(t *testing.T) {
	store := newStore(t, embedded.Options{LogCapacity: 2})
	c := ktgrpc.New(gatewaytest.Start(t, store))
	ctx, cancel := bounded(t)
	defer cancel()
	write(t, store, "a", "1")
	first := store.LogPosition()
	for _, k := range []string{"b", "c", "d"} {
		write(t, store, k, "v")
	}

	tests := []struct {
		name string
		opts []ktgrpc.Option
		want error
	}{
		{"invalid filter", []ktgrpc.Option{ktgrpc.WithOps(ktgrpc.OpProgress)}, ktgrpc.ErrInvalid},
		{"unknown database", []ktgrpc.Option{ktgrpc.WithDB("nope")}, ktgrpc.ErrInvalid},
		// The log dropped b, the change after first: Watch must not skip it.
		{"position no longer retained", []ktgrpc.Option{ktgrpc.WithAfter(first)}, ktgrpc.ErrOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &waits{}
			var events []string
			var errs []error
			for ev, err := range c.Watch(ctx, append(tc.opts, ktgrpc.WithWait(w.wait))...) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				events = append(events, describe(ev))
			}
			if len(events) != 0 || len(errs) != 1 || !errors.Is(errs[0], tc.want) {
				t.Fatalf("Watch = %q then errors %v; want only one error matching %v", events, errs, tc.want)
			}
			if len(w.got) != 0 {
				t.Errorf("Watch waited %v to retry a %v", w.got, tc.want)
			}
		})
	}
}

func TestWatchMaxRetries(t *testing.T) {
	c := (&switchboard{}).client(t)
	ctx, cancel := bounded(t)
	defer cancel()

	w := &waits{}
	var errs []error
	for ev, err := range c.Watch(ctx, ktgrpc.WithMaxRetries(3), ktgrpc.WithWait(w.wait)) {
		if err == nil {
			t.Fatalf("event %q without a gateway", describe(ev))
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 {
		t.Fatalf("errors %v, want exactly one", errs)
	}
	err := errs[0]
	var e *ktgrpc.Error
	if !errors.Is(err, ktgrpc.ErrUnavailable) || !errors.As(err, &e) || !strings.Contains(err.Error(), "3 retries") {
		t.Fatalf("error %v: want the last ErrUnavailable, saying it gave up after 3 retries", err)
	}
	if len(w.got) != 3 {
		t.Errorf("waits %v, want 3", w.got)
	}
}

func TestWatchBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		opts  []ktgrpc.Option
		steps []time.Duration // each wait is within [step/2, step]
	}{
		{"defaults", nil, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10000 * ms, 10000 * ms}},
		{"custom", []ktgrpc.Option{ktgrpc.WithBackoff(10*ms, 50*ms)}, []time.Duration{10 * ms, 20 * ms, 40 * ms, 50 * ms, 50 * ms}},
		{"zero keeps defaults", []ktgrpc.Option{ktgrpc.WithBackoff(0, 0)}, []time.Duration{100 * ms, 200 * ms}},
		{"max below initial", []ktgrpc.Option{ktgrpc.WithBackoff(time.Second, ms)}, []time.Duration{time.Second, time.Second, time.Second}},
	}
	c := (&switchboard{}).client(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := bounded(t)
			defer cancel()
			w := &waits{}
			opts := append(tc.opts, ktgrpc.WithMaxRetries(len(tc.steps)), ktgrpc.WithWait(w.wait))
			if err := seqErr(c.Watch(ctx, opts...)); !errors.Is(err, ktgrpc.ErrUnavailable) {
				t.Fatalf("Watch without a gateway: %v, want ErrUnavailable", err)
			}
			if len(w.got) != len(tc.steps) {
				t.Fatalf("waits %v, want %d", w.got, len(tc.steps))
			}
			for i, step := range tc.steps {
				if d := w.got[i]; d < step/2 || d > step {
					t.Errorf("wait %d = %v, want within [%v, %v] (all: %v)", i, d, step/2, step, w.got)
				}
			}
		})
	}
}

func TestWatchCancel(t *testing.T) {
	t.Run("streaming", func(t *testing.T) {
		store := newStore(t, embedded.Options{})
		c := ktgrpc.New(gatewaytest.Start(t, store))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		write(t, store, "a", "1")

		w := &waits{}
		var got []string
		var errs []error
		for ev, err := range c.Watch(ctx, ktgrpc.WithWait(w.wait)) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			got = append(got, describe(ev))
			if ev.Op == ktgrpc.OpProgress {
				cancel()
			}
		}
		if !slices.Equal(got, []string{"set 0 a 1", "progress"}) {
			t.Errorf("events = %q, want the set of a and the progress after it", got)
		}
		if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("errors after cancel = %v, want one matching context.Canceled", errs)
		}
		if len(w.got) != 0 {
			t.Errorf("Watch waited %v after its context ended", w.got)
		}
	})

	t.Run("waiting", func(t *testing.T) {
		c := (&switchboard{}).client(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		w := &waits{then: func(ctx context.Context) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}}
		var errs []error
		for _, err := range c.Watch(ctx, ktgrpc.WithWait(w.wait)) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("errors = %v, want one matching context.Canceled", errs)
		}
		if len(w.got) != 1 {
			t.Errorf("waits %v, want the one cancelled", w.got)
		}
	})
}

// downConn is a connection whose every call fails as one to a gateway that
// is down, and that counts the requests to dial again at once.
type downConn struct{ resets int }

func (*downConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return status.Error(codes.Unavailable, "connection refused")
}

func (*downConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unavailable, "connection refused")
}

func (c *downConn) ResetConnectBackoff() { c.resets++ }

// TestWatchReconnects checks that Watch asks the connection to dial again
// before each retry: a *grpc.ClientConn otherwise waits out its own backoff,
// up to two minutes, failing every call meanwhile, however soon the gateway
// is back.
func TestWatchReconnects(t *testing.T) {
	conn := &downConn{}
	w := &waits{}
	err := seqErr(ktgrpc.New(conn).Watch(t.Context(), ktgrpc.WithMaxRetries(3), ktgrpc.WithWait(w.wait)))
	if !errors.Is(err, ktgrpc.ErrUnavailable) {
		t.Fatalf("Watch = %v, want ErrUnavailable", err)
	}
	if conn.resets != 3 || len(w.got) != 3 {
		t.Errorf("%d reconnections and waits %v, want one reconnection after each of 3 waits", conn.resets, w.got)
	}
}

// TestWatchSnapshotAcrossRestart watches a prefix with WithSnapshot: the
// records first, then the changes, and across a gateway restart the changes
// after the last position, without a second snapshot.
func TestWatchSnapshotAcrossRestart(t *testing.T) {
	store := newStore(t, embedded.Options{})
	srv, conn := gatewaytest.StartServer(t, store, server.Options{})
	sw := &switchboard{addr: conn.Target()}
	c := sw.client(t)
	ctx, cancel := bounded(t)
	defer cancel()
	write(t, store, "u:1", "ann")
	write(t, store, "u:2", "bob")
	write(t, store, "x", "other")

	restarted := false
	w := &waits{then: func(context.Context) error {
		if !restarted {
			restarted = true
			write(t, store, "u:4", "dan")
			_, conn := gatewaytest.StartServer(t, store, server.Options{})
			sw.route(conn.Target())
		}
		return nil
	}}
	var got []string
	var snapshotAt uint64
	for ev, err := range c.Watch(ctx, ktgrpc.WithPrefix("u:"), ktgrpc.WithSnapshot(), ktgrpc.WithWait(w.wait)) {
		if err != nil {
			t.Fatalf("Watch after %q: %v", got, err)
		}
		if ev.Op == ktgrpc.OpProgress {
			if snapshotAt == 0 {
				snapshotAt = ev.Position
				got = append(got, "end of snapshot")
				write(t, store, "u:3", "cid")
			}
			continue
		}
		got = append(got, ev.Op.String()+" "+ev.Key+" "+string(ev.Value))
		if ev.Op != ktgrpc.OpRecord && ev.Position <= snapshotAt {
			t.Errorf("change at %d, not after the snapshot's %d", ev.Position, snapshotAt)
		}
		if ev.Key == "u:3" {
			sw.route("")
			if err := srv.Stop(ctx); err != nil {
				t.Fatalf("stop the gateway: %v", err)
			}
		}
		if ev.Key == "u:4" {
			break
		}
	}
	want := []string{"record u:1 ann", "record u:2 bob", "end of snapshot", "set u:3 cid", "set u:4 dan"}
	if !slices.Equal(got, want) {
		t.Fatalf("Watch = %q, want %q", got, want)
	}
	if !restarted {
		t.Fatal("the gateway did not restart under Watch")
	}
	for _, err := range c.Watch(ctx, ktgrpc.WithSnapshot(), ktgrpc.WithNow()) {
		if !errors.Is(err, ktgrpc.ErrInvalid) {
			t.Fatalf("WithSnapshot and WithNow: %v, want ErrInvalid", err)
		}
	}
}
