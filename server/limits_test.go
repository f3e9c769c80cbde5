package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

func TestMaxBulkKeys(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Limits: server.Limits{MaxBulkKeys: 2}})
	kv := ktgrpcv1.NewKVClient(conn)
	two, three := [][]byte{[]byte("a"), []byte("b")}, [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	if _, err := kv.GetBulk(t.Context(), &ktgrpcv1.GetBulkRequest{Keys: two}); err != nil {
		t.Fatalf("GetBulk at the limit: %v", err)
	}
	const msg = "3 keys in one request exceed the gateway's limit (--max-bulk-keys) of 2"
	_, err := kv.GetBulk(t.Context(), &ktgrpcv1.GetBulkRequest{Keys: three})
	wantCode(t, err, codes.InvalidArgument, msg)
	_, err = kv.RemoveBulk(t.Context(), &ktgrpcv1.RemoveBulkRequest{Keys: three})
	wantCode(t, err, codes.InvalidArgument, msg)
	var recs []*ktgrpcv1.SetBulkRequest_Entry
	for _, k := range three {
		recs = append(recs, &ktgrpcv1.SetBulkRequest_Entry{Key: k, Value: k})
	}
	_, err = kv.SetBulk(t.Context(), &ktgrpcv1.SetBulkRequest{Records: recs})
	wantCode(t, err, codes.InvalidArgument, msg)
	if v := rpctypes.FieldViolations(err); len(v) != 1 || v[0].Field != "records" {
		t.Fatalf("SetBulk over the limit: field violations %+v, want records", v)
	}
}

func TestMaxStreamsPerConnection(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Limits: server.Limits{MaxStreamsPerConnection: 2}})
	watch := func(conn *grpc.ClientConn) error {
		w, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: server.LivenessService})
		if err != nil {
			return err
		}
		_, err = w.Recv()
		return err
	}
	for range 2 {
		if err := watch(conn); err != nil {
			t.Fatal(err)
		}
	}
	err := watch(conn)
	wantCode(t, err, codes.ResourceExhausted, "limit (--max-streams-per-connection) of 2 streams open")
	if r, md := rpctypes.ReasonOf(err), rpctypes.Metadata(err); r != rpctypes.ReasonLimitExceeded || md[rpctypes.MetaLimit] != "max-streams-per-connection" {
		t.Fatalf("reason %q, metadata %v; want LIMIT_EXCEEDED naming the limit", r, md)
	}
	// Unary calls are not streams, and the limit is per connection.
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	other, err := grpc.NewClient(conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := watch(other); err != nil {
		t.Fatalf("a stream on another connection: %v", err)
	}
}

func TestRateLimitPerCaller(t *testing.T) {
	// A budget that does not refill within the test: the outcome depends on
	// the number of calls only.
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{
		HealthInterval: time.Hour,
		Access:         tokenTable(t),
		Limits:         server.Limits{Rate: 0.001, Burst: 2},
	})
	kv := ktgrpcv1.NewKVClient(conn)
	get := func(token string) error {
		_, err := kv.Get(withToken(t.Context(), token), &ktgrpcv1.GetRequest{Key: []byte("k")})
		return err
	}
	for range 2 {
		if err := get("read-token"); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, get("read-token"), codes.ResourceExhausted, `caller "read" exceeded the rate limit (--rate-limit) of 0.001 requests/s with bursts of 2`)
	if err := get("all-token"); err != nil {
		t.Fatalf("another caller was limited too: %v", err)
	}
	for range 3 {
		if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health checks count against the rate: %v", err)
		}
	}
}

// waitingGet is a backend whose Get waits for the end of its context.
type waitingGet struct{ fake }

func (w *waitingGet) Get(ctx context.Context, _ string, _ []byte) (backend.Record, bool, error) {
	<-ctx.Done()
	return backend.Record{}, false, ctx.Err()
}

func TestDeadlineLimits(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, &waitingGet{}, server.Options{
		HealthInterval: time.Hour,
		Limits:         server.Limits{DefaultDeadline: 20 * time.Millisecond, MaxDeadline: 40 * time.Millisecond},
	})
	kv := ktgrpcv1.NewKVClient(conn)
	_, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")})
	wantCode(t, err, codes.DeadlineExceeded, "ran past the gateway's deadline limit (--default-deadline) of 20ms")
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	_, err = kv.Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("k")})
	wantCode(t, err, codes.DeadlineExceeded, "ran past the gateway's deadline limit (--max-deadline) of 40ms")
}
