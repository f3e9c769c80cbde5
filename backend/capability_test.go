package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

// stub is a Backend that embeds Base and lists what the test says; it has
// no core methods, which these tests never call.
type stub struct {
	backend.Backend
	backend.Base
	caps []backend.Capability
}

func (s stub) Capabilities() []backend.Capability { return s.caps }
func (stub) Name() string                         { return "stub://x" }

// tabler overrides one table method, as an adapter with tables does.
type tabler struct{ stub }

func (tabler) TableGenerateID(context.Context, string) (int64, error) { return 7, nil }

func TestUseFollowsTheListNotTheMethodSet(t *testing.T) {
	// Base gives every backend every feature method; without the
	// capability listed, Use refuses anyway.
	none := tabler{stub{}}
	if _, ok := any(none).(backend.Tabler); !ok {
		t.Fatal("a backend embedding Base does not satisfy Tabler")
	}
	_, err := backend.Use[backend.Tabler](none, backend.CapTables, "Table.GenerateID")
	var ue *backend.UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, backend.ErrUnsupported) || ue.Capability != backend.CapTables || ue.Backend != "stub://x" {
		t.Fatalf("Use without the capability: %v", err)
	}
	const want = `Table.GenerateID needs capability "tables" (table databases), which stub://x does not offer; Admin.Capabilities lists what it offers`
	if err.Error() != want {
		t.Fatalf("wording:\n got %s\nwant %s", err, want)
	}

	with := tabler{stub{caps: []backend.Capability{backend.CapTables}}}
	tb, err := backend.Use[backend.Tabler](with, backend.CapTables, "Table.GenerateID")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := tb.TableGenerateID(context.Background(), ""); id != 7 || err != nil {
		t.Fatalf("the backend's own method was not reached: %d, %v", id, err)
	}
	// What the backend does not override answers ErrUnsupported from Base,
	// naming the capability.
	if _, _, err := tb.TableGet(context.Background(), "", nil); !errors.As(err, &ue) || ue.Capability != backend.CapTables {
		t.Fatalf("Base's TableGet: %v", err)
	}
}

// A backend that lists a capability without implementing its interface is a
// bug in the backend, not a missing capability.
func TestUseOfAListedCapabilityWithoutItsInterface(t *testing.T) {
	type noBase struct {
		backend.Backend
	}
	b := struct {
		noBase
		stubCaps
	}{stubCaps: stubCaps{backend.CapScripts}}
	_, err := backend.Use[backend.Scripter](b, backend.CapScripts, "Script.Call")
	if !errors.Is(err, backend.ErrFailed) || errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Use: %v, want ErrFailed", err)
	}
}

type stubCaps []backend.Capability

func (s stubCaps) Capabilities() []backend.Capability { return s }
func (stubCaps) Name() string                         { return "stub://y" }

func TestEveryCapabilityIsDescribed(t *testing.T) {
	seen := map[backend.Capability]bool{}
	for _, c := range backend.AllCapabilities() {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
		// The description sits in parentheses in the one wording.
		if d := c.Describe(); d == string(c) || strings.ContainsAny(d, "()") {
			t.Errorf("capability %s: description %q", c, d)
		}
	}
}
