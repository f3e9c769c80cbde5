package server

import (
	"context"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
)

// HubStats describes the replication hub for metrics.
type HubStats struct {
	// Subscribers is the Subscribe streams served now.
	Subscribers int
	// Upstreams is the connections reading backends' update logs.
	Upstreams int
	// LagSeconds is how far the newest event handed to subscribers trails
	// the backend's clock.
	LagSeconds float64
	// Window is the events kept for subscribers that fall behind.
	Window int
	// SlowConsumerDrops counts the subscribers ended for falling behind
	// the window.
	SlowConsumerDrops int64
}

// latencyBuckets suit a gateway in front of an in-memory database on a
// LAN: most calls take well under a millisecond, and anything past a few
// seconds is a problem whatever its exact length.
func latencyBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// observability holds what the server reports about itself: Prometheus
// collectors and a tracer, each nil when not asked for.
type observability struct {
	calls     *grpcprom.ServerMetrics
	roundTrip *prometheus.HistogramVec
	tp        trace.TracerProvider
	tracer    trace.Tracer
}

func (s *Server) newObservability() *observability {
	o := &observability{}
	if reg := s.opts.Metrics; reg != nil {
		o.calls = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets())))
		o.roundTrip = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ktgrpc_backend_round_trip_seconds",
			Help:    "Time of one request to the backend server and its reply, by backend kind, operation and gRPC code of the outcome.",
			Buckets: latencyBuckets(),
		}, []string{"backend", "op", "code"})
		cs := []prometheus.Collector{o.calls, o.roundTrip}
		if pr, ok := s.b.(backend.PoolReporter); ok {
			cs = append(cs, poolCollector{pr})
		}
		if s.opts.HubStats != nil {
			cs = append(cs, hubCollector{s.opts.HubStats})
		}
		for _, c := range cs {
			if err := reg.Register(c); err != nil {
				s.log.Error("metrics not registered", "error", err)
			}
		}
	}
	if tp := s.opts.TracerProvider; tp != nil {
		o.tp = tp
		o.tracer = tp.Tracer("github.com/ktgrpc/ktgrpc/server")
	}
	return o
}

// serverOptions installs the tracing stats handler.
func (o *observability) serverOptions() []grpc.ServerOption {
	if o.tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(o.tp),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	))}
}

// unary and stream are the outermost interceptors, so that the call
// metrics count every call, refused ones too.
func (o *observability) unary() []grpc.UnaryServerInterceptor {
	if o.calls == nil {
		return nil
	}
	return []grpc.UnaryServerInterceptor{o.calls.UnaryServerInterceptor()}
}

func (o *observability) stream() []grpc.StreamServerInterceptor {
	if o.calls == nil {
		return nil
	}
	return []grpc.StreamServerInterceptor{o.calls.StreamServerInterceptor()}
}

// register starts every method's call counters at zero, so that a rate
// over a method never called is 0 rather than absent.
func (o *observability) register(srv *grpc.Server) {
	if o.calls != nil {
		o.calls.InitializeMetrics(srv)
	}
}

// unaryRoundTrips and streamRoundTrips hand the backend adapters an
// observer for their round trips, when anything observes them.
func (o *observability) unaryRoundTrips() []grpc.UnaryServerInterceptor {
	if o.roundTrip == nil && o.tracer == nil {
		return nil
	}
	return []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(backend.WithRoundTripObserver(ctx, o), req)
	}}
}

func (o *observability) streamRoundTrips() []grpc.StreamServerInterceptor {
	if o.roundTrip == nil && o.tracer == nil {
		return nil
	}
	return []grpc.StreamServerInterceptor{func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		w := middleware.WrapServerStream(ss)
		w.WrappedContext = backend.WithRoundTripObserver(ss.Context(), o)
		return handler(srv, w)
	}}
}

// RoundTrip implements backend.RoundTripObserver: a client span under the
// call's own, and a latency sample.
func (o *observability) RoundTrip(ctx context.Context, backendName, op string) (context.Context, func(error)) {
	start := time.Now()
	var span trace.Span
	if o.tracer != nil {
		ctx, span = o.tracer.Start(ctx, backendName+" "+op, trace.WithSpanKind(trace.SpanKindClient))
	}
	return ctx, func(err error) {
		if o.roundTrip != nil {
			code := "OK"
			if err != nil {
				code = status.Code(toStatus(err)).String()
			}
			o.roundTrip.WithLabelValues(backendName, opLabel(op), code).Observe(time.Since(start).Seconds())
		}
		if span != nil {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(otelcodes.Error, err.Error())
			}
			span.End()
		}
	}
}

// opLabel keeps the label to the operation's kind: adapters name Tokyo
// Tyrant misc functions and scripts after the command ("misc putlist",
// "ext myfunc"), and caller-chosen names would make the series unbounded.
func opLabel(op string) string {
	kind, _, _ := strings.Cut(op, " ")
	return kind
}

// poolCollector reports a backend's connection pool at scrape time.
type poolCollector struct{ b backend.PoolReporter }

func poolDescs() (size, conns, waits, dials, discards *prometheus.Desc) {
	return prometheus.NewDesc("ktgrpc_backend_pool_size", "The most connections the backend pool opens.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_connections", "Backend pool connections open now, by state (idle or in_use).", []string{"state"}, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_waits_total", "Times a call found every backend connection in use and waited for one.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_dials_total", "Backend connections opened.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_discards_total", "Backend connections closed after an error or because the server closed them.", nil, nil)
}

// Describe implements prometheus.Collector.
func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	size, conns, waits, dials, discards := poolDescs()
	for _, d := range []*prometheus.Desc{size, conns, waits, dials, discards} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	size, conns, waits, dials, discards := poolDescs()
	st := c.b.BackendPoolStats()
	ch <- prometheus.MustNewConstMetric(size, prometheus.GaugeValue, float64(st.Size))
	ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(st.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(st.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(waits, prometheus.CounterValue, float64(st.Waits))
	ch <- prometheus.MustNewConstMetric(dials, prometheus.CounterValue, float64(st.Dials))
	ch <- prometheus.MustNewConstMetric(discards, prometheus.CounterValue, float64(st.Discards))
}

// hubCollector reports the replication hub at scrape time.
type hubCollector struct{ stats func() HubStats }

func hubDescs() []*prometheus.Desc {
	return []*prometheus.Desc{
		prometheus.NewDesc("ktgrpc_replication_subscribers", "Subscribe streams served now.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_upstreams", "Connections reading backend update logs.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_lag_seconds", "How far the newest event handed to subscribers trails the backend's clock.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_window_events", "Events kept for subscribers that fall behind.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_slow_consumer_drops_total", "Subscribers ended for falling behind the window.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range hubDescs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	d := hubDescs()
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(d[0], prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(d[1], prometheus.GaugeValue, float64(st.Upstreams))
	ch <- prometheus.MustNewConstMetric(d[2], prometheus.GaugeValue, st.LagSeconds)
	ch <- prometheus.MustNewConstMetric(d[3], prometheus.GaugeValue, float64(st.Window))
	ch <- prometheus.MustNewConstMetric(d[4], prometheus.CounterValue, float64(st.SlowConsumerDrops))
}
