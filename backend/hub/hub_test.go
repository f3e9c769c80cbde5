package hub_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/hub"
)

// collect subscribes and sends every update on a channel until ctx ends.
func collect(ctx context.Context, h *hub.Hub, opts backend.SubscribeOptions) (<-chan backend.Update, <-chan error) {
	ups, done := make(chan backend.Update, 1000), make(chan error, 1)
	go func() {
		done <- h.Subscribe(ctx, opts, func(u backend.Update) error {
			select {
			case ups <- u:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return ups, done
}

func nextEvent(t *testing.T, ups <-chan backend.Update, done <-chan error) *backend.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case u := <-ups:
			if u.Event != nil {
				return u.Event
			}
		case err := <-done:
			t.Fatalf("subscription ended: %v", err)
		case <-timeout:
			t.Fatal("no event")
		}
	}
}

// TestWindowBoundedByBytes fills a window bounded by bytes and checks the
// hub's state: the window keeps only what fits, every subscriber still gets

// newHub starts a hub with opts on a fresh embedded store; both close when
// the test ends (a test may close the hub sooner).
func newHub(t *testing.T, opts hub.Options) (*embedded.Store, *hub.Hub) {
	t.Helper()
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	h := hub.New(store, opts)
	t.Cleanup(func() { _ = h.Close() })
	return store, h
}

// every change, and the last subscriber to leave closes the upstream.
func TestWindowBoundedByBytes(t *testing.T) {
	store, h := newHub(t, hub.Options{WindowBytes: 4 << 10})
	ctx, cancel := context.WithCancel(t.Context())
	ups, done := collect(ctx, h, backend.SubscribeOptions{Now: true})
	// The first update, the progress at the end of the log, shows the
	// subscriber is attached.
	select {
	case <-ups:
	case err := <-done:
		t.Fatal(err)
	}
	value := make([]byte, 1000)
	for i := range 20 {
		if err := store.Set(ctx, "", []byte(fmt.Sprintf("k%02d", i)), value, backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if e := nextEvent(t, ups, done); string(e.Key) != fmt.Sprintf("k%02d", i) {
			t.Fatalf("event %d on %q", i, e.Key)
		}
	}
	st := h.Stats()
	if st.Subscribers != 1 || st.UpstreamConnections != 1 || st.WindowBytes > 4<<10 || st.WindowEvents == 0 || st.WindowEvents >= 20 {
		t.Fatalf("stats %+v: want one subscriber on one upstream, a window of at most 4 KiB holding some of the 20 events", st)
	}
	if st.WindowOldest == 0 || st.Position != store.LogPosition() {
		t.Fatalf("stats %+v: want the oldest position of the window and the log's position %d", st, store.LogPosition())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription ended with %v", err)
	}
	if st := h.Stats(); st.Subscribers != 0 || st.UpstreamConnections != 0 {
		t.Fatalf("after the last subscriber left: %+v", st)
	}
}

// TestCloseEndsSubscribers closes the hub under a subscriber.
func TestCloseEndsSubscribers(t *testing.T) {
	_, h := newHub(t, hub.Options{})
	ups, done := collect(t.Context(), h, backend.SubscribeOptions{})
	<-ups
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("subscription after Close: %v, want ErrUnavailable", err)
	}
	if _, done := collect(t.Context(), h, backend.SubscribeOptions{}); !errors.Is(<-done, backend.ErrUnavailable) {
		t.Fatal("a closed hub took a subscriber")
	}
}

// TestStatsMaxLag holds one subscriber inside its first delivery while
// another takes every change: the lag in Stats is the held one's backlog.
func TestStatsMaxLag(t *testing.T) {
	store, h := newHub(t, hub.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	entered, release := make(chan struct{}), make(chan struct{})
	heldDone := make(chan error, 1)
	go func() {
		first := true
		heldDone <- h.Subscribe(ctx, backend.SubscribeOptions{After: 0}, func(u backend.Update) error {
			if u.Event != nil && first {
				first = false
				close(entered)
				<-release
			}
			return nil
		})
	}()
	ups, done := collect(ctx, h, backend.SubscribeOptions{After: 0})
	const n = 5
	for i := range n {
		if err := store.Set(ctx, "", []byte(fmt.Sprintf("k%d", i)), []byte("v"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		nextEvent(t, ups, done)
	}
	<-entered
	if got := h.Stats().MaxLagEvents; got != n {
		t.Errorf("MaxLagEvents = %d with one subscriber held at the first of %d changes, want %d", got, n, n)
	}
	close(release)
	cancel()
	if err := <-heldDone; !errors.Is(err, context.Canceled) {
		t.Errorf("held subscriber ended with %v", err)
	}
	<-done
	if got := h.Stats().MaxLagEvents; got != 0 {
		t.Errorf("MaxLagEvents = %d after every subscriber left, want 0", got)
	}
}

// TestCloseWhileConsumerBlocked closes a subscription whose consumer is
// stuck, as one sending to a client that stopped reading is: the hub forgets
// it at once, and Run returns once the consumer does.
func TestCloseWhileConsumerBlocked(t *testing.T) {
	_, h := newHub(t, hub.Options{})
	sub, err := h.Open(t.Context(), backend.SubscribeOptions{Now: true})
	if err != nil {
		t.Fatal(err)
	}
	blocked, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- sub.Run(t.Context(), hub.Consumer{Updates: func([]backend.Update) error {
			select {
			case <-blocked:
			default:
				close(blocked)
			}
			<-release
			return nil
		}})
	}()
	<-blocked
	if st := h.Stats(); st.Subscribers != 1 || st.UpstreamConnections != 1 {
		t.Fatalf("while blocked: %+v; want one subscriber on one upstream", st)
	}
	sub.Close()
	if st := h.Stats(); st.Subscribers != 0 || st.UpstreamConnections != 0 {
		t.Fatalf("after Close: %+v; want no subscriber and no upstream", st)
	}
	sub.Close() // a second Close does nothing
	close(release)
	if err := <-done; err == nil {
		t.Fatal("Run after Close ended without an error")
	}
}

// TestSubscribeBatch: a subscriber that starts behind the newest change is
// handed the changes waiting for it together, in order, and Idle runs on
// its goroutine between updates when Wake delivers.
func TestSubscribeBatch(t *testing.T) {
	store, h := newHub(t, hub.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A first subscriber keeps the shared stream, and so the window, open.
	first, firstDone := collect(ctx, h, backend.SubscribeOptions{Now: true})
	<-first
	const n = 30
	for i := range n {
		if err := store.Set(ctx, "", []byte(fmt.Sprintf("k%02d", i)), []byte("v"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var start uint64
	for i := range n {
		e := nextEvent(t, first, firstDone)
		if i == 0 {
			start = e.Position - 1
		}
	}
	wake := make(chan time.Time, 1)
	wake <- time.Now()
	var got []string
	largest, idled := 0, 0
	errDone := errors.New("done")
	err := h.SubscribeBatch(ctx, backend.SubscribeOptions{After: start}, hub.Consumer{
		Updates: func(ups []backend.Update) error {
			events := 0
			for _, u := range ups {
				if u.Event != nil {
					got = append(got, string(u.Event.Key))
					events++
				}
			}
			largest = max(largest, events)
			return nil
		},
		Wake: wake,
		Idle: func() error {
			idled++
			if len(got) == n {
				return errDone
			}
			return nil
		},
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("SubscribeBatch: %v after %d events", err, len(got))
	}
	for i, k := range got {
		if want := fmt.Sprintf("k%02d", i); k != want {
			t.Fatalf("event %d is %q, want %q", i, k, want)
		}
	}
	if largest < 2 {
		t.Errorf("the %d waiting changes came one at a time", n)
	}
	if idled != 1 {
		t.Errorf("Idle ran %d times for one wakeup", idled)
	}
}
