package embedded

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

func TestLogPositions(t *testing.T) {
	s, clock := newStore(t, Options{ServerID: 7})
	if p := s.LogPosition(); p != 0 {
		t.Fatalf("LogPosition of an empty log = %d; want 0", p)
	}
	mustSet(t, s, "", "a", "1", backend.Expiry{})
	mustSet(t, s, "1", "b", "2", ttl(time.Minute))
	clock.Advance(1500 * time.Microsecond)
	mustSet(t, s, "", "c", "3", backend.Expiry{})
	clock.Advance(-time.Hour) // a clock going back must not reorder the log
	mustSet(t, s, "", "d", "4", backend.Expiry{})

	evs := events(t, s, 0)
	want := []uint64{1704067200000000000, 1704067200000000001, 1704067200001000000, 1704067200001000001}
	var got []uint64
	for _, e := range evs {
		got = append(got, e.Position)
	}
	if !slices.Equal(got, want) {
		t.Errorf("positions = %v; want %v", got, want)
	}
	if p := s.LogPosition(); p != want[3] {
		t.Errorf("LogPosition = %d; want %d", p, want[3])
	}
	e := evs[1]
	if e.OriginSID != 7 || e.DB != "1" || e.Op != backend.OpSet || string(e.Key) != "b" || string(e.Value) != "2" ||
		!e.ExpireTime.Equal(epoch.Add(time.Minute)) || e.Command != "set" {
		t.Errorf("event = %+v; want SET 1/b=2 from sid 7 expiring at epoch+1m", e)
	}
}

func TestSubscribeResumeAndFilter(t *testing.T) {
	s, _ := newStore(t, Options{})
	mustSet(t, s, "0", "user:1", "a", backend.Expiry{})
	mustSet(t, s, "1", "user:2", "b", backend.Expiry{})
	mustSet(t, s, "0", "other", "c", backend.Expiry{})
	if _, err := s.Remove(ctx, "0", []byte("user:1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	all := events(t, s, 0)
	if len(all) != 5 {
		t.Fatalf("logged %d events; want 5", len(all))
	}
	pos := func(i int) uint64 { return all[i].Position }

	tests := []struct {
		name string
		opts backend.SubscribeOptions
		want []string // "OP key" for an event, "@i" for an update without one at all[i]'s position
	}{
		{"all", backend.SubscribeOptions{}, []string{"SET user:1", "SET user:2", "SET other", "REMOVE user:1", "CLEAR ", "@4"}},
		{"after is exclusive", backend.SubscribeOptions{After: pos(2)}, []string{"REMOVE user:1", "CLEAR ", "@4"}},
		{"after the last", backend.SubscribeOptions{After: pos(4)}, []string{"@4"}},
		{"db filter", backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{"1"}}}, []string{"SET user:2", "CLEAR ", "@4"}},
		{"prefix filter keeps keyless events", backend.SubscribeOptions{Filter: backend.Filter{KeyPrefix: []byte("user:")}},
			[]string{"SET user:1", "SET user:2", "REMOVE user:1", "CLEAR ", "@4"}},
		// A run of withheld events at the end of a batch is one update,
		// then comes the caught-up update.
		{"op filter", backend.SubscribeOptions{Filter: backend.Filter{Ops: []backend.Operation{backend.OpSet}}},
			[]string{"SET user:1", "SET user:2", "SET other", "@4", "@4"}},
		{"everything withheld", backend.SubscribeOptions{Filter: backend.Filter{Ops: []backend.Operation{backend.OpAppend}}}, []string{"@4", "@4"}},
		{"db filter by default db", backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{""}}},
			[]string{"SET user:1", "SET other", "REMOVE user:1", "@4", "@4"}},
		{"now ignores after", backend.SubscribeOptions{Now: true, After: pos(0)}, []string{"@4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, u := range replay(t, s, tt.opts) {
				if u.Event == nil {
					i := slices.IndexFunc(all, func(e backend.Event) bool { return e.Position == u.Position })
					got = append(got, fmt.Sprintf("@%d", i))
					continue
				}
				if u.Position != u.Event.Position {
					t.Errorf("update position %d != event position %d", u.Position, u.Event.Position)
				}
				got = append(got, opName(u.Event.Op)+" "+string(u.Event.Key))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("updates = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestSubscribeDBFilterByIndexOrName(t *testing.T) {
	s, _ := newStore(t, Options{Databases: []DBConfig{{Name: "users"}, {Name: "cache", Kind: Hash}}})
	mustSet(t, s, "users", "a", "1", backend.Expiry{})
	mustSet(t, s, "cache", "b", "2", backend.Expiry{})
	for _, sel := range []string{"1", "cache"} {
		var got []string
		for _, u := range replay(t, s, backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{sel}}}) {
			if u.Event != nil {
				got = append(got, u.Event.DB+"/"+string(u.Event.Key))
			}
		}
		if !slices.Equal(got, []string{"cache/b"}) {
			t.Errorf("dbs %q: events %q; want [cache/b]", sel, got)
		}
	}
	err := s.Subscribe(ctx, backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{"nope"}}}, func(backend.Update) error { return nil })
	if !errors.Is(err, backend.ErrInvalid) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown db filter: err = %v; want ErrInvalid naming the database", err)
	}
}

func TestSubscribeFuturePosition(t *testing.T) {
	s, _ := newStore(t, Options{})
	mustSet(t, s, "", "a", "1", backend.Expiry{})
	future := s.LogPosition() + 1000
	got := replay(t, s, backend.SubscribeOptions{After: future})
	if len(got) != 1 || got[0].Event != nil || got[0].Position != future {
		t.Errorf("updates = %+v; want one update at the requested position %d", got, future)
	}
}

// follow subscribes in a goroutine and forwards every update on a channel.
func follow(t *testing.T, s *Store, opts backend.SubscribeOptions) (updates <-chan backend.Update, done <-chan error, cancel func()) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	ch := make(chan backend.Update)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Subscribe(cctx, opts, func(u backend.Update) error {
			select {
			case ch <- u:
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
	}()
	t.Cleanup(cancel)
	return ch, errc, cancel
}

func TestSubscribeLiveFollow(t *testing.T) {
	s, _ := newStore(t, Options{})
	mustSet(t, s, "", "old", "1", backend.Expiry{})
	updates, done, cancel := follow(t, s, backend.SubscribeOptions{Now: true})

	u := <-updates
	if u.Event != nil || u.Position != s.LogPosition() {
		t.Fatalf("first update = %+v; want the caught-up position %d without an event", u, s.LogPosition())
	}
	mustSet(t, s, "", "new", "2", backend.Expiry{})
	u = <-updates
	if u.Event == nil || string(u.Event.Key) != "new" || u.Position != s.LogPosition() {
		t.Fatalf("live update = %+v; want SET new at %d", u, s.LogPosition())
	}
	if _, err := s.Remove(ctx, "", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if u = <-updates; u.Event == nil || u.Event.Op != backend.OpRemove {
		t.Fatalf("live update = %+v; want REMOVE new", u)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe after cancel = %v; want context.Canceled", err)
	}
}

func TestSubscribeEndsOnClose(t *testing.T) {
	s, _ := newStore(t, Options{})
	updates, done, _ := follow(t, s, backend.SubscribeOptions{})
	<-updates // caught up: the subscriber now waits for events
	s.Close()
	if err := <-done; !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Subscribe after Close = %v; want ErrUnavailable", err)
	}
	if err := s.Subscribe(ctx, backend.SubscribeOptions{}, func(backend.Update) error { return nil }); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Subscribe on a closed store = %v; want ErrUnavailable", err)
	}
}

func TestSubscribeFnError(t *testing.T) {
	s, _ := newStore(t, Options{})
	mustSet(t, s, "", "a", "1", backend.Expiry{})
	stop := errors.New("stop")
	if err := s.Subscribe(ctx, backend.SubscribeOptions{}, func(backend.Update) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Subscribe = %v; want fn's error", err)
	}
}

func TestLogRetention(t *testing.T) {
	s, _ := newStore(t, Options{LogCapacity: 3})
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		mustSet(t, s, "", k, "1", backend.Expiry{})
	}
	// From 0, the retained log replays without complaint.
	evs := events(t, s, 0)
	if got := opsOf(evs); !slices.Equal(got, []string{"SET c", "SET d", "SET e"}) {
		t.Fatalf("retained = %q; want the last three", got)
	}
	// Resuming right before the oldest retained event is fine: nothing was
	// missed.
	lastDropped := evs[0].Position - 1 // b's position: positions are consecutive here
	if got := opsOf(events(t, s, lastDropped)); len(got) != 3 {
		t.Errorf("resume at the last dropped position = %q; want 3 events", got)
	}
	// Resuming before a dropped event is an error.
	err := s.Subscribe(ctx, backend.SubscribeOptions{After: lastDropped - 1}, func(backend.Update) error { return nil })
	if !errors.Is(err, backend.ErrOutOfRange) || !strings.Contains(err.Error(), "older than the retained") {
		t.Errorf("resume before the retained log = %v; want ErrOutOfRange", err)
	}
}

// The log also drops old events by size, so that rewriting a large value
// cannot pile up every old copy of it, and it counts what it holds: the
// arrays behind keys and values and its own array of events.
func TestLogRetentionByBytes(t *testing.T) {
	value := strings.Repeat("v", 1000)
	const limit = 8 << 10
	s, _ := newStore(t, Options{LogBytes: limit})
	for i := range 50 {
		mustSet(t, s, "", fmt.Sprintf("k%02d", i), value, backend.Expiry{})
		st := s.LogStats()
		if st.Bytes > limit {
			t.Fatalf("after %d writes the log holds %d bytes; the limit is %d", i+1, st.Bytes, limit)
		}
		var payload int64
		for _, e := range s.log.events {
			payload += int64(len(e.Key) + len(e.Value))
		}
		if floor := payload + int64(st.Events)*eventSize; st.Bytes < floor {
			t.Fatalf("the log reports %d bytes for %d events whose keys, values and slots take %d", st.Bytes, st.Events, floor)
		}
	}
	evs := events(t, s, 0)
	if len(evs) < 2 || len(evs) > 7 || string(evs[len(evs)-1].Key) != "k49" {
		t.Errorf("retained %q; want the newest few that fit in %d bytes", opsOf(evs), limit)
	}
	// An event larger than the whole bound still stays, as the newest.
	mustSet(t, s, "", "big", strings.Repeat("v", 4*limit), backend.Expiry{})
	if got := opsOf(events(t, s, 0)); !slices.Equal(got, []string{"SET big"}) {
		t.Errorf("retained = %q; want only the oversized newest event", got)
	}
	if _, err := New(Options{LogBytes: -1}); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("New with negative LogBytes = %v; want ErrInvalid", err)
	}
}

// TestLogBoundHoldsInTheHeap fills the log far past its bound with small
// events, where the per-event overhead outweighs the payload, rewriting one
// key so that the records themselves hold almost nothing: the heap the log
// keeps must stay within its bound, and the log's own count must not
// understate it.
func TestLogBoundHoldsInTheHeap(t *testing.T) {
	const limit = 8 << 20
	s, _ := newStore(t, Options{LogBytes: limit})
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	base := heap()
	for i := range 150_000 {
		mustSet(t, s, "", "k", strconv.Itoa(i), backend.Expiry{})
	}
	grew := heap() - base
	st := s.LogStats()
	if st.Events >= 150_000 {
		t.Fatalf("the log kept all %d events; the byte bound never applied", st.Events)
	}
	if grew > limit+limit/8 {
		t.Errorf("the heap grew by %d bytes for a log bounded at %d (log reports %d bytes, %d events)", grew, limit, st.Bytes, st.Events)
	}
	if st.Bytes < grew*3/4 {
		t.Errorf("the log reports %d bytes but the heap grew by %d", st.Bytes, grew)
	}
	runtime.KeepAlive(s)
}

func TestSubscriberFallsBehind(t *testing.T) {
	for name, opts := range map[string]backend.SubscribeOptions{
		"now":       {Now: true},
		"after 0":   {},
		"after pos": {After: 1},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newStore(t, Options{LogCapacity: 2})
			reached, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				first := true
				done <- s.Subscribe(ctx, opts, func(u backend.Update) error {
					if !first {
						return fmt.Errorf("got update %+v; want none after the overflow", u)
					}
					first = false
					close(reached)
					<-release
					return nil
				})
			}()
			// The subscriber is caught up on the empty log and stuck in fn
			// while three events overflow the two-event log: writers must
			// not wait for it, and it must not skip the dropped event.
			<-reached
			for _, k := range []string{"a", "b", "c"} {
				mustSet(t, s, "", k, "1", backend.Expiry{})
			}
			close(release)
			if err := <-done; !errors.Is(err, backend.ErrOutOfRange) {
				t.Fatalf("Subscribe = %v; want ErrOutOfRange for the dropped events", err)
			}
		})
	}
}
