package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// TestFaultsUnderMixedLoad runs writers and readers through the gateway to
// a server behind a fault-injecting proxy, and injects one fault after
// another: connections killed mid-request, requests never answered, replies
// cut short or reset half way, a frozen server, added latency, the server
// down, every connection dropped. Throughout, a call either succeeds with
// the right answer or fails with UNAVAILABLE or DEADLINE_EXCEEDED; after
// each fault clears, calls succeed again; at the end every acknowledged
// write is there.
func TestFaultsUnderMixedLoad(t *testing.T) {
	targets := map[string]func(t *testing.T) (string, string){
		"kttest": func(t *testing.T) (string, string) { return "kt", kttest.Start(t).Addr() },
		"tttest": func(t *testing.T) (string, string) {
			return "tt", tttest.Start(t, tttest.WithConfig("tt-hash")).Addr()
		},
		"real kt": func(t *testing.T) (string, string) { return "kt", envAddr(t, "KT_ADDR") },
		"real tt": func(t *testing.T) (string, string) { return "tt", envAddr(t, "TT_ADDR") },
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			scheme, addr := target(t)
			p := faultproxy.Start(t, addr)
			b := openURL(t, scheme+"://"+p.Addr()+"?timeout=2s&connect_timeout=1s")
			_, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour})
			runFaults(t, p, ktgrpcv1.NewKVClient(conn))
		})
	}
}

func envAddr(t *testing.T, name string) string {
	addr := os.Getenv(name)
	if addr == "" {
		t.Skipf("%s is not set; set it to host:port of a real server to run this against it", name)
	}
	return addr
}

// faultLoad is the mixed load: what it saw, and the writes acknowledged.
type faultLoad struct {
	ns    string
	kv    ktgrpcv1.KVClient
	ok    atomic.Int64 // successful calls
	calls atomic.Int64 // finished calls
	// done is signalled after every finished call.
	done  chan struct{}
	mu    sync.Mutex
	acked map[string]string
	bad   []string
}

func (l *faultLoad) fail(format string, args ...any) {
	l.mu.Lock()
	l.bad = append(l.bad, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// check records a call's outcome: only UNAVAILABLE and DEADLINE_EXCEEDED
// may fail it.
func (l *faultLoad) check(what string, err error) bool {
	defer func() {
		select {
		case l.done <- struct{}{}:
		default:
		}
	}()
	l.calls.Add(1)
	if err == nil {
		l.ok.Add(1)
		return true
	}
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		l.fail("%s: %v", what, err)
	}
	return false
}

func (l *faultLoad) writer(ctx context.Context, id int) {
	for j := 0; ctx.Err() == nil; j++ {
		key, value := fmt.Sprintf("%sw%d-%d", l.ns, id, j), fmt.Sprintf("v%d", j)
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := l.kv.Set(cctx, &ktgrpcv1.SetRequest{Key: []byte(key), Value: []byte(value)})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if l.check("Set", err) {
			l.mu.Lock()
			l.acked[key] = value
			l.mu.Unlock()
		}
	}
}

func (l *faultLoad) reader(ctx context.Context) {
	for ctx.Err() == nil {
		l.mu.Lock()
		var key, want string
		n := rand.IntN(len(l.acked) + 1)
		for k, v := range l.acked {
			if n--; n < 0 {
				key, want = k, v
				break
			}
		}
		l.mu.Unlock()
		if key == "" {
			key = l.ns + "none"
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := l.kv.Get(cctx, &ktgrpcv1.GetRequest{Key: []byte(key)})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if l.check("Get", err) && (resp.GetFound() != (want != "") || string(resp.GetValue()) != want) {
			l.fail("Get %q = %v %q, want %q", key, resp.GetFound(), resp.GetValue(), want)
		}
	}
}

// waitCalls waits until n more calls counted by c have finished.
func (l *faultLoad) waitCalls(t *testing.T, c *atomic.Int64, n int64, what string) {
	t.Helper()
	target := c.Load() + n
	for c.Load() < target {
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: calls stopped", what)
		case <-l.done:
		}
	}
}

func runFaults(t *testing.T, p *faultproxy.Proxy, kv ktgrpcv1.KVClient) {
	l := &faultLoad{ns: fmt.Sprintf("faults-%d/", time.Now().UnixNano()), kv: kv, acked: map[string]string{}, done: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); l.writer(ctx, i) }()
	}
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); l.reader(ctx) }()
	}
	l.waitCalls(t, &l.ok, 100, "before the faults")
	armed := func(kind faultproxy.Kind, n int) func() {
		return func() {
			for range 5 {
				f := p.Arm(kind, nil, n)
				select {
				case <-f.Hit:
				case <-t.Context().Done():
					t.Fatalf("fault %v never fired", kind)
				}
			}
		}
	}
	for _, f := range []struct {
		name  string
		apply func()
		clear func()
	}{
		{"kill mid-request", armed(faultproxy.Kill, 0), func() {}},
		{"request never answered", armed(faultproxy.Swallow, 0), p.DropAll},
		{"reply truncated", armed(faultproxy.Truncate, 3), func() {}},
		{"reply reset half way", armed(faultproxy.Reset, 3), func() {}},
		{"frozen server", func() { p.Freeze(); l.waitCalls(t, &l.calls, 16, "frozen") }, p.Thaw},
		{"latency", func() { p.SetDelay(5 * time.Millisecond); l.waitCalls(t, &l.calls, 50, "latency") }, func() { p.SetDelay(0) }},
		{"server down", func() { p.SetDown(true); l.waitCalls(t, &l.calls, 50, "down") }, func() { p.SetDown(false) }},
		{"every connection dropped", func() { p.DropAll(); l.waitCalls(t, &l.calls, 20, "dropped") }, func() {}},
	} {
		f.apply()
		f.clear()
		// Recovery: calls succeed again once the fault is gone.
		l.waitCalls(t, &l.ok, 50, "after "+f.name)
	}
	cancel()
	wg.Wait()
	for _, s := range l.bad {
		t.Error(s)
	}
	// Every acknowledged write is there.
	for key, want := range l.acked {
		resp, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte(key)})
		if err != nil || !resp.GetFound() || string(resp.GetValue()) != want {
			t.Errorf("acknowledged write %q = %q: got %v %q, %v", key, want, resp.GetFound(), resp.GetValue(), err)
		}
	}
	t.Logf("%d writes acknowledged, %d of %d calls succeeded", len(l.acked), l.ok.Load(), l.calls.Load())
}
