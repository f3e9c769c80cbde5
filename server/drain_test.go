package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// Draining turns readiness off while calls go on being served; the stop
// that follows ends the open streams with UNAVAILABLE, and every write a
// client saw acknowledged is in the store.
func TestDrainThenStopLosesNoAcknowledgedWrite(t *testing.T) {
	store := newStore(t)
	srv, conn := gatewaytest.StartServer(t, store, quiet)
	if err := srv.CheckHealth(t.Context()); err != nil {
		t.Fatal(err)
	}
	cur := openCursor(t, t.Context(), conn)

	const writers = 4
	var (
		mu      sync.Mutex
		acked   [][]byte
		ends    []error
		wg      sync.WaitGroup
		drained = make(chan struct{})
		// afterDrain receives one value per writer once it has had a write
		// acknowledged while the gateway drains.
		afterDrain = make(chan struct{}, writers)
	)
	kv := ktgrpcv1.NewKVClient(conn)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signalled := false
			for i := 0; ; i++ {
				var isDrained bool
				select {
				case <-drained:
					isDrained = true
				default:
				}
				key := fmt.Appendf(nil, "w%d-%d", w, i)
				_, err := kv.Set(context.Background(), &ktgrpcv1.SetRequest{Key: key, Value: key})
				mu.Lock()
				if err != nil {
					ends = append(ends, err)
					mu.Unlock()
					return
				}
				acked = append(acked, key)
				mu.Unlock()
				if isDrained && !signalled {
					signalled = true
					afterDrain <- struct{}{}
				}
			}
		}()
	}

	srv.Drain()
	close(drained)
	for _, svc := range []string{"", server.ReadinessService} {
		if got := checkHealth(t, conn, svc); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("%q = %v while draining", svc, got)
		}
	}
	if got := checkHealth(t, conn, server.LivenessService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("liveness = %v while draining", got)
	}
	// A later health check must not turn readiness back on.
	if err := srv.CheckHealth(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := checkHealth(t, conn, server.ReadinessService); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("readiness = %v after a successful ping while draining", got)
	}
	for range writers {
		<-afterDrain
	}

	stopCtx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	_, err := cur.Recv()
	wantCode(t, err, codes.Unavailable, "shutting down")
	for _, err := range ends {
		if status.Code(err) != codes.Unavailable {
			t.Errorf("a write ended with %v, want Unavailable", err)
		}
	}
	if len(acked) < writers {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	for _, key := range acked {
		rec, found, err := store.Get(t.Context(), "", key)
		if err != nil || !found || !bytes.Equal(rec.Value, key) {
			t.Fatalf("acknowledged write %q: found %v, %q, %v", key, found, rec.Value, err)
		}
	}
}

// A client hanging up on its own call is not the gateway's fault: the call
// is logged once, with code Canceled, below error level.
func TestClientCancelIsNotLoggedAsError(t *testing.T) {
	logs := lineSink(make(chan string, 100))
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{
		HealthInterval: time.Hour,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx, cancel := context.WithCancel(t.Context())
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := refl.Recv(); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	openCursor(t, cctx, conn)
	cancel()
	ccancel()
	if _, err := refl.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("reflection stream after cancel: %v", err)
	}
	// The handlers see the cancellation after the client does; each logs
	// its line as it returns.
	seen := map[string]string{}
	for len(seen) < 2 {
		l := <-logs
		for _, m := range []string{"grpc.method=ServerReflectionInfo", "grpc.method=Open"} {
			if strings.Contains(l, m) {
				if seen[m] != "" {
					t.Fatalf("two lines for one call:\n%s\n%s", seen[m], l)
				}
				seen[m] = l
			}
		}
	}
	for _, l := range seen {
		if !strings.Contains(l, "grpc.code=Canceled") || !strings.Contains(l, "level=INFO") || !strings.Contains(l, "grpc.service=") {
			t.Errorf("a cancelled call logged as %s", l)
		}
	}
}

// openCursor opens a cursor stream and makes its first move, so that the
// call is known to be running on the server.
func openCursor(t *testing.T, ctx context.Context, conn *grpc.ClientConn) grpc.BidiStreamingClient[ktgrpcv1.OpenRequest, ktgrpcv1.OpenResponse] {
	t.Helper()
	cur, err := ktgrpcv1.NewCursorClient(conn).Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.Send(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP}); err != nil {
		t.Fatal(err)
	}
	if _, err := cur.Recv(); err != nil {
		t.Fatalf("a cursor's first move: %v", err)
	}
	return cur
}

// lineSink hands each log line to the test as it is written.
type lineSink chan string

func (s lineSink) Write(p []byte) (int, error) {
	s <- string(p)
	return len(p), nil
}
