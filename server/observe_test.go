package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ktgrpc/ktgrpc/backend/kt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// ktBackend opens the KT adapter on a test server.
func ktBackend(t testing.TB, srv *kttest.Server) *kt.Backend {
	t.Helper()
	b, err := kt.Open(t.Context(), &url.URL{Scheme: "kt", Host: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// scrape reads url's metrics the way Prometheus does.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series finds the series of family name whose labels include want.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no series %s%v", name, want)
	return nil
}

func TestMetricsScrapedAfterKnownTraffic(t *testing.T) {
	b := ktBackend(t, kttest.Start(t))
	reg := prometheus.NewRegistry()
	_, conn := gatewaytest.StartServer(t, b, server.Options{
		HealthInterval: time.Hour,
		Metrics:        reg,
	})
	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(web.Close)

	// The first health ping has answered once readiness is SERVING, so the
	// pool is quiet from then on but for the test's calls.
	waitHealth(t, conn, server.ReadinessService, healthpb.HealthCheckResponse_SERVING)
	kv := ktgrpcv1.NewKVClient(conn)
	for range 3 {
		if _, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{})
	wantCode(t, err, codes.InvalidArgument, "key")

	// Two subscribers that have each received the change are attached to
	// the hub, which reads the backend's log over one upstream stream.
	repl := ktgrpcv1.NewReplicationClient(conn)
	subCtx, endSubs := context.WithCancel(t.Context())
	defer endSubs()
	var subs []ktgrpcv1.Replication_SubscribeClient
	for range 2 {
		st, err := repl.Subscribe(subCtx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, st)
	}
	if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("watched"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for i, st := range subs {
		for {
			m, err := st.Recv()
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			if string(m.GetEvent().GetKey()) == "watched" {
				break
			}
		}
	}

	fams := scrape(t, web.URL)
	get := map[string]string{"grpc_service": "ktgrpc.v1.KV", "grpc_method": "Get"}
	for code, n := range map[string]float64{"OK": 3, "InvalidArgument": 1, "Internal": 0} {
		m := series(t, fams, "grpc_server_handled_total", map[string]string{"grpc_service": "ktgrpc.v1.KV", "grpc_method": "Get", "grpc_code": code})
		if got := m.GetCounter().GetValue(); got != n {
			t.Errorf("handled Get %s = %v, want %v", code, got, n)
		}
	}
	if got := series(t, fams, "grpc_server_handling_seconds", get).GetHistogram().GetSampleCount(); got != 4 {
		t.Errorf("Get latency samples = %d, want 4", got)
	}
	// Every Get that reached the backend made one round trip.
	if got := series(t, fams, "ktgrpc_backend_round_trip_seconds", map[string]string{"backend": "kt", "op": "get", "code": "OK"}).GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("kt get round trips = %d, want 3", got)
	}
	// The series cover the call pool and the cursor pool together.
	if got := series(t, fams, "ktgrpc_backend_pool_size", nil).GetGauge().GetValue(); got != kt.DefaultPoolSize+kt.DefaultCursors {
		t.Errorf("pool size = %v, want %d", got, kt.DefaultPoolSize+kt.DefaultCursors)
	}
	idle := series(t, fams, "ktgrpc_backend_pool_connections", map[string]string{"state": "idle"}).GetGauge().GetValue()
	inUse := series(t, fams, "ktgrpc_backend_pool_connections", map[string]string{"state": "in_use"}).GetGauge().GetValue()
	if got := series(t, fams, "ktgrpc_backend_pool_waits_total", nil).GetCounter().GetValue(); got != 0 {
		t.Errorf("pool waits = %v after sequential calls, want 0", got)
	}
	if got := series(t, fams, "ktgrpc_backend_pool_recovered_total", nil).GetCounter().GetValue(); got != 0 {
		t.Errorf("pool recovered = %v after calls that all got their replies, want 0", got)
	}
	dials := series(t, fams, "ktgrpc_backend_pool_dials_total", nil).GetCounter().GetValue()
	if idle < 1 || inUse != 0 || dials != idle {
		t.Errorf("pool idle %v, in use %v, dials %v; want every connection dialled idle after the calls", idle, inUse, dials)
	}
	for name, want := range map[string]float64{
		"ktgrpc_replication_subscribers":               2,
		"ktgrpc_replication_upstreams":                 1,
		"ktgrpc_replication_slow_consumer_drops_total": 0,
	} {
		m := series(t, fams, name, nil)
		got := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := series(t, fams, "ktgrpc_replication_window_events", nil).GetGauge().GetValue(); got < 1 {
		t.Errorf("window events = %v after a change was delivered, want at least 1", got)
	}
	// The lag's value depends on where each subscriber is in its loop;
	// that it is exported is what this test can know.
	series(t, fams, "ktgrpc_replication_lag_events", nil)
	if got := series(t, fams, "ktgrpc_replication_position", nil).GetGauge().GetValue(); got == 0 {
		t.Error("replication position = 0 after a change was delivered")
	}
}

// Each request of a KV.Pipeline stream is counted and timed under the unary
// method it stands for, apart from the unary calls themselves.
func TestPipelineRequestMetrics(t *testing.T) {
	b := ktBackend(t, kttest.Start(t))
	reg := prometheus.NewRegistry()
	_, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour, Metrics: reg})
	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(web.Close)
	stream, err := ktgrpcv1.NewKVClient(conn).Pipeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*ktgrpcv1.PipelineRequest{
		{Id: 1, Op: &ktgrpcv1.PipelineRequest_Set{Set: &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}}},
		{Id: 2, Op: &ktgrpcv1.PipelineRequest_Get{Get: &ktgrpcv1.GetRequest{Key: []byte("k")}}},
		{Id: 3, Op: &ktgrpcv1.PipelineRequest_Get{Get: &ktgrpcv1.GetRequest{}}},
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	for range reqs {
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	fams := scrape(t, web.URL)
	for _, c := range []struct {
		method, code string
		want         float64
	}{{"Set", "OK", 1}, {"Get", "OK", 1}, {"Get", "InvalidArgument", 1}} {
		m := series(t, fams, "ktgrpc_pipeline_requests_total", map[string]string{"grpc_method": c.method, "grpc_code": c.code})
		if got := m.GetCounter().GetValue(); got != c.want {
			t.Errorf("pipelined %s %s = %v, want %v", c.method, c.code, got, c.want)
		}
	}
	if got := series(t, fams, "ktgrpc_pipeline_request_seconds", map[string]string{"grpc_method": "Get"}).GetHistogram().GetSampleCount(); got != 2 {
		t.Errorf("pipelined Get latency samples = %d, want 2", got)
	}
	// Not unary calls: the call metrics count the one Pipeline stream.
	unary := series(t, fams, "grpc_server_handled_total", map[string]string{"grpc_service": "ktgrpc.v1.KV", "grpc_method": "Get", "grpc_code": "OK"})
	if got := unary.GetCounter().GetValue(); got != 0 {
		t.Errorf("unary Get calls = %v, want 0", got)
	}
}

// A call traced end to end: the gRPC server span, and under it one client
// span per backend round trip.
func TestTraceHasASpanPerBackendRoundTrip(t *testing.T) {
	b := ktBackend(t, kttest.Start(t))
	exp := tracetest.NewInMemoryExporter()
	ended := &serverSpansEnded{c: make(chan struct{}, 10)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSpanProcessor(ended))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	_, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour, TracerProvider: tp})

	kv := ktgrpcv1.NewKVClient(conn)
	if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.GetBulk(t.Context(), &ktgrpcv1.GetBulkRequest{Keys: [][]byte{[]byte("k"), []byte("j")}}); err != nil {
		t.Fatal(err)
	}
	// A server span ends after the reply is sent, so the client may see
	// the reply first.
	for range 2 {
		<-ended.c
	}
	spans := exp.GetSpans()
	for _, method := range []string{"ktgrpc.v1.KV/Set", "ktgrpc.v1.KV/GetBulk"} {
		srv := findSpan(spans, method)
		if srv == nil {
			t.Fatalf("no server span %s among %v", method, names(spans))
		}
		var children []string
		for _, s := range spans {
			if s.Parent.SpanID() == srv.SpanContext.SpanID() && s.SpanKind == trace.SpanKindClient {
				children = append(children, s.Name)
			}
		}
		if len(children) != 1 || children[0][:3] != "kt " {
			t.Errorf("%s: backend spans %v, want one kt round trip", method, children)
		}
	}
}

// serverSpansEnded signals each server span's end; the syncer exporter,
// registered first, has it by then.
type serverSpansEnded struct {
	sdktrace.SpanProcessor
	c chan struct{}
}

func (p *serverSpansEnded) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *serverSpansEnded) Shutdown(context.Context) error                  { return nil }
func (p *serverSpansEnded) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanKind() == trace.SpanKindServer {
		p.c <- struct{}{}
	}
}

func findSpan(spans tracetest.SpanStubs, name string) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].Name == name {
			return &spans[i]
		}
	}
	return nil
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
