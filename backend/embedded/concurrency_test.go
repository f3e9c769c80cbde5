package embedded

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

// TestConcurrentUse runs writers, readers, a scanner, a cursor and a
// subscriber at once (meant for -race) and checks that no increment is lost
// and the subscriber sees every change in order.
func TestConcurrentUse(t *testing.T) {
	const writers, perWriter = 4, 100
	s, _ := newStore(t, Options{})
	updates, _, cancel := follow(t, s, backend.SubscribeOptions{Filter: backend.Filter{KeyPrefix: []byte("n")}})
	<-updates // caught up on the empty log

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, _, err := s.Increment(ctx, "", []byte("n"), 1, backend.IncrementOptions{}); err != nil {
					t.Error(err)
					return
				}
				if err := s.Set(ctx, "", fmt.Appendf(nil, "w%d:%03d", w, i), []byte("v"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range perWriter {
			if err := s.Scan(ctx, "", backend.ScanOptions{BatchSize: 7}, func([]backend.Record) error { return nil }); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		c, err := s.OpenCursor(ctx, "")
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for range perWriter {
			for ok, _ := c.Jump(ctx, nil); ok; ok, _ = c.Step(ctx) {
			}
		}
	})

	var last uint64
	var lastValue int64
	for seen := 0; seen < writers*perWriter; {
		u := <-updates
		if u.Position <= last {
			t.Fatalf("position %d after %d: not increasing", u.Position, last)
		}
		last = u.Position
		if u.Event != nil {
			seen++
			lastValue = int64(binary.BigEndian.Uint64(u.Event.Value))
		}
	}
	wg.Wait()
	cancel()

	v, _, err := s.Increment(ctx, "", []byte("n"), 0, backend.IncrementOptions{})
	if err != nil || v != writers*perWriter || lastValue != v {
		t.Errorf("counter = %d (last event %d), %v; want %d", v, lastValue, err, writers*perWriter)
	}
	if st, _ := s.Status(ctx, ""); st.Count != writers*perWriter+1 {
		t.Errorf("count = %d; want %d", st.Count, writers*perWriter+1)
	}
}
