package e2e

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// TestSubscribersLeaveWorkersForWrites attaches as many subscribers as the
// server has workers. A replication session holds a worker for as long as it
// lasts, so a gateway that opened one session per subscriber would leave no
// worker for anything else; a write must still complete. With KT_ADDR or
// TT_ADDR set it also runs against those servers, assuming their default
// pools (16 and 8 workers).
func TestSubscribersLeaveWorkersForWrites(t *testing.T) {
	const workers = 4
	real := func(env, scheme string) func(t *testing.T) backend.Backend {
		return func(t *testing.T) backend.Backend {
			addr := os.Getenv(env)
			if addr == "" {
				t.Skipf("%s is not set: no real server to test against", env)
			}
			u, _ := url.Parse(scheme + "://" + addr)
			var b backend.Backend
			var err error
			if scheme == "kt" {
				b, err = kt.Open(context.Background(), u)
			} else {
				b, err = tt.Open(context.Background(), u)
			}
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	lanes := []struct {
		name        string
		subscribers int
		open        func(t *testing.T) backend.Backend
	}{
		{"real-kt", 16, real("KT_ADDR", "kt")},
		{"real-tt", 8, real("TT_ADDR", "tt")},
		{"kt", workers, func(t *testing.T) backend.Backend {
			srv := kttest.Start(t, kttest.WithWorkers(workers))
			u, _ := url.Parse("kt://" + srv.Addr())
			b, err := kt.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"tt", workers, func(t *testing.T) backend.Backend {
			srv := tttest.Start(t, tttest.WithWorkers(workers), tttest.WithReplInterval(20*time.Millisecond))
			u, _ := url.Parse("tt://" + srv.Addr())
			b, err := tt.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, lane := range lanes {
		t.Run(lane.name, func(t *testing.T) {
			b := lane.open(t)
			t.Cleanup(func() { _ = b.Close() })
			conn := gatewaytest.Start(t, b)
			repl, kv := ktgrpcv1.NewReplicationClient(conn), ktgrpcv1.NewKVClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range lane.subscribers {
				st, err := repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{})
				if err != nil {
					t.Fatal(err)
				}
				// The first message, the progress after the replay of the
				// (empty) log, shows the subscription is attached.
				if _, err := st.Recv(); err != nil {
					t.Fatalf("subscriber %d: %v", i, err)
				}
			}
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			defer wcancel()
			if _, err := kv.Set(wctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
				t.Fatalf("a write beside %d subscribers on as many workers: %v", lane.subscribers, err)
			}
		})
	}
}
