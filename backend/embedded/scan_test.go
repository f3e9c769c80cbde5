package embedded

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

func scanKeys(t *testing.T, s *Store, db string, opts backend.ScanOptions) (keys []string, batches []int) {
	t.Helper()
	err := s.Scan(ctx, db, opts, func(batch []backend.Record) error {
		batches = append(batches, len(batch))
		for _, r := range batch {
			keys = append(keys, string(r.Key))
			if opts.KeysOnly && r.Value != nil {
				t.Errorf("KeysOnly scan returned value %q for %q", r.Value, r.Key)
			}
			if !opts.KeysOnly && string(r.Value) != "v"+string(r.Key) {
				t.Errorf("record %q has value %q; want %q", r.Key, r.Value, "v"+string(r.Key))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%+v): %v", opts, err)
	}
	return keys, batches
}

func TestScan(t *testing.T) {
	s, _ := newStore(t, Options{})
	for _, k := range []string{"a", "ab", "abc", "b", "ba", "c", "d", "\xff", "\xff\xff"} {
		mustSet(t, s, "", k, "v"+k, backend.Expiry{})
	}
	mustSet(t, s, "", "bb", "vbb", ttl(-time.Second)) // already expired: never seen
	tests := []struct {
		name string
		opts backend.ScanOptions
		want []string
	}{
		{"all", backend.ScanOptions{}, []string{"a", "ab", "abc", "b", "ba", "c", "d", "\xff", "\xff\xff"}},
		{"start end", backend.ScanOptions{Start: []byte("ab"), End: []byte("c")}, []string{"ab", "abc", "b", "ba"}},
		{"prefix", backend.ScanOptions{Prefix: []byte("a")}, []string{"a", "ab", "abc"}},
		{"prefix and start", backend.ScanOptions{Prefix: []byte("a"), Start: []byte("ab")}, []string{"ab", "abc"}},
		{"prefix and end", backend.ScanOptions{Prefix: []byte("a"), End: []byte("abc")}, []string{"a", "ab"}},
		{"prefix 0xff", backend.ScanOptions{Prefix: []byte("\xff")}, []string{"\xff", "\xff\xff"}},
		{"limit", backend.ScanOptions{Limit: 2}, []string{"a", "ab"}},
		{"empty range", backend.ScanOptions{Start: []byte("c"), End: []byte("b")}, nil},
		{"no match", backend.ScanOptions{Prefix: []byte("z")}, nil},
		{"reverse all", backend.ScanOptions{Reverse: true}, []string{"\xff\xff", "\xff", "d", "c", "ba", "b", "abc", "ab", "a"}},
		{"reverse start end", backend.ScanOptions{Reverse: true, Start: []byte("ab"), End: []byte("c")}, []string{"ba", "b", "abc", "ab"}},
		{"reverse prefix limit", backend.ScanOptions{Reverse: true, Prefix: []byte("a"), Limit: 2}, []string{"abc", "ab"}},
		{"reverse end between keys", backend.ScanOptions{Reverse: true, End: []byte("bz"), Limit: 3}, []string{"ba", "b", "abc"}},
	}
	for _, tt := range tests {
		for _, batch := range []int{0, 1, 2} {
			tt.opts.BatchSize = batch
			for _, keysOnly := range []bool{false, true} {
				tt.opts.KeysOnly = keysOnly
				got, _ := scanKeys(t, s, "", tt.opts)
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s (batch %d, keysOnly %v): %q; want %q", tt.name, batch, keysOnly, got, tt.want)
				}
			}
		}
	}
}

func TestScanBatches(t *testing.T) {
	s, _ := newStore(t, Options{})
	for i := range 10 {
		k := string(rune('a' + i))
		mustSet(t, s, "", k, "v"+k, backend.Expiry{})
	}
	if _, batches := scanKeys(t, s, "", backend.ScanOptions{BatchSize: 4}); !slices.Equal(batches, []int{4, 4, 2}) {
		t.Errorf("batch sizes = %v; want [4 4 2]", batches)
	}
	if _, batches := scanKeys(t, s, "", backend.ScanOptions{BatchSize: 4, Limit: 6}); !slices.Equal(batches, []int{4, 2}) {
		t.Errorf("batch sizes with limit 6 = %v; want [4 2]", batches)
	}
	if _, batches := scanKeys(t, s, "", backend.ScanOptions{BatchSize: 5}); !slices.Equal(batches, []int{5, 5}) {
		t.Errorf("batch sizes = %v; want [5 5] (no empty batch)", batches)
	}
}

// A huge BatchSize must not make one batch a copy of the whole database: a
// batch also ends at scanBatchBytes, and the scan goes on after it.
func TestScanBatchBytes(t *testing.T) {
	s, _ := newStore(t, Options{})
	value := strings.Repeat("x", scanBatchBytes/4)
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for _, k := range keys {
		mustSet(t, s, "", k, value, backend.Expiry{})
	}
	for _, reverse := range []bool{false, true} {
		var got []string
		var batches []int
		err := s.Scan(ctx, "", backend.ScanOptions{BatchSize: 1 << 30, Reverse: reverse}, func(batch []backend.Record) error {
			batches = append(batches, len(batch))
			for _, r := range batch {
				got = append(got, string(r.Key))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(keys)
		if reverse {
			slices.Reverse(want)
		}
		// The fourth value reaches the byte bound.
		if !slices.Equal(got, want) || !slices.Equal(batches, []int{4, 2}) {
			t.Errorf("reverse=%v: keys %q in batches %v; want %q in [4 2]", reverse, got, batches, want)
		}
	}
	// Keys only: the values do not count.
	if _, batches := scanKeys(t, s, "", backend.ScanOptions{BatchSize: 1 << 30, KeysOnly: true}); !slices.Equal(batches, []int{6}) {
		t.Errorf("keys-only batches = %v; want [6]", batches)
	}
}

func TestScanWritesDuringCallback(t *testing.T) {
	// fn runs without the store lock, so it may write; the scan resumes
	// after the last key it handed out.
	s, _ := newStore(t, Options{})
	for _, k := range []string{"a", "b", "c", "d"} {
		mustSet(t, s, "", k, "v"+k, backend.Expiry{})
	}
	var got []string
	err := s.Scan(ctx, "", backend.ScanOptions{BatchSize: 2}, func(batch []backend.Record) error {
		for _, r := range batch {
			got = append(got, string(r.Key))
		}
		if len(got) == 2 {
			mustSet(t, s, "", "bb", "new", backend.Expiry{})
			if _, err := s.Remove(ctx, "", []byte("c")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "bb", "d"}; !slices.Equal(got, want) {
		t.Errorf("keys = %q; want %q", got, want)
	}
}

func TestScanErrors(t *testing.T) {
	s, _ := newStore(t, Options{Databases: []DBConfig{{Name: "t"}, {Name: "h", Kind: Hash}}})
	mustSet(t, s, "h", "a", "va", backend.Expiry{})
	mustSet(t, s, "h", "b", "vb", backend.Expiry{})
	err := s.Scan(ctx, "h", backend.ScanOptions{Reverse: true}, func([]backend.Record) error { return nil })
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "hash database") {
		t.Errorf("reverse scan of a hash db: %v; want ErrUnsupported naming the hash database", err)
	}
	if got, _ := scanKeys(t, s, "h", backend.ScanOptions{}); len(got) != 2 {
		t.Errorf("forward scan of a hash db = %q; want both records", got)
	}
	for _, opts := range []backend.ScanOptions{{Limit: -1}, {BatchSize: -1}} {
		if err := s.Scan(ctx, "t", opts, func([]backend.Record) error { return nil }); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Scan(%+v) = %v; want ErrInvalid", opts, err)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err = s.Scan(ctx, "h", backend.ScanOptions{BatchSize: 1}, func([]backend.Record) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Scan with a failing fn = %v after %d calls; want fn's error after 1", err, calls)
	}
}
