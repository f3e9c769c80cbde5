package kt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// procCounter counts a backend's round trips by their (first) procedure.
type procCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *procCounter) RoundTrip(ctx context.Context, _, op string) (context.Context, func(error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
	return ctx, func(error) {}
}

func (c *procCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// parkEvent is what the park hook reports: the keys the walk re-enters by.
type parkEvent struct{ last, next []byte }

// parkingBackend opens a backend whose unordered scans report their parks
// on the returned channel.
func parkingBackend(e *suiteEnv) (*Backend, chan parkEvent) {
	b := e.open(e.tg.addr, "")
	parks := make(chan parkEvent, 16)
	b.scanParked = func(last, next []byte) {
		parks <- parkEvent{slices.Clone(last), slices.Clone(next)}
	}
	return b, parks
}

// waitPark waits for the park hook; the scan's caller is blocked meanwhile.
func waitPark(e *suiteEnv, parks <-chan parkEvent) parkEvent {
	e.t.Helper()
	select {
	case p := <-parks:
		return p
	case <-e.ctx.Done():
		e.t.Fatal("the unordered scan kept its cursor while its caller was blocked")
		return parkEvent{}
	}
}

// fillHash writes n records under the test's prefix in the hash database.
func fillHash(e *suiteEnv, n int) []string {
	var want []string
	for i := range n {
		k := fmt.Sprintf("h/%02d", i)
		e.set("", k, k, backend.Expiry{})
		want = append(want, e.ns+k)
	}
	return want
}

// An unordered scan keeps its cursor while its caller keeps up, and
// releases it (cursor, connection, cursor slot) while the caller is blocked
// past the park delay; it then re-enters and every record comes once.
func testScanHashParks(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	want := fillHash(e, 40)
	b, parks := parkingBackend(e)
	scan := func(block bool) ([]string, *procCounter) {
		rt := &procCounter{}
		var got []string
		blocked := false
		err := b.Scan(backend.WithRoundTripObserver(ctx, rt), "", backend.ScanOptions{Prefix: e.key("h/"), BatchSize: 8}, func(recs []backend.Record) error {
			for _, r := range recs {
				if string(r.Value) != strings.TrimPrefix(string(r.Key), e.ns) {
					return fmt.Errorf("record %q has value %q", r.Key, r.Value)
				}
				got = append(got, string(r.Key))
			}
			if block && !blocked {
				blocked = true
				waitPark(e, parks)
				if st := b.CursorStats(); st.InUse != 0 {
					return fmt.Errorf("a parked scan still holds a cursor connection: %+v", st)
				}
				if e.tg.kt != nil {
					if err := e.tg.kt.WaitCursorCount(ctx, 0); err != nil {
						return fmt.Errorf("the server still has the parked scan's cursor: %w", err)
					}
				}
				// No further park: the rest of the walk keeps its
				// cursor, so that the count below is exact.
				b.parkDelay = time.Hour
			}
			return nil
		})
		e.must(err)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("block=%v: scan returned %d keys %q, want each of the %d once", block, len(got), got, len(want))
		}
		return got, rt
	}

	// A caller that returns at once: one cursor for the whole walk.
	b.parkDelay = time.Hour
	_, rt := scan(false)
	if n := rt.count("cur_jump"); n != 1 {
		t.Errorf("a scan whose caller keeps up jumped %d times, want 1 (no re-entry)", n)
	}
	if len(parks) != 0 {
		t.Errorf("a scan whose caller keeps up parked")
	}

	// A caller blocked past the park delay on the first batch.
	b.parkDelay = scanParkDelay
	_, rt = scan(true)
	if n := rt.count("cur_jump"); n != 2 {
		t.Errorf("a scan parked once jumped %d times, want 2 (start, re-entry)", n)
	}
	if st := b.CursorStats(); st.InUse != 0 {
		t.Errorf("cursor connections in use after the scans: %+v", st)
	}
}

// A parked unordered scan whose place changed ends with ErrMismatch (in an
// UnorderedScanError) saying so, rather than skipping or repeating records:
// here the last record read, or the one after it, is removed while the
// caller is blocked. (A removed next record would have been harmless, but
// the walk cannot tell it from a moved last record; see resume.)
func testScanHashParkedPlaceChanged(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	for _, gone := range []string{"last", "next"} {
		fillHash(e, 40)
		b, parks := parkingBackend(e)
		b.parkDelay = time.Millisecond
		calls := 0
		err := b.Scan(ctx, "", backend.ScanOptions{Prefix: e.key("h/"), BatchSize: 8}, func(recs []backend.Record) error {
			calls++
			if calls > 1 {
				return nil
			}
			p := waitPark(e, parks)
			if p.next == nil {
				return errors.New("the scan parked past the last record with records left")
			}
			key := p.last
			if gone == "next" {
				key = p.next
			}
			_, err := b.Remove(ctx, "", key)
			return err
		})
		var uo *backend.UnorderedScanError
		if !errors.Is(err, backend.ErrMismatch) || !errors.As(err, &uo) || !strings.Contains(err.Error(), "order changed at the scan's position while the client was not reading") {
			t.Errorf("%s key removed while parked: err = %v, want ErrMismatch saying the order changed", gone, err)
		}
		if calls != 1 {
			t.Errorf("%s key removed while parked: the caller got %d batches, want 1", gone, calls)
		}
		if st := b.CursorStats(); st.InUse != 0 {
			t.Errorf("cursor connections in use after the failed scan: %+v", st)
		}
	}
}

// A get while the scan is parked moves the record read in Kyoto Tycoon's
// cache hash database (to the end of its slot's list), which may change the
// walk's order at its place, or not (when it was already last there). The
// scan then either ends with ErrMismatch or returns every record once:
// never records skipped or repeated without a word. kttest's hash order
// does not change on reads, so there every record comes once.
func testScanHashParkedRead(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	for _, read := range []string{"last", "next"} {
		want := fillHash(e, 40)
		b, parks := parkingBackend(e)
		b.parkDelay = time.Millisecond
		var got []string
		calls := 0
		err := b.Scan(ctx, "", backend.ScanOptions{Prefix: e.key("h/"), BatchSize: 8}, func(recs []backend.Record) error {
			for _, r := range recs {
				got = append(got, string(r.Key))
			}
			calls++
			if calls > 1 {
				return nil
			}
			p := waitPark(e, parks)
			b.parkDelay = time.Hour
			key := p.last
			if read == "next" {
				key = p.next
			}
			_, _, err := b.Get(ctx, "", key)
			return err
		})
		slices.Sort(got)
		switch {
		case errors.Is(err, backend.ErrMismatch) && e.tg.kt == nil:
			t.Logf("read of the %s key while parked: %v", read, err)
		case err != nil:
			t.Errorf("read of the %s key while parked: %v", read, err)
		case !slices.Equal(got, want):
			t.Errorf("read of the %s key while parked: scan returned %d keys %q, want each of the %d once", read, len(got), got, len(want))
		}
	}
}
