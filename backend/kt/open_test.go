package kt

import (
	"context"
	"errors"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"net/url"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

func mustOpen(t *testing.T, raw string) *Backend {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(context.Background(), u)
	if err != nil {
		t.Fatalf("Open(%s): %v", raw, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestKTOpenOptions(t *testing.T) {
	b := mustOpen(t, "kt://localhost")
	if b.addr != "localhost:1978" || b.Name() != "kt://localhost:1978" {
		t.Errorf("default port: addr %q name %q", b.addr, b.Name())
	}
	if b.opts.Pool != DefaultPoolSize || b.opts.Timeout != DefaultTimeout || b.opts.SID != DefaultServerID {
		t.Errorf("defaults: %+v", b.opts)
	}
	b = mustOpen(t, "kt://[::1]:2000/?pool=3&cursors=5&timeout=250ms&connect_timeout=2&sid=7&backoff=1ms&max_backoff=5ms&reconnects=0")
	want := options{Options: connpool.Options{Pool: 3, Timeout: 250 * time.Millisecond, ConnectTimeout: 2 * time.Second, SID: 7,
		ReplBackoff: time.Millisecond, ReplMaxBackoff: 5 * time.Millisecond, ReplReconnects: 0, ReplTimeout: 250 * time.Millisecond,
		Coalesce: DefaultCoalesce, CoalesceWait: DefaultCoalesceWait, CoalesceMax: DefaultCoalesceMax}, cursors: 5}
	if b.addr != "[::1]:2000" || b.opts != want {
		t.Errorf("addr %q opts %+v, want %+v", b.addr, b.opts, want)
	}
	// The shared names mean what the deprecated ones did.
	b = mustOpen(t, "kt://[::1]:2000/?pool=3&cursors=5&timeout=250ms&connect_timeout=2&sid=7&repl_backoff=1ms&repl_max_backoff=5ms&repl_reconnects=0&repl_timeout=250ms")
	if b.opts != want {
		t.Errorf("shared names: opts %+v, want %+v", b.opts, want)
	}
	for _, bad := range []string{
		"kt://host:1978?poolsize=3",                 // unknown option
		"kt://host:1978?backoff=1s&repl_backoff=2s", // an alias and its name
		"kt://host:1978?coalesce=yes",
		"kt://host:1978?coalesce_max=1",
		"kt://host:1978?pool=0",        // out of range
		"kt://host:1978?cursors=0",     // out of range
		"kt://host:1978?pool=2&pool=3", // repeated
		"kt://host:1978?timeout=-1s",
		"kt://host:1978?timeout=soon",
		"kt://host:1978?sid=0",
		"kt://host:1978?sid=65536",
		"kt://host:99999",
		"kt://user@host:1978",
		"kt://host:1978/users",
		"kt:host",
		"tt://host:1978",
		"kt://:1978",
	} {
		u, err := url.Parse(bad)
		if err != nil {
			continue
		}
		if _, err := Open(context.Background(), u); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Open(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

// A server that is down must not fail Open; every call answers
// ErrUnavailable, so that the gateway can start and report NOT_SERVING.
func TestKTServerDown(t *testing.T) {
	// Nothing listens on port 1, and tests only ever bind ephemeral ports,
	// so connections are refused for the whole test.
	b := mustOpen(t, "kt://127.0.0.1:1?connect_timeout=2s")
	ctx := context.Background()
	if err := b.Ping(ctx); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
	if _, _, err := b.Get(ctx, "", []byte("k")); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Get = %v, want ErrUnavailable", err)
	}
	if _, err := b.Status(ctx, "1"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Status(1) = %v, want ErrUnavailable", err)
	}
	if err := b.Subscribe(ctx, backend.SubscribeOptions{}, func(backend.Update) error { return nil }); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Subscribe = %v, want ErrUnavailable", err)
	}
	if s := b.PoolStats(); s.Open != 0 || s.InUse != 0 {
		t.Errorf("failed dials hold connections: %+v", s)
	}
	b.Close()
	if err := b.Ping(ctx); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Ping after Close = %v, want ErrUnavailable", err)
	}
}

func TestKTExpiryToXT(t *testing.T) {
	at := time.Unix(4102444800, 0)
	for _, tc := range []struct {
		name  string
		exp   backend.Expiry
		xt    int64
		never bool
	}{
		{"never", backend.Expiry{}, ktwire.XTNever, true},
		{"ttl whole seconds", backend.Expiry{TTL: time.Hour}, 3600, false},
		{"ttl rounds up", backend.Expiry{TTL: 1500 * time.Millisecond}, 2, false},
		{"ttl below a second", backend.Expiry{TTL: time.Millisecond}, 1, false},
		// KT keeps a record through its xt second: the one before At.
		{"absolute", backend.Expiry{At: at}, -4102444799, false},
		{"absolute with fraction", backend.Expiry{At: at.Add(300 * time.Millisecond)}, -4102444800, false},
		{"absolute before the epoch", backend.Expiry{At: time.Unix(-5, 0)}, -1, false},
	} {
		xt, err := binaryXT(tc.exp)
		if err != nil || xt != tc.xt {
			t.Errorf("%s: binary xt = %d, %v; want %d", tc.name, xt, err, tc.xt)
		}
		var p params
		if err := p.addXT(tc.exp); err != nil {
			t.Fatal(err)
		}
		if tc.never != (len(p) == 0) {
			t.Errorf("%s: RPC params %q; xt must be left out exactly for never", tc.name, p)
		}
	}
	if _, err := binaryXT(backend.Expiry{TTL: -time.Second}); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("negative TTL: %v, want ErrInvalid", err)
	}
}

func TestKTParseDBList(t *testing.T) {
	list := parseDBList(map[string]string{
		"db_0": "count=0 size=8390592 path=*",
		"db_1": "count=3 size=526693 path=%",
		"db_2": "count=1 size=10 path=/var/lib/kt/users.kct",
		"db_4": "count=1 size=10 path=skipped",
	})
	if len(list) != 3 || list[0].name != "*" || list[1].name != "%" || list[2].name != "users.kct" || list[2].path != "/var/lib/kt/users.kct" {
		t.Errorf("parseDBList = %+v", list)
	}
}
