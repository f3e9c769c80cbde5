package backendtest

import (
	"context"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

// skewed is a store whose Append drops the appended bytes of one key: a
// difference that needs the key to exist first, so that shrinking has to
// keep a write and the append.
type skewed struct{ *embedded.Store }

func (s skewed) Append(ctx context.Context, db string, key, value []byte, exp backend.Expiry, keepLast int) error {
	if string(key) == "ab" {
		if _, found, err := s.Get(ctx, db, key); err == nil && found {
			return nil
		}
	}
	return s.Store.Append(ctx, db, key, value, exp, keepLast)
}

func newStore(t *testing.T) *embedded.Store {
	s, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestDiffFindsAndShrinks(t *testing.T) {
	caps := Capabilities{Family: KT, DB: "1", Ordered: true, KeepLast: true}
	opts := DiffOptions{Caps: caps, Seed: 1, Sequences: 20, Ops: 200}
	report, err := diff(context.Background(), newStore(t), skewed{newStore(t)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if report == "" {
		t.Fatal("no difference found between a store and one that drops appends to \"ab\"")
	}
	// The shortest sequence is a write of "ab", its append, and a read
	// that shows the value (the append itself answers alike).
	if !strings.Contains(report, "shortest sequence found (3 of") || !strings.Contains(report, "Append(key \"ab\"") {
		t.Errorf("the difference was not shrunk to write, append, read:\n%s", report)
	}
	t.Log(report)
}

func TestDiffAgrees(t *testing.T) {
	caps := Capabilities{Family: KT, DB: "1", Ordered: true, KeepLast: true}
	report, err := diff(context.Background(), newStore(t), newStore(t), DiffOptions{Caps: caps, Seed: 7, Sequences: 5, Ops: 200})
	if err != nil || report != "" {
		t.Fatalf("two stores differ: %v\n%s", err, report)
	}
}
