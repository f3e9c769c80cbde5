package embedded

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

func openCursor(t *testing.T, s *Store, db string) backend.Cursor {
	t.Helper()
	c, err := s.OpenCursor(ctx, db)
	if err != nil {
		t.Fatalf("OpenCursor: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func curKey(t *testing.T, c backend.Cursor) string {
	t.Helper()
	k, ok, err := c.GetKey(ctx, false)
	if err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	if !ok {
		return "<none>"
	}
	return string(k)
}

func TestCursorWalk(t *testing.T) {
	s, _ := newStore(t, Options{})
	for _, k := range []string{"a", "b", "c", "d"} {
		mustSet(t, s, "", k, "v"+k, backend.Expiry{})
	}
	mustSet(t, s, "", "bb", "x", ttl(-time.Second)) // expired: skipped
	c := openCursor(t, s, "")

	if ok, _ := c.Step(ctx); ok {
		t.Errorf("Step on an unpositioned cursor succeeded")
	}
	if _, ok, _ := c.Get(ctx, false); ok {
		t.Errorf("Get on an unpositioned cursor succeeded")
	}

	// Forward with Get(step).
	var fwd []string
	if ok, err := c.Jump(ctx, nil); !ok || err != nil {
		t.Fatalf("Jump(nil) = %v, %v", ok, err)
	}
	for {
		rec, ok, err := c.Get(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if string(rec.Value) != "v"+string(rec.Key) {
			t.Errorf("record %q = %q", rec.Key, rec.Value)
		}
		fwd = append(fwd, string(rec.Key))
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(fwd, want) {
		t.Errorf("forward walk = %q; want %q", fwd, want)
	}

	// Backward with StepBack.
	var back []string
	ok, _ := c.JumpBack(ctx, nil)
	for ok {
		back = append(back, curKey(t, c))
		ok, _ = c.StepBack(ctx)
	}
	if want := []string{"d", "c", "b", "a"}; !slices.Equal(back, want) {
		t.Errorf("backward walk = %q; want %q", back, want)
	}

	steps := []struct {
		name string
		do   func() (bool, error)
		ok   bool
		at   string
	}{
		{"jump between keys", func() (bool, error) { return c.Jump(ctx, []byte("bz")) }, true, "c"},
		{"jump past the end", func() (bool, error) { return c.Jump(ctx, []byte("e")) }, false, "<none>"},
		{"jump back between keys", func() (bool, error) { return c.JumpBack(ctx, []byte("bz")) }, true, "b"},
		{"jump back exact", func() (bool, error) { return c.JumpBack(ctx, []byte("c")) }, true, "c"},
		{"jump back before the start", func() (bool, error) { return c.JumpBack(ctx, []byte("0")) }, false, "<none>"},
		{"jump exact", func() (bool, error) { return c.Jump(ctx, []byte("d")) }, true, "d"},
		{"step off the end", func() (bool, error) { return c.Step(ctx) }, false, "<none>"},
	}
	for _, st := range steps {
		ok, err := st.do()
		if err != nil || ok != st.ok {
			t.Errorf("%s = %v, %v; want %v", st.name, ok, err, st.ok)
		}
		if at := curKey(t, c); at != st.at {
			t.Errorf("%s: cursor at %q; want %q", st.name, at, st.at)
		}
	}
}

func TestCursorWrites(t *testing.T) {
	s, _ := newStore(t, Options{})
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, s, "", k, "v"+k, backend.Expiry{})
	}
	c := openCursor(t, s, "")
	c.Jump(ctx, nil)
	if ok, err := c.SetValue(ctx, []byte("A"), ttl(time.Hour), false); !ok || err != nil {
		t.Fatalf("SetValue = %v, %v", ok, err)
	}
	if v, _ := mustGet(t, s, "", "a"); v != "A" {
		t.Errorf("a = %q after SetValue; want A", v)
	}
	if ok, _ := c.SetValue(ctx, []byte("A2"), backend.Expiry{}, true); !ok || curKey(t, c) != "b" {
		t.Errorf("SetValue(step) left the cursor at %q; want b", curKey(t, c))
	}
	if v, ok, err := c.GetValue(ctx, false); !ok || err != nil || string(v) != "vb" {
		t.Fatalf("GetValue = %q, %v, %v; want vb", v, ok, err)
	}
	if ok, err := c.Remove(ctx); !ok || err != nil {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if at := curKey(t, c); at != "c" {
		t.Errorf("after Remove the cursor is at %q; want the next record c", at)
	}
	if v, ok, err := c.GetValue(ctx, true); !ok || err != nil || string(v) != "vc" {
		t.Fatalf("GetValue(step) = %q, %v, %v; want vc", v, ok, err)
	}
	if _, ok, _ := c.GetValue(ctx, false); ok {
		t.Fatalf("GetValue after stepping off the end succeeded")
	}
	c.JumpBack(ctx, nil)
	rec, ok, err := c.Seize(ctx)
	if !ok || err != nil || string(rec.Key) != "c" || string(rec.Value) != "vc" {
		t.Fatalf("Seize = %+v, %v, %v; want c=vc", rec, ok, err)
	}
	// After JumpBack the cursor moves backward, as a Kyoto Cabinet tree
	// cursor does: the seize left it on a (b is gone), which Remove takes;
	// nothing is left before a.
	if at := curKey(t, c); at != "a" {
		t.Errorf("after Seize following JumpBack the cursor is at %q; want the previous record a", at)
	}
	if ok, _ := c.Remove(ctx); !ok {
		t.Errorf("Remove of a failed")
	}
	if ok, _ := c.Remove(ctx); ok {
		t.Errorf("Remove before the first record succeeded")
	}
	want := []string{"SET a", "SET b", "SET c", "SET a", "SET a", "REMOVE b", "REMOVE c", "REMOVE a"}
	evs := events(t, s, 0)
	if got := opsOf(evs); !slices.Equal(got, want) {
		t.Errorf("log = %q; want %q", got, want)
	}
	if evs[3].Command != "cur_set_value" || evs[5].Command != "cur_remove" || evs[6].Command != "cur_seize" {
		t.Errorf("commands = %q, %q, %q", evs[3].Command, evs[5].Command, evs[6].Command)
	}
}

func TestCursorConcurrentRemoval(t *testing.T) {
	s, _ := newStore(t, Options{})
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, s, "", k, "v"+k, backend.Expiry{})
	}
	c := openCursor(t, s, "")
	c.Jump(ctx, []byte("b"))
	if _, err := s.Remove(ctx, "", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if at := curKey(t, c); at != "c" {
		t.Errorf("after its record was removed the cursor reads %q; want the next record c", at)
	}
	if ok, _ := c.StepBack(ctx); !ok || curKey(t, c) != "a" {
		t.Errorf("StepBack went to %q; want a", curKey(t, c))
	}
}

func TestCursorHashAndClosed(t *testing.T) {
	s, _ := newStore(t, Options{Databases: []DBConfig{{Name: "h", Kind: Hash}}})
	mustSet(t, s, "", "a", "va", backend.Expiry{})
	c := openCursor(t, s, "h")
	if ok, err := c.Jump(ctx, nil); !ok || err != nil {
		t.Errorf("Jump on a hash db = %v, %v; want ok", ok, err)
	}
	if _, err := c.JumpBack(ctx, nil); !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "hash database") {
		t.Errorf("JumpBack on a hash db = %v; want ErrUnsupported", err)
	}
	if _, err := c.StepBack(ctx); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("StepBack on a hash db = %v; want ErrUnsupported", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("Step on a closed cursor = %v; want ErrInvalid", err)
	}
	if _, err := s.OpenCursor(ctx, "nope"); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("OpenCursor(unknown db) = %v; want ErrInvalid", err)
	}
}
