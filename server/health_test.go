package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// waitHealth watches service until it reports want.
func waitHealth(t *testing.T, conn *grpc.ClientConn, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("watching %q for %v: %v", service, want, err)
		}
		if r.GetStatus() == want {
			return
		}
	}
}

func checkHealth(t *testing.T, conn *grpc.ClientConn, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	r, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health %q: %v", service, err)
	}
	return r.GetStatus()
}

// When the backend dies readiness goes NOT_SERVING and liveness holds: a
// Kubernetes liveness probe must not restart gateways during a backend
// outage.
func TestReadinessFlipsWhileLivenessHolds(t *testing.T) {
	kts := kttest.Start(t)
	srv, conn := gatewaytest.StartServer(t, ktBackend(t, kts), quiet)
	if err := srv.CheckHealth(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"", server.ReadinessService, server.LivenessService} {
		if got := checkHealth(t, conn, svc); got != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%q = %v with the backend up", svc, got)
		}
	}
	if err := kts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.CheckHealth(t.Context()); err == nil {
		t.Fatal("the ping of a closed backend succeeded")
	}
	for svc, want := range map[string]healthpb.HealthCheckResponse_ServingStatus{
		"":                      healthpb.HealthCheckResponse_NOT_SERVING,
		server.ReadinessService: healthpb.HealthCheckResponse_NOT_SERVING,
		"ktgrpc.v1.KV":          healthpb.HealthCheckResponse_NOT_SERVING,
		server.LivenessService:  healthpb.HealthCheckResponse_SERVING,
	} {
		if got := checkHealth(t, conn, svc); got != want {
			t.Errorf("%q = %v with the backend down, want %v", svc, got, want)
		}
	}
}
