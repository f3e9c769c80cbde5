package tt

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool/pooltest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

func openTapped(t *testing.T) (*Backend, *pooltest.Tap) {
	t.Helper()
	tp := &pooltest.Tap{}
	b, err := New(tttest.Start(t, tttest.WithConfig("tt-hash")).Addr(), Options{
		Kind: "hash", PoolSize: 4, Dialer: tp.Dial, Coalesce: true, CoalesceWait: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, tp
}

// Gets, Sets and Removes that arrive while a request is in flight go out
// together in one pipelined exchange (the gets as one mget), and each
// caller gets its own answer.
func TestTTCoalescingMerges(t *testing.T) {
	b, tp := openTapped(t)
	ctx := t.Context()
	for _, k := range []string{"k0", "k1", "gone"} {
		if err := b.Set(ctx, "", []byte(k), []byte("v-"+k), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		what  string
		value string
		ok    bool
		err   error
	}
	results := make(chan result, 16)
	get := func(k string) {
		rec, ok, err := b.Get(ctx, "", []byte(k))
		results <- result{"get " + k, string(rec.Value), ok, err}
	}
	before := tp.Writes()
	held, release := tp.Hold()
	go get("k0")
	<-held
	calls := []func(){
		func() { get("k1") },
		func() { get("k0") },
		func() { get("missing") },
		func() {
			err := b.Set(ctx, "", []byte("new"), []byte("v-new"), backend.Expiry{}, backend.WriteOptions{})
			results <- result{"set new", "", err == nil, err}
		},
		func() { ok, err := b.Remove(ctx, "", []byte("gone")); results <- result{"remove gone", "", ok, err} },
		func() { ok, err := b.Remove(ctx, "", []byte("never")); results <- result{"remove never", "", ok, err} },
	}
	for _, c := range calls {
		go c()
	}
	pooltest.WaitPending(b.calls, len(calls))
	release()
	want := map[string]result{
		"get k0":       {value: "v-k0", ok: true},
		"get k1":       {value: "v-k1", ok: true},
		"get missing":  {},
		"set new":      {ok: true},
		"remove gone":  {ok: true},
		"remove never": {},
	}
	for range len(calls) + 1 {
		r := <-results
		w := want[r.what]
		if r.err != nil || r.value != w.value || r.ok != w.ok {
			t.Errorf("%s: %q ok=%v err=%v; want %q ok=%v", r.what, r.value, r.ok, r.err, w.value, w.ok)
		}
	}
	if n := tp.Writes() - before; n != 2 {
		t.Errorf("seven calls took %d requests, want 2 (one alone, six merged)", n)
	}
	if st := b.calls.Stats(); st.Batches != 1 || st.Merged != int64(len(calls)) {
		t.Errorf("batches: %+v", st)
	}
	for k, v := range map[string]string{"new": "v-new", "gone": ""} {
		rec, ok, err := b.Get(ctx, "", []byte(k))
		if err != nil || string(rec.Value) != v || ok != (v != "") {
			t.Errorf("after the batch, %s: %q ok=%v err=%v", k, rec.Value, ok, err)
		}
	}
}

// A caller that gives up while queued gets its context's error and its
// write is never sent; one that gives up while its batch is in flight
// leaves the others' answers alone.
func TestTTCoalescingCancellationIsolated(t *testing.T) {
	b, tp := openTapped(t)
	ctx := t.Context()
	errs := make(chan error, 8)
	held, release := tp.Hold()
	go func() { errs <- b.Set(ctx, "", []byte("a"), []byte("1"), backend.Expiry{}, backend.WriteOptions{}) }()
	<-held
	go func() { errs <- b.Set(ctx, "", []byte("b"), []byte("1"), backend.Expiry{}, backend.WriteOptions{}) }()
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() {
		gone <- b.Set(cctx, "", []byte("cancelled"), []byte("1"), backend.Expiry{}, backend.WriteOptions{})
	}()
	pooltest.WaitPending(b.calls, 2)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled Set: %v", err)
	}
	release()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := b.Get(ctx, "", []byte("cancelled")); err != nil || ok {
		t.Errorf("the Set cancelled while queued was sent: ok=%v err=%v", ok, err)
	}

	held, release = tp.Hold()
	values := make(chan string, 2)
	go func() { rec, _, err := b.Get(ctx, "", []byte("a")); errs <- err; values <- string(rec.Value) }()
	<-held
	cctx, cancel = context.WithCancel(ctx)
	go func() { _, _, err := b.Get(cctx, "", []byte("b")); gone <- err }()
	go func() { rec, _, err := b.Get(ctx, "", []byte("b")); errs <- err; values <- string(rec.Value) }()
	pooltest.WaitPending(b.calls, 2)
	batchHeld, releaseBatch := tp.Hold()
	release()
	<-batchHeld
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the Get cancelled in flight: %v", err)
	}
	releaseBatch()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if v := <-values; v != "1" {
			t.Errorf("a Get beside the cancelled one: %q", v)
		}
	}
}

// A batch whose connection fails gives every caller in it the failure,
// classified as alone: never a wrong answer, never success for a write.
func TestTTCoalescedBatchFails(t *testing.T) {
	b, tp := openTapped(t)
	ctx := t.Context()
	held, release := tp.Hold()
	errs, lone := make(chan error, 3), make(chan error, 1)
	go func() { _, _, err := b.Get(ctx, "", []byte("x")); lone <- err }()
	<-held
	for i := range 3 {
		go func() {
			errs <- b.Set(ctx, "", fmt.Appendf(nil, "k%d", i), []byte("v"), backend.Expiry{}, backend.WriteOptions{})
		}()
	}
	pooltest.WaitPending(b.calls, 3)
	b.pool.Close() // the batch finds no connection
	release()
	<-lone // on its connection taken before the close
	for range 3 {
		if err := <-errs; !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("a merged Set on a closed backend: %v, want ErrUnavailable", err)
		}
	}
}
