package kt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// A server restarted with other databases must never get a request with a
// database index resolved before the restart: the index may name another
// database now. The adapter either sends it to the right database or fails
// with ErrUnavailable without sending it.
func TestKTDatabasesChangeAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := kttest.Start(t) // 0 = "*", 1 = "%"
	p := faultproxy.Start(t, before.Addr())
	b := mustOpen(t, "kt://"+p.Addr())
	set := func(db, key, value string) error {
		return b.Set(ctx, db, []byte(key), []byte(value), backend.Expiry{}, backend.WriteOptions{})
	}
	if err := set("%", "k", "before"); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := b.Get(ctx, "%", []byte("k")); err != nil || !ok || string(rec.Value) != "before" {
		t.Fatalf("Get before the restart: %q %v %v", rec.Value, ok, err)
	}

	// The same databases after a restart: reads go on transparently.
	same := kttest.Start(t)
	if err := same.Store().Set(ctx, "%", []byte("k"), []byte("same"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Retarget(same.Addr())
	for range 2 { // the second one resolves "%" from the cache again
		if rec, ok, err := b.Get(ctx, "%", []byte("k")); err != nil || !ok || string(rec.Value) != "same" {
			t.Fatalf("Get after a restart with the same databases: %q %v %v", rec.Value, ok, err)
		}
	}

	// Other databases: "%" is now index 0, and index 1 is "*".
	other := kttest.Start(t, kttest.WithDatabases(kttest.Database{Name: "%", Ordered: true}, kttest.Database{Name: "*"}))
	if err := other.Store().Set(ctx, "*", []byte("k"), []byte("wrong database"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Retarget(other.Addr())
	rec, ok, getErr := b.Get(ctx, "%", []byte("k"))
	if getErr != nil && !errors.Is(getErr, backend.ErrUnavailable) || ok {
		t.Errorf("Get after a restart with other databases: %q %v %v; want not found, or ErrUnavailable", rec.Value, ok, getErr)
	}
	err := set("%", "k2", "v")
	t.Logf("first Get and Set after the restart: %q %v %v / %v", rec.Value, ok, getErr, err)
	if err != nil && !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Set after a restart with other databases: %v; want success or ErrUnavailable", err)
	}
	if _, found, _ := other.Store().Get(ctx, "*", []byte("k2")); found {
		t.Error("Set wrote to the database that has the old index")
	}
	// From now on every call resolves against the new list.
	if err := set("%", "k3", "v"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := other.Store().Get(ctx, "%", []byte("k3")); !found {
		t.Error("Set after the restart did not reach database %")
	}
	if _, ok, err := b.Get(ctx, "*", []byte("k")); err != nil || !ok {
		t.Errorf("Get of * by name: %v %v", ok, err)
	}
	cur, err := b.OpenCursor(ctx, "%")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cur.Jump(ctx, nil); err != nil || !ok {
		t.Fatalf("cursor on %%: %v %v", ok, err)
	}
	// k2 is there too when the Set above was sent (to the right database).
	if key, _, err := cur.GetKey(ctx, false); err != nil || string(key) != "k2" && string(key) != "k3" {
		t.Errorf("cursor on %% starts at %q (%v); want k2 or k3", key, err)
	}
	if err := cur.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to the default databases, with a write first: "%" had index 0,
	// which is "*" now.
	third := kttest.Start(t)
	p.Retarget(third.Addr())
	if err := set("%", "k4", "v"); err != nil && !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Set after another restart: %v; want success or ErrUnavailable", err)
	}
	if _, found, _ := third.Store().Get(ctx, "*", []byte("k4")); found {
		t.Error("Set wrote to the database that has the old index")
	}
	if err := set("%", "k4", "v"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := third.Store().Get(ctx, "%", []byte("k4")); !found {
		t.Error("Set after the restart did not reach database %")
	}
}

// A write to a database that the restarted server no longer has is an
// error, never a silent success (a binary set_bulk to a missing index
// would store nothing and answer without an error).
func TestKTSetToVanishedDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := kttest.Start(t)
	p := faultproxy.Start(t, before.Addr())
	b := mustOpen(t, "kt://"+p.Addr())
	if _, err := b.Status(ctx, "%"); err != nil {
		t.Fatal(err)
	}
	only := kttest.Start(t, kttest.WithDatabases(kttest.Database{Name: "*"}))
	p.Retarget(only.Addr())
	for range 2 {
		err := b.Set(ctx, "%", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{})
		if !errors.Is(err, backend.ErrUnavailable) && !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Set to a database the server no longer has: %v; want ErrUnavailable, then ErrInvalid", err)
		}
	}
}

// A subscription that reconnects to a server restarted with other
// databases filters by the databases' new indexes.
func TestKTSubscribeFilterAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := kttest.Start(t)
	p := faultproxy.Start(t, before.Addr())
	b := mustOpen(t, "kt://"+p.Addr()+"?backoff=1ms&max_backoff=10ms")
	events := make(chan *backend.Event, 16)
	done := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		done <- b.Subscribe(sctx, backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{"%"}}}, func(u backend.Update) error {
			if u.Event != nil {
				events <- u.Event
			}
			return nil
		})
	}()
	next := func() *backend.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case err := <-done:
			t.Fatalf("the subscription ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return nil
	}
	set := func(srv *kttest.Server, db, key string) {
		t.Helper()
		if err := srv.Store().Set(ctx, db, []byte(key), []byte("v"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set(before, "*", "hash-1")
	set(before, "%", "tree-1")
	if ev := next(); string(ev.Key) != "tree-1" || ev.DB != "1" {
		t.Fatalf("first event: %q in %s", ev.Key, ev.DB)
	}
	// The new server's clock runs ahead, so that its log positions follow
	// the old server's.
	other := kttest.Start(t,
		kttest.WithDatabases(kttest.Database{Name: "%", Ordered: true}, kttest.Database{Name: "*"}),
		kttest.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	set(other, "*", "hash-2")
	set(other, "%", "tree-2")
	p.Retarget(other.Addr())
	if ev := next(); string(ev.Key) != "tree-2" || ev.DB != "0" {
		t.Errorf("event after the restart: %q in %s; want tree-2 in 0", ev.Key, ev.DB)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe = %v", err)
	}
}
