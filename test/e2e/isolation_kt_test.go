package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend/kt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// openKT opens a KT adapter on addr, closed when the test ends.
func openKT(t *testing.T, addr string) *kt.Backend {
	t.Helper()
	return openURL(t, "kt://"+addr).(*kt.Backend)
}

// ktTargets are the KT servers the isolation tests run against: kttest,
// with the real server's worker pool, and a real ktserver when KT_ADDR
// names one.
func ktTargets(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"kttest": func(t *testing.T) string { return kttest.Start(t, kttest.WithWorkers(kttest.DefaultWorkers)).Addr() },
		"real": func(t *testing.T) string {
			addr := os.Getenv("KT_ADDR")
			if addr == "" {
				t.Skip("KT_ADDR is not set; set KT_ADDR=host:port of a ktserver with a tree database \"%\" to run this against it")
			}
			return addr
		},
	}
}

// TestKTIdleCursorsAndStalledScansDoNotStarveCalls opens 100 Cursor.Open
// streams that sit idle with their cursor open and 100 Scans whose clients
// stop reading, then expects a KV.Set to complete within 2 s: cursors hold
// connections of their own (the ones past cursors=N are refused at once),
// and a scan holds no connection while it waits for its client.
func TestKTIdleCursorsAndStalledScansDoNotStarveCalls(t *testing.T) {
	for name, addr := range ktTargets(t) {
		t.Run(name, func(t *testing.T) {
			target := addr(t)
			b := openKT(t, target)
			_, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour, MaxCursorStreamsPerConn: 256})
			kv := ktgrpcv1.NewKVClient(conn)
			cur := ktgrpcv1.NewCursorClient(conn)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()

			// Records for the scans: more than a client's flow-control
			// window holds, so that every scan ends up waiting.
			ns := fmt.Sprintf("iso-%d/", time.Now().UnixNano())
			value := []byte(strings.Repeat("v", 1024))
			var entries []*ktgrpcv1.SetBulkRequest_Entry
			for i := range 2000 {
				entries = append(entries, &ktgrpcv1.SetBulkRequest_Entry{Key: fmt.Appendf(nil, "%sk%05d", ns, i), Value: value})
			}
			if _, err := kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Db: "%", Records: entries}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				keys := make([][]byte, len(entries))
				for i, e := range entries {
					keys[i] = e.Key
				}
				_, _ = b.RemoveBulk(context.Background(), "%", keys, false)
			})

			var (
				mu        sync.Mutex
				opened    int
				exhausted int
				wg        sync.WaitGroup
				errs      = make(chan error, 200)
			)
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := openJumpedDB(ctx, cur, "%")
					mu.Lock()
					defer mu.Unlock()
					switch st := status.Convert(err); {
					case err == nil:
						opened++
					case st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "cursors="):
						exhausted++
					default:
						errs <- fmt.Errorf("Cursor.Open: %v", err)
					}
				}()
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := cur.Scan(ctx, &ktgrpcv1.ScanRequest{Db: "%", Prefix: []byte(ns), BatchSize: 64})
					if err == nil {
						// One message shows the scan runs; then no more reads.
						_, err = s.Recv()
					}
					if err != nil {
						errs <- fmt.Errorf("Scan: %v", err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if opened+exhausted != 100 || opened != kt.DefaultCursors {
				t.Errorf("%d cursors opened and %d refused; want %d opened, the rest refused", opened, exhausted, kt.DefaultCursors)
			}
			setCtx, setCancel := context.WithTimeout(ctx, 2*time.Second)
			defer setCancel()
			if _, err := kv.Set(setCtx, &ktgrpcv1.SetRequest{Db: "%", Key: []byte(ns + "during"), Value: []byte("x")}); err != nil {
				t.Fatalf("KV.Set with 100 idle cursors and 100 stalled scans: %v (calls %+v, cursors %+v)", err, b.PoolStats(), b.CursorStats())
			}
			if got, err := kv.Get(setCtx, &ktgrpcv1.GetRequest{Db: "%", Key: []byte(ns + "during")}); err != nil || string(got.GetValue()) != "x" {
				t.Fatalf("KV.Get after it: %v %v", got, err)
			}
			_, _ = kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Db: "%", Key: []byte(ns + "during")})
		})
	}
}

// openJumpedDB opens a Cursor.Open stream on db whose backend cursor is
// open.
func openJumpedDB(ctx context.Context, c ktgrpcv1.CursorClient, db string) (ktgrpcv1.Cursor_OpenClient, error) {
	s, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Send(&ktgrpcv1.OpenRequest{Db: db, Operation: embJump}); err != nil {
		return nil, err
	}
	if _, err := s.Recv(); err != nil {
		return nil, err
	}
	return s, nil
}

// TestKTShutdownWithCursorOnFrozenServer stops the gateway while a cursor is
// open on a server that has stopped answering (SIGSTOP, here a frozen
// proxy), idle or in the middle of a call: the stop must complete
// gracefully within its timeout, and every cursor stream must end with the
// "shutting down" status, however long the server stays frozen.
func TestKTShutdownWithCursorOnFrozenServer(t *testing.T) {
	for name, addr := range ktTargets(t) {
		for _, busy := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/busy=%v", name, busy), func(t *testing.T) {
				testShutdownFrozen(t, addr(t), busy)
			})
		}
	}
}

func testShutdownFrozen(t *testing.T, target string, busy bool) {
	p := faultproxy.Start(t, target)
	b := openKT(t, p.Addr())
	logger, ends := callEnds()
	srv, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour, Logger: logger})
	cur := ktgrpcv1.NewCursorClient(conn)
	if _, err := ktgrpcv1.NewKVClient(conn).Set(t.Context(), &ktgrpcv1.SetRequest{Db: "%", Key: []byte("a"), Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	var streams []ktgrpcv1.Cursor_OpenClient
	for range 3 {
		s, err := openJumpedDB(t.Context(), cur, "%")
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	p.Freeze()
	defer p.Thaw()
	if busy {
		// A call the frozen server never answers.
		if err := streams[0].Send(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop with cursors open on a frozen server: %v; want a graceful stop", err)
	}
	for i, s := range streams {
		_, err := s.Recv()
		if !gatewaytest.WantCode(t, err, codes.Unavailable, "shutting down") {
			t.Logf("in cursor stream %d", i)
		}
	}
	for range streams {
		waitEnd(t, ends, "Open Unavailable")
	}
	if cs := b.CursorStats(); cs.InUse != 0 {
		t.Errorf("cursors still held after the stop: %+v", cs)
	}
}

// TestKTDeadlineSweepKeepsConnections: 16 callers with client deadlines from
// 100µs to 20ms against a server a couple of milliseconds away. Many calls
// expire before their reply; the adapter reads the late replies and keeps
// the connections, so the pool's count of new connections stays near its
// size instead of growing with every expired call.
func TestKTDeadlineSweepKeepsConnections(t *testing.T) {
	for name, addr := range ktTargets(t) {
		t.Run(name, func(t *testing.T) {
			p := faultproxy.Start(t, addr(t))
			p.SetDelay(2 * time.Millisecond)
			b := openKT(t, p.Addr())
			_, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour})
			kv := ktgrpcv1.NewKVClient(conn)
			key := []byte(fmt.Sprintf("sweep-%d", time.Now().UnixNano()))
			if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Db: "%", Key: key, Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = b.Remove(context.Background(), "%", key) })
			deadlines := []time.Duration{100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
				3 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				expired int
				bad     []error
			)
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 40 {
						ctx, cancel := context.WithTimeout(t.Context(), deadlines[(i+j)%len(deadlines)])
						resp, err := kv.Get(ctx, &ktgrpcv1.GetRequest{Db: "%", Key: key})
						cancel()
						mu.Lock()
						switch code := status.Code(err); {
						case err == nil && string(resp.GetValue()) != "v":
							bad = append(bad, fmt.Errorf("Get answered %q", resp.GetValue()))
						case code == codes.DeadlineExceeded:
							expired++
						case err != nil:
							bad = append(bad, err)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for _, err := range bad {
				t.Error(err)
			}
			s := b.PoolStats()
			t.Logf("%d of 640 calls expired; pool %+v", expired, s)
			if expired < 64 {
				t.Fatalf("only %d of 640 calls expired; the sweep shows nothing", expired)
			}
			// Without reading late replies every expired call costs a
			// connection (about 270 here); with it, a few in 16.
			if s.Dials > int64(2*kt.DefaultPoolSize+expired/16) {
				t.Errorf("the sweep opened %d connections for %d expired calls (pool %+v); late replies should keep them", s.Dials, expired, s)
			}
		})
	}
}
