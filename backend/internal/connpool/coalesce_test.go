package connpool

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// testBatcher's lone calls wait for a release when the key says so; its
// batches answer every key with itself and record their sizes.
type testBatcher struct {
	*Batcher[string, string]
	hold    chan struct{}
	entered chan struct{} // told when the held call is in flight
	batches chan []string
}

func newTestBatcher(cfg BatchConfig) *testBatcher {
	tb := &testBatcher{hold: make(chan struct{}), entered: make(chan struct{}, 1), batches: make(chan []string, 10)}
	tb.Batcher = NewBatcher(cfg,
		func(ctx context.Context, k string) (string, error) {
			if k == "held" {
				tb.entered <- struct{}{}
				<-tb.hold
			}
			return k, nil
		},
		func(ctx context.Context, batch []*Item[string, string]) {
			var keys []string
			for _, it := range batch {
				it.Res = it.Req
				keys = append(keys, it.Req)
			}
			tb.batches <- keys
		})
	return tb
}

func (tb *testBatcher) waitPending(n int) {
	for tb.Stats().Pending != n {
		runtime.Gosched()
	}
}

// A queue that reaches Max goes out at once, without waiting for the
// request in flight; one that does not goes out after Wait.
func TestBatcherFlushesAtMaxAndAfterWait(t *testing.T) {
	tb := newTestBatcher(BatchConfig{Wait: time.Hour, Max: 3, Limit: 1, Timeout: time.Minute})
	ctx := t.Context()
	held := make(chan string, 1)
	go func() { r, _ := tb.Do(ctx, "held"); held <- r }()
	<-tb.entered
	answers := make(chan string, 3)
	go func() { r, _ := tb.Do(ctx, "a"); answers <- r }()
	tb.waitPending(1)
	go func() { r, _ := tb.Do(ctx, "b"); answers <- r }()
	go func() { r, _ := tb.Do(ctx, "c"); answers <- r }()
	if got := <-tb.batches; len(got) != 3 {
		t.Fatalf("batch at Max: %v", got)
	}
	for range 3 {
		if r := <-answers; r != "a" && r != "b" && r != "c" {
			t.Errorf("answer %q", r)
		}
	}
	close(tb.hold)
	if r := <-held; r != "held" {
		t.Errorf("lone call: %q", r)
	}

	tb = newTestBatcher(BatchConfig{Wait: time.Microsecond, Max: 100, Limit: 1, Timeout: time.Minute})
	go func() { r, _ := tb.Do(ctx, "held"); held <- r }()
	<-tb.entered
	go func() { r, _ := tb.Do(ctx, "x"); answers <- r }()
	// x queues behind the held call; only the wait can send it.
	r := <-answers
	if r != "x" {
		t.Errorf("answer %q", r)
	}
	close(tb.hold)
	<-held
}

// A caller that gives up while queued is taken out of the queue.
func TestBatcherCancelledCallLeavesQueue(t *testing.T) {
	tb := newTestBatcher(BatchConfig{Wait: time.Hour, Max: 100, Limit: 1, Timeout: time.Minute})
	ctx := t.Context()
	held := make(chan string, 1)
	go func() { r, _ := tb.Do(ctx, "held"); held <- r }()
	<-tb.entered
	answers := make(chan string, 1)
	go func() { r, _ := tb.Do(ctx, "kept"); answers <- r }()
	tb.waitPending(1)
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() { _, err := tb.Do(cctx, "dropped"); gone <- err }()
	tb.waitPending(2)
	cancel()
	if err := <-gone; err != context.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	tb.waitPending(1)
	close(tb.hold)
	<-held
	if r := <-answers; r != "kept" {
		t.Errorf("answer %q", r)
	}
	// One call left in the queue goes out alone, not as a batch.
	select {
	case b := <-tb.batches:
		t.Errorf("a batch was sent: %v", b)
	default:
	}
}
