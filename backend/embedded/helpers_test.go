package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// epoch is the fake clock's start: 2024-01-01T00:00:00Z, whose log position
// Kyoto Tycoon documents as 1704067200000000000.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// newStore opens a store on a fake clock with the sweep disabled, so that
// only the test decides when expired records are purged.
func newStore(t testing.TB, opts Options) (*Store, *testclock.Manual) {
	t.Helper()
	clock := testclock.NewManual(epoch)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

// replay subscribes with opts and returns every update up to the point
// where the subscriber has caught up and would wait for new events.
func replay(t *testing.T, s *Store, opts backend.SubscribeOptions) []backend.Update {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.waitHook = cancel
	defer func() { s.waitHook = nil }()
	var out []backend.Update
	err := s.Subscribe(ctx, opts, func(u backend.Update) error {
		out = append(out, u)
		return nil
	})
	if err != context.Canceled {
		t.Fatalf("Subscribe(%+v) = %v; want context.Canceled", opts, err)
	}
	return out
}

// events returns every retained event after pos.
func events(t *testing.T, s *Store, after uint64) []backend.Event {
	t.Helper()
	var out []backend.Event
	for _, u := range replay(t, s, backend.SubscribeOptions{After: after}) {
		if u.Event != nil {
			out = append(out, *u.Event)
		}
	}
	return out
}

// opsOf summarises events as "op key" strings.
func opsOf(evs []backend.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, opName(e.Op)+" "+string(e.Key))
	}
	return out
}

func opName(op backend.Operation) string {
	switch op {
	case backend.OpSet:
		return "SET"
	case backend.OpRemove:
		return "REMOVE"
	case backend.OpClear:
		return "CLEAR"
	default:
		return "OP?"
	}
}

func mustSet(t testing.TB, s *Store, db, key, value string, exp backend.Expiry) {
	t.Helper()
	if err := s.Set(context.Background(), db, []byte(key), []byte(value), exp, backend.WriteOptions{}); err != nil {
		t.Fatalf("Set(%q, %q): %v", key, value, err)
	}
}

func mustGet(t testing.TB, s *Store, db, key string) (string, bool) {
	t.Helper()
	rec, found, err := s.Get(context.Background(), db, []byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(rec.Value), found
}

func ttl(d time.Duration) backend.Expiry { return backend.Expiry{TTL: d} }
