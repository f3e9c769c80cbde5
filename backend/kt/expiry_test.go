package kt

import (
	"context"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// An expiration time is the first instant a record is gone, on the way in
// and on the way out, although KT's xt is the last second it is visible.
// A TTL never ends early; KT's clock counts whole seconds, so it may end up
// to two seconds late.
func TestKTExpiresWhenAsked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clock := testclock.NewManual(time.Unix(1800000000, 500_000_000))
	srv := kttest.Start(t, kttest.WithClock(clock.Now))
	b := mustOpen(t, "kt://"+srv.Addr())
	at := time.Unix(1800000100, 0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.Set(ctx, "%", []byte("at"), []byte("v"), backend.Expiry{At: at}, backend.WriteOptions{}))
	must(b.Set(ctx, "%", []byte("ttl"), []byte("v"), backend.Expiry{TTL: 10 * time.Second}, backend.WriteOptions{}))
	ok, err := b.Add(ctx, "%", []byte("rpc"), []byte("v"), backend.Expiry{At: at})
	must(err)
	if !ok {
		t.Fatal("Add failed")
	}
	visible := func(key string) bool {
		t.Helper()
		_, found, err := b.Get(ctx, "%", []byte(key))
		must(err)
		return found
	}
	if rec, _, err := b.Get(ctx, "%", []byte("at")); err != nil || !rec.ExpireTime.Equal(at) {
		t.Errorf("binary read of the expiration: %v %v; want %v", rec.ExpireTime, err, at)
	}
	if info, _, err := b.Check(ctx, "%", []byte("rpc")); err != nil || !info.ExpireTime.Equal(at) {
		t.Errorf("RPC read of the expiration: %v %v; want %v", info.ExpireTime, err, at)
	}
	clock.Set(time.Unix(1800000010, 400_000_000)) // 9.9 s after the TTL was set
	if !visible("ttl") {
		t.Error("the TTL ended early")
	}
	clock.Set(time.Unix(1800000012, 500_000_000))
	if visible("ttl") {
		t.Error("the TTL of 10 s still holds 12 s later")
	}
	clock.Set(at.Add(-time.Nanosecond))
	if !visible("at") {
		t.Error("the record is gone before its expiration time")
	}
	clock.Set(at)
	if visible("at") || visible("rpc") {
		t.Error("the record is still visible at its expiration time")
	}
}
