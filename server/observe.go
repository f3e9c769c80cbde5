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
	"github.com/ktgrpc/ktgrpc/backend/hub"
)

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
	// pipelined counts and times the requests of KV.Pipeline streams one by
	// one; the call metrics see only their stream.
	pipelined        *prometheus.CounterVec
	pipelinedSeconds *prometheus.HistogramVec
	tp               trace.TracerProvider
	tracer           trace.Tracer
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
		o.pipelined = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ktgrpc_pipeline_requests_total",
			Help: "Requests answered on KV.Pipeline streams, by the unary method each stands for and the gRPC code of its answer.",
		}, []string{"grpc_method", "grpc_code"})
		o.pipelinedSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ktgrpc_pipeline_request_seconds",
			Help:    "Time from a KV.Pipeline request's arrival to its answer, by the unary method it stands for.",
			Buckets: latencyBuckets(),
		}, []string{"grpc_method"})
		cs := []prometheus.Collector{o.calls, o.roundTrip, o.pipelined, o.pipelinedSeconds}
		if pr, ok := s.b.(backend.PoolReporter); ok {
			cs = append(cs, poolCollector{pr})
		}
		cs = append(cs, hubCollector{s.hub})
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

// pipeline is the outermost interceptor of a pipelined request: it counts
// and times it under the unary method it stands for.
func (o *observability) pipeline() []grpc.UnaryServerInterceptor {
	if o.pipelined == nil {
		return nil
	}
	return []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
		o.pipelined.WithLabelValues(method, status.Code(toStatus(err)).String()).Inc()
		o.pipelinedSeconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
		return resp, err
	}}
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

func poolDescs() (size, conns, waits, dials, discards, recovered *prometheus.Desc) {
	return prometheus.NewDesc("ktgrpc_backend_pool_size", "The most connections the backend pool opens.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_connections", "Backend pool connections open now, by state (idle or in_use).", []string{"state"}, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_waits_total", "Times a call found every backend connection in use and waited for one.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_dials_total", "Backend connections opened.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_discards_total", "Backend connections closed after an error or because the server closed them.", nil, nil),
		prometheus.NewDesc("ktgrpc_backend_pool_recovered_total", "Backend connections kept after a call gave up on them, by reading the late reply.", nil, nil)
}

// Describe implements prometheus.Collector.
func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	size, conns, waits, dials, discards, recovered := poolDescs()
	for _, d := range []*prometheus.Desc{size, conns, waits, dials, discards, recovered} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	size, conns, waits, dials, discards, recovered := poolDescs()
	st := c.b.BackendPoolStats()
	ch <- prometheus.MustNewConstMetric(size, prometheus.GaugeValue, float64(st.Size))
	ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(st.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(st.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(waits, prometheus.CounterValue, float64(st.Waits))
	ch <- prometheus.MustNewConstMetric(dials, prometheus.CounterValue, float64(st.Dials))
	ch <- prometheus.MustNewConstMetric(discards, prometheus.CounterValue, float64(st.Discards))
	ch <- prometheus.MustNewConstMetric(recovered, prometheus.CounterValue, float64(st.Recovered))
}

// hubCollector reports the replication hub at scrape time.
type hubCollector struct{ h *hub.Hub }

func hubDescs() []*prometheus.Desc {
	return []*prometheus.Desc{
		prometheus.NewDesc("ktgrpc_replication_subscribers", "Subscribe and Watch streams served now.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_upstreams", "Connections reading the backend's update log: the shared stream and catch-up readers.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_catch_up_readers", "Extra upstream readers serving subscribers that started before the window.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_window_events", "Events kept in memory for subscribers that fall behind.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_window_bytes", "Bytes held by the events in the window.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_window_oldest_position", "Position of the oldest event in the window; 0 when it is empty.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_position", "Position of the shared upstream stream.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_slow_consumer_drops_total", "Subscribers ended for falling behind their buffer.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_events_dropped_total", "Events not delivered because their subscriber was ended for being slow.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_upstream_reconnects_total", "Times the shared upstream stream was re-established after a loss.", nil, nil),
		prometheus.NewDesc("ktgrpc_replication_lag_events", "Events of the window the furthest-behind subscriber has yet to take.", nil, nil),
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
	st := c.h.Stats()
	gauge := func(i int, v float64) { ch <- prometheus.MustNewConstMetric(d[i], prometheus.GaugeValue, v) }
	counter := func(i int, v float64) { ch <- prometheus.MustNewConstMetric(d[i], prometheus.CounterValue, v) }
	gauge(0, float64(st.Subscribers))
	gauge(1, float64(st.UpstreamConnections))
	gauge(2, float64(st.CatchUpReaders))
	gauge(3, float64(st.WindowEvents))
	gauge(4, float64(st.WindowBytes))
	gauge(5, float64(st.WindowOldest))
	gauge(6, float64(st.Position))
	counter(7, float64(st.SlowSubscribersEnded))
	counter(8, float64(st.EventsDropped))
	counter(9, float64(st.UpstreamReconnects))
	gauge(10, float64(st.MaxLagEvents))
}
