package embedded

import (
	"slices"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

func TestExpiryInvisible(t *testing.T) {
	s, clock := newStore(t, Options{})
	mustSet(t, s, "", "keep", "1", backend.Expiry{})
	mustSet(t, s, "", "ttl", "22", ttl(10*time.Second))
	mustSet(t, s, "", "at", "333", backend.Expiry{At: epoch.Add(20 * time.Second)})

	rec, found, _ := s.Get(ctx, "", []byte("ttl"))
	if !found || !rec.ExpireTime.Equal(epoch.Add(10*time.Second)) {
		t.Fatalf("Get(ttl) = %+v, %v; want it, expiring at epoch+10s", rec, found)
	}
	clock.Advance(10 * time.Second) // exactly at the deadline: gone

	if _, found := mustGet(t, s, "", "ttl"); found {
		t.Errorf("Get returned a record at its expiration time")
	}
	if _, found, _ := s.Check(ctx, "", []byte("ttl")); found {
		t.Errorf("Check returned an expired record")
	}
	if recs, _ := s.GetBulk(ctx, "", [][]byte{[]byte("ttl"), []byte("at")}, true); len(recs) != 1 || string(recs[0].Key) != "at" {
		t.Errorf("GetBulk = %+v; want only at", recs)
	}
	if keys, _ := scanKeysPlain(t, s); !slices.Equal(keys, []string{"at", "keep"}) {
		t.Errorf("Scan = %q; want at, keep", keys)
	}
	if keys, _ := s.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("t")}, 0); len(keys) != 0 {
		t.Errorf("MatchKeys found expired keys %q", keys)
	}
	c := openCursor(t, s, "")
	if ok, _ := c.Jump(ctx, []byte("t")); ok {
		t.Errorf("cursor jumped onto the expired record %q", curKey(t, c))
	}
	st, _ := s.Status(ctx, "")
	if st.Count != 2 || st.Size != int64(len("keep1")+len("at333")) {
		t.Errorf("Status = count %d size %d; want 2, %d", st.Count, st.Size, len("keep1")+len("at333"))
	}

	clock.Advance(10 * time.Second)
	if _, found := mustGet(t, s, "", "at"); found {
		t.Errorf("absolute expiry: record still visible")
	}
	if rep, _ := s.Report(ctx); rep["db_total_count"] != "1" {
		t.Errorf("Report db_total_count = %q; want 1", rep["db_total_count"])
	}
	// Reads do not purge or log anything.
	if got := opsOf(events(t, s, 0)); len(got) != 3 {
		t.Errorf("log = %q; want only the three sets", got)
	}
}

func scanKeysPlain(t *testing.T, s *Store) ([]string, error) {
	t.Helper()
	var keys []string
	err := s.Scan(ctx, "", backend.ScanOptions{}, func(batch []backend.Record) error {
		for _, r := range batch {
			keys = append(keys, string(r.Key))
		}
		return nil
	})
	return keys, err
}

func TestSweepLogsRemove(t *testing.T) {
	s, clock := newStore(t, Options{})
	mustSet(t, s, "", "a", "1", ttl(time.Second))
	mustSet(t, s, "", "b", "1", ttl(time.Second))
	mustSet(t, s, "", "c", "1", ttl(time.Hour))
	mustSet(t, s, "1", "d", "1", ttl(time.Second))
	before := s.LogPosition()

	if n, err := s.sweep(s.dbs[0], 0); err != nil || n != 0 {
		t.Fatalf("sweep before anything expired = %d, %v; want 0", n, err)
	}
	clock.Advance(time.Second)
	if n, err := s.sweep(s.dbs[0], 1); err != nil || n != 1 {
		t.Fatalf("sweep(limit 1) = %d, %v; want 1", n, err)
	}
	if err := s.Vacuum(ctx, "0", 0); err != nil {
		t.Fatal(err)
	}
	evs := events(t, s, before)
	if got, want := opsOf(evs), []string{"REMOVE a", "REMOVE b"}; !slices.Equal(got, want) {
		t.Fatalf("log after sweeping db 0 = %q; want %q", got, want)
	}
	if evs[0].Command != "expire" || evs[0].DB != "0" {
		t.Errorf("sweep event = %+v; want command expire on db 0", evs[0])
	}
	// The purge really removed them: the size accounting agrees.
	if st, _ := s.Status(ctx, "0"); st.Count != 1 || st.Size != 2 || s.dbs[0].recs.Len() != 1 || s.dbs[0].size != 2 {
		t.Errorf("after sweep: status %+v, %d stored, size %d; want only c", st, s.dbs[0].recs.Len(), s.dbs[0].size)
	}
	if err := s.Vacuum(ctx, "1", 0); err != nil {
		t.Fatal(err)
	}
	if got := opsOf(events(t, s, evs[1].Position)); !slices.Equal(got, []string{"REMOVE d"}) {
		t.Errorf("Vacuum(1) logged %q; want REMOVE d", got)
	}
	if err := s.Vacuum(ctx, "", -1); err == nil {
		t.Errorf("Vacuum(-1) succeeded")
	}
}

func TestSweepChunks(t *testing.T) {
	s, clock := newStore(t, Options{})
	n := sweepChunk*2 + 5
	entries := make([]backend.Entry, n)
	for i := range entries {
		entries[i] = backend.Entry{Key: []byte{byte(i >> 16), byte(i >> 8), byte(i)}, Value: []byte("v"), Expiry: ttl(time.Second)}
	}
	if _, err := s.SetBulk(ctx, "", entries, backend.WriteOptions{Atomic: true}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if removed, err := s.sweep(s.dbs[0], 0); err != nil || removed != n {
		t.Fatalf("sweep = %d, %v; want %d", removed, err, n)
	}
	if s.dbs[0].recs.Len() != 0 || s.dbs[0].exps.Len() != 0 || s.dbs[0].size != 0 {
		t.Errorf("after sweep: %d records, %d expiry entries, size %d; want all zero", s.dbs[0].recs.Len(), s.dbs[0].exps.Len(), s.dbs[0].size)
	}
}

// Writes that find an expired record drop it. Kyoto Tycoon logs that as a
// REMOVE when the write then stores nothing, and as just the SET otherwise.
func TestWriteOnExpiredRecord(t *testing.T) {
	tests := []struct {
		name    string
		write   func(t *testing.T, s *Store) error
		wantLog []string
		after   string // value afterwards; "" = missing
	}{
		{"set", func(t *testing.T, s *Store) error {
			return s.Set(ctx, "", []byte("k"), []byte("new"), backend.Expiry{}, backend.WriteOptions{})
		}, []string{"SET k"}, "new"},
		{"add succeeds", func(t *testing.T, s *Store) error {
			_, err := s.Add(ctx, "", []byte("k"), []byte("new"), backend.Expiry{})
			return err
		}, []string{"SET k"}, "new"},
		{"replace fails", func(t *testing.T, s *Store) error {
			_, err := s.Replace(ctx, "", []byte("k"), []byte("new"), backend.Expiry{})
			return err
		}, []string{"REMOVE k"}, ""},
		{"append starts over", func(t *testing.T, s *Store) error {
			return s.Append(ctx, "", []byte("k"), []byte("new"), backend.Expiry{}, 0)
		}, []string{"SET k"}, "new"},
		{"cas expecting the old value fails", func(t *testing.T, s *Store) error {
			_, err := s.CompareAndSwap(ctx, "", []byte("k"), []byte("old"), []byte("new"), backend.Expiry{})
			return err
		}, []string{"REMOVE k"}, ""},
		{"cas expecting absence succeeds", func(t *testing.T, s *Store) error {
			_, err := s.CompareAndSwap(ctx, "", []byte("k"), nil, []byte("new"), backend.Expiry{})
			return err
		}, []string{"SET k"}, "new"},
		{"seize fails", func(t *testing.T, s *Store) error {
			_, _, err := s.Seize(ctx, "", []byte("k"))
			return err
		}, []string{"REMOVE k"}, ""},
		{"remove", func(t *testing.T, s *Store) error {
			removed, err := s.Remove(ctx, "", []byte("k"))
			if removed {
				t.Errorf("Remove of an expired record reported removed")
			}
			return err
		}, []string{"REMOVE k"}, ""},
		{"must-exist increment fails", func(t *testing.T, s *Store) error {
			_, _, err := s.Increment(ctx, "", []byte("k"), 1, backend.IncrementOptions{MustExist: true})
			return err
		}, []string{"REMOVE k"}, ""},
		{"increment ignores the old size", func(t *testing.T, s *Store) error {
			_, _, err := s.Increment(ctx, "", []byte("k"), 1, backend.IncrementOptions{})
			return err
		}, []string{"SET k"}, "\x00\x00\x00\x00\x00\x00\x00\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newStore(t, Options{})
			mustSet(t, s, "", "k", "old", ttl(time.Second))
			clock.Advance(time.Second)
			before := s.LogPosition()
			if err := tt.write(t, s); err != nil {
				t.Fatal(err)
			}
			if got := opsOf(events(t, s, before)); !slices.Equal(got, tt.wantLog) {
				t.Errorf("log = %q; want %q", got, tt.wantLog)
			}
			got, found := mustGet(t, s, "", "k")
			if (tt.after == "") == found || got != tt.after {
				t.Errorf("afterwards: %q (found %v); want %q", got, found, tt.after)
			}
			if tt.after == "" && s.dbs[0].recs.Len() != 0 {
				t.Errorf("the expired record is still stored")
			}
		})
	}
}

// The background sweep purges on its own: each tick removes what has expired
// and logs it. Ticks are sent by the test; an unbuffered send returns only
// once the loop has taken it, so the second send proves the first sweep done.
func TestBackgroundSweep(t *testing.T) {
	clock := testclock.NewManual(epoch)
	ticks := make(chan time.Time)
	s, err := newWithTicks(Options{Now: clock.Now}, ticks)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustSet(t, s, "", "a", "1", ttl(time.Second))
	mustSet(t, s, "1", "b", "1", ttl(time.Second))
	mustSet(t, s, "", "c", "1", ttl(time.Hour))
	before := s.LogPosition()

	clock.Advance(time.Second)
	ticks <- clock.Now()
	ticks <- clock.Now()
	if got := opsOf(events(t, s, before)); !slices.Equal(got, []string{"REMOVE a", "REMOVE b"}) {
		t.Errorf("after a tick the log shows %q; want the two expired records removed", got)
	}
	if s.dbs[0].recs.Len() != 1 || s.dbs[1].recs.Len() != 0 {
		t.Errorf("after a tick %d and %d records stored; want 1 and 0", s.dbs[0].recs.Len(), s.dbs[1].recs.Len())
	}
}

func TestBackgroundSweepStopsOnClose(t *testing.T) {
	// The sweep runs on a real ticker; this test only checks that Close
	// stops it (Close waits for the goroutine to end) without waiting for
	// any tick.
	s, err := New(Options{SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.sweepDone:
	default:
		t.Fatal("sweep goroutine still running after Close")
	}
}
