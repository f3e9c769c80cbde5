package embedded

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

func ptr[T any](v T) *T { return &v }

func TestIncrement(t *testing.T) {
	s, _ := newStore(t, Options{})
	tests := []struct {
		name    string
		key     string
		delta   int64
		opts    backend.IncrementOptions
		want    int64
		applied bool
	}{
		{"creates from 0", "n", 5, backend.IncrementOptions{}, 5, true},
		{"adds", "n", -7, backend.IncrementOptions{}, -2, true},
		{"initial applies to a missing record", "a", 1, backend.IncrementOptions{Initial: ptr(int64(10))}, 11, true},
		{"initial ignored for an existing record", "a", 1, backend.IncrementOptions{Initial: ptr(int64(100))}, 12, true},
		{"must exist, missing", "b", 1, backend.IncrementOptions{MustExist: true}, 0, false},
		{"must exist, existing", "a", 3, backend.IncrementOptions{MustExist: true}, 15, true},
		{"zero delta reads", "a", 0, backend.IncrementOptions{}, 15, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, applied, err := s.Increment(ctx, "", []byte(tt.key), tt.delta, tt.opts)
			if err != nil || got != tt.want || applied != tt.applied {
				t.Fatalf("Increment = %d, %v, %v; want %d, %v", got, applied, err, tt.want, tt.applied)
			}
		})
	}
	if v, _ := mustGet(t, s, "", "n"); hex.EncodeToString([]byte(v)) != "fffffffffffffffe" {
		t.Errorf("stored value of n = %x; want 8-byte big-endian -2", v)
	}
	if _, found := mustGet(t, s, "", "b"); found {
		t.Errorf("must-exist increment created the record")
	}
	// The delta-0 read and the failed must-exist are not logged; every
	// logged value is the full 8-byte counter.
	evs := events(t, s, 0)
	if len(evs) != 5 {
		t.Fatalf("logged %d events (%q); want 5", len(evs), opsOf(evs))
	}
	if last := evs[4]; last.Op != backend.OpSet || hex.EncodeToString(last.Value) != "000000000000000f" || last.Command != "increment" {
		t.Errorf("last event = %v %x %q; want SET of the counter 15", last.Op, last.Value, last.Command)
	}
}

func TestIncrementZeroKeepsExpiry(t *testing.T) {
	s, clock := newStore(t, Options{})
	if _, _, err := s.Increment(ctx, "", []byte("n"), 1, backend.IncrementOptions{Expiry: ttl(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Increment(ctx, "", []byte("n"), 0, backend.IncrementOptions{}); err != nil {
		t.Fatal(err)
	}
	info, _, _ := s.Check(ctx, "", []byte("n"))
	if !info.ExpireTime.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("expiry after delta-0 increment = %v; want unchanged", info.ExpireTime)
	}
}

func TestIncrementIncompatible(t *testing.T) {
	s, _ := newStore(t, Options{})
	mustSet(t, s, "", "x", "abcde", backend.Expiry{})
	_, _, err := s.Increment(ctx, "", []byte("x"), 1, backend.IncrementOptions{})
	if !errors.Is(err, backend.ErrIncompatible) || !strings.Contains(err.Error(), `value of key "x" is 5 bytes, not an 8-byte integer`) {
		t.Errorf("Increment of a 5-byte value: %v; want ErrIncompatible with a size message", err)
	}
	// orig=set still checks the size first, as Kyoto Tycoon does.
	if _, _, err := s.IncrementOrig(ctx, "", []byte("x"), 1, OrigSet, backend.Expiry{}); !errors.Is(err, backend.ErrIncompatible) {
		t.Errorf("IncrementOrig(set) of a 5-byte value: %v; want ErrIncompatible", err)
	}
	_, _, err = s.IncrementDouble(ctx, "", []byte("x"), 1, backend.IncrementDoubleOptions{})
	if !errors.Is(err, backend.ErrIncompatible) || !strings.Contains(err.Error(), "16-byte") {
		t.Errorf("IncrementDouble of a 5-byte value: %v; want ErrIncompatible", err)
	}
	if v, _ := mustGet(t, s, "", "x"); v != "abcde" {
		t.Errorf("value changed to %q", v)
	}
}

func TestIncrementOrig(t *testing.T) {
	s, _ := newStore(t, Options{})
	steps := []struct {
		key     string
		num     int64
		orig    int64
		want    int64
		applied bool
	}{
		{"a", 1, 10, 11, true},
		{"b", 1, OrigTry, 0, false},
		{"a", 100, OrigSet, 100, true},
		{"c", 7, OrigSet, 7, true},
		{"a", 0, OrigSet, 0, true},
	}
	for _, st := range steps {
		got, applied, err := s.IncrementOrig(ctx, "", []byte(st.key), st.num, st.orig, backend.Expiry{})
		if err != nil || got != st.want || applied != st.applied {
			t.Errorf("IncrementOrig(%s, %d, %d) = %d, %v, %v; want %d, %v", st.key, st.num, st.orig, got, applied, err, st.want, st.applied)
		}
	}
}

func TestIncrementDouble(t *testing.T) {
	s, _ := newStore(t, Options{})
	steps := []struct {
		key     string
		delta   float64
		opts    backend.IncrementDoubleOptions
		want    float64
		applied bool
		stored  string // hex, "" = not checked
	}{
		// Bytes recorded from Kyoto Tycoon: 1.5 then -0.25 gives 1.25.
		{"d", 1.5, backend.IncrementDoubleOptions{}, 1.5, true, ""},
		{"d", -0.25, backend.IncrementDoubleOptions{}, 1.25, true, "0000000000000001" + "0000e35fa931a000"},
		// Kyoto Tycoon adds the parts separately and carries only a
		// fraction that reached +1, so -2 leaves integer -1, fraction +0.25.
		{"d", -2, backend.IncrementDoubleOptions{}, -0.75, true, "ffffffffffffffff" + "0000e35fa931a000"},
		// 1e-07 times 10^15 in extended precision is just below 10^8 and is
		// truncated: the real server stores ...05f5e0ff.
		{"e", 1e-07, backend.IncrementDoubleOptions{}, 9.9999999e-08, true, "0000000000000000" + "0000000005f5e0ff"},
		// 1 then -0.125: integer 1, fraction -0.125, as the real server.
		{"f", 1, backend.IncrementDoubleOptions{}, 1, true, ""},
		{"f", -0.125, backend.IncrementDoubleOptions{}, 0.875, true, "0000000000000001" + "ffff8e502b673000"},
		{"d", 0, backend.IncrementDoubleOptions{}, -0.75, true, ""},
		{"i", 2, backend.IncrementDoubleOptions{Initial: ptr(0.5)}, 2.5, true, ""},
		{"m", 2, backend.IncrementDoubleOptions{MustExist: true}, 0, false, ""},
	}
	for _, st := range steps {
		got, applied, err := s.IncrementDouble(ctx, "", []byte(st.key), st.delta, st.opts)
		if err != nil || got != st.want || applied != st.applied {
			t.Errorf("IncrementDouble(%s, %v) = %v, %v, %v; want %v, %v", st.key, st.delta, got, applied, err, st.want, st.applied)
		}
		if st.stored != "" {
			if v, _ := mustGet(t, s, "", st.key); hex.EncodeToString([]byte(v)) != st.stored {
				t.Errorf("stored %x; want %s", v, st.stored)
			}
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), 1e19} {
		if _, _, err := s.IncrementDouble(ctx, "", []byte("d"), bad, backend.IncrementDoubleOptions{}); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("IncrementDouble(%v) err = %v; want ErrInvalid", bad, err)
		}
	}
	// An 8-byte counter is not a 16-byte decimal.
	if _, _, err := s.Increment(ctx, "", []byte("n"), 1, backend.IncrementOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.IncrementDouble(ctx, "", []byte("n"), 1, backend.IncrementDoubleOptions{}); !errors.Is(err, backend.ErrIncompatible) {
		t.Errorf("IncrementDouble of an integer record: %v; want ErrIncompatible", err)
	}
}

func TestIncrementDoubleOrig(t *testing.T) {
	s, _ := newStore(t, Options{})
	if _, applied, err := s.IncrementDoubleOrig(ctx, "", []byte("d"), 2, math.Inf(-1), backend.Expiry{}); err != nil || applied {
		t.Errorf("orig=try on a missing record = %v, %v; want not applied", applied, err)
	}
	if v, applied, err := s.IncrementDoubleOrig(ctx, "", []byte("d"), 2, 1.25, backend.Expiry{}); err != nil || !applied || v != 3.25 {
		t.Errorf("orig=1.25 = %v, %v, %v; want 3.25", v, applied, err)
	}
	if v, applied, err := s.IncrementDoubleOrig(ctx, "", []byte("d"), 0.5, math.Inf(1), backend.Expiry{}); err != nil || !applied || v != 0.5 {
		t.Errorf("orig=set = %v, %v, %v; want 0.5", v, applied, err)
	}
}

func TestDecimalAdd(t *testing.T) {
	tests := []struct{ a, b, want float64 }{
		{0.75, 0.5, 1.25},
		{-0.75, -0.5, -1.25},
		{1.25, -2.5, -1.25},
		{-1.25, 2.5, 1.25},
		{3, -3, 0},
		{0.1, 0.2, 0.3},
	}
	for _, tt := range tests {
		a, _ := toDecimal("a", tt.a)
		b, _ := toDecimal("b", tt.b)
		sum := a.add(b)
		if got := sum.float(); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%v + %v = %v; want %v", tt.a, tt.b, got, tt.want)
		}
		if sum.integ != a.integ+b.integ && sum.integ != a.integ+b.integ+1 {
			t.Errorf("%v + %v = %+v; the integer parts must add, with at most a carry of one", tt.a, tt.b, sum)
		}
		if got := decodeDecimal(sum.encode()); got != sum {
			t.Errorf("encode/decode %+v = %+v", sum, got)
		}
	}
}
