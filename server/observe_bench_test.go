//go:build unix

package server_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// cpuTime is the process's user plus system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServingFeatures compares, in one run, a KV.Get through the
// gateway to a KT test server with each serving feature off and on; the
// ratios between the sub-benchmarks are the features' cost. cpu-ns/op is
// the whole process's CPU time (client, gateway and test server) per call.
func BenchmarkServingFeatures(b *testing.B) {
	cases := []struct {
		name string
		opts func(b *testing.B) server.Options
	}{
		{"off", func(*testing.B) server.Options { return server.Options{} }},
		{"tokens", func(b *testing.B) server.Options {
			return server.Options{Access: tokenTable(b), Limits: server.Limits{Rate: 1e9, Burst: 1e9, MaxBulkKeys: 1000, DefaultDeadline: time.Minute}}
		}},
		{"metrics", func(*testing.B) server.Options { return server.Options{Metrics: prometheus.NewRegistry()} }},
		{"tracing", func(b *testing.B) server.Options {
			tp := sdktrace.NewTracerProvider()
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return server.Options{TracerProvider: tp}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			be := ktBackend(b, kttest.Start(b))
			opts := c.opts(b)
			opts.HealthInterval = time.Hour
			_, conn := gatewaytest.StartServer(b, be, opts)
			kv := ktgrpcv1.NewKVClient(conn)
			ctx := withToken(context.Background(), "read-token")
			req := &ktgrpcv1.GetRequest{Key: []byte("k")}
			if _, err := kv.Get(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				if _, err := kv.Get(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
