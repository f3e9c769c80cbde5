package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/server/access"
)

// opsConfig is the part of the serve command line about running the gateway
// in production: access control, limits, draining, metrics and tracing.
type opsConfig struct {
	tokensFile         string
	authenticateHealth bool
	readOnly           bool
	limits             server.Limits
	maxStreamsPerConn  uint
	drainDelay         time.Duration
	metricsListen      string
	pprof              bool
	otlpEndpoint       string
	otlpInsecure       bool
}

func (o *opsConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.tokensFile, "tokens-file", "", "require a bearer token or a listed client certificate on every call, with the rights given in `file` (see docs/deployment.md); read again on SIGHUP")
	fs.BoolVar(&o.authenticateHealth, "authenticate-health", false, "with --tokens-file, require a credential for the health and reflection services too")
	fs.BoolVar(&o.readOnly, "read-only", false, "refuse every call that writes records or manages the server")
	fs.IntVar(&o.limits.MaxBulkKeys, "max-bulk-keys", 0, "at most `n` keys or records in one bulk request (0: no limit)")
	fs.UintVar(&o.maxStreamsPerConn, "max-streams-per-connection", 0, "at most `n` streaming calls open at once on one connection; more fail at once with RESOURCE_EXHAUSTED (0: no limit)")
	fs.Float64Var(&o.limits.Rate, "rate-limit", 0, "at most `n` calls per second per caller (per token name; anonymous callers share one budget); 0: no limit")
	fs.IntVar(&o.limits.Burst, "rate-burst", 0, "calls a caller may make at once above --rate-limit (0: one second's worth)")
	fs.DurationVar(&o.limits.DefaultDeadline, "default-deadline", 0, "deadline of unary calls that arrive without one (0: none)")
	fs.DurationVar(&o.limits.MaxDeadline, "max-deadline", 0, "longest deadline of a unary call; longer ones are shortened (0: no limit)")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on SIGTERM, report readiness NOT_SERVING for this long while still serving, so that load balancers stop routing here, before streams end")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://`address`/metrics (off when empty)")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve Go profiles at /debug/pprof/ on --metrics-listen")
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "send OpenTelemetry traces over OTLP/gRPC to `host:port` (off when empty)")
	fs.BoolVar(&o.otlpInsecure, "otlp-insecure", false, "send traces to --otlp-endpoint without TLS")
}

// check reports flags that cannot work together.
func (o *opsConfig) check() error {
	l := &o.limits
	switch {
	case o.authenticateHealth && o.tokensFile == "":
		return usagef("--authenticate-health needs --tokens-file")
	case o.pprof && o.metricsListen == "":
		return usagef("--pprof needs --metrics-listen: profiles are served on the metrics listener")
	case o.otlpInsecure && o.otlpEndpoint == "":
		return usagef("--otlp-insecure needs --otlp-endpoint")
	case l.MaxBulkKeys < 0:
		return usagef("--max-bulk-keys %d: must not be negative", l.MaxBulkKeys)
	case l.Rate < 0:
		return usagef("--rate-limit %g: must not be negative", l.Rate)
	case l.Burst < 0:
		return usagef("--rate-burst %d: must not be negative", l.Burst)
	case l.Burst > 0 && l.Rate == 0:
		return usagef("--rate-burst needs --rate-limit")
	case l.DefaultDeadline < 0, l.MaxDeadline < 0, o.drainDelay < 0:
		return usagef("--default-deadline, --max-deadline and --drain-delay must not be negative")
	case l.MaxDeadline > 0 && l.DefaultDeadline > l.MaxDeadline:
		return usagef("--default-deadline %v must not exceed --max-deadline %v", l.DefaultDeadline, l.MaxDeadline)
	case o.maxStreamsPerConn > 1<<20:
		return usagef("--max-streams-per-connection %d: must be at most %d", o.maxStreamsPerConn, 1<<20)
	}
	if l.Rate > 0 && l.Burst == 0 {
		l.Burst = max(int(l.Rate), 1)
	}
	l.MaxStreamsPerConnection = int(o.maxStreamsPerConn)
	return nil
}

// ops is what serve runs beside the gRPC server; close releases it.
type ops struct {
	log      *slog.Logger
	tokens   *access.File
	metrics  *prometheus.Registry
	tracer   *sdktrace.TracerProvider
	httpSrv  *http.Server
	httpLis  net.Listener
	httpDone chan error
}

// startOps reads the tokens file, sets up tracing and opens the metrics
// listener. Errors name the flag at fault.
func (o *opsConfig) start(ctx context.Context, log *slog.Logger) (_ *ops, err error) {
	r := &ops{log: log}
	defer func() {
		if err != nil {
			r.close(context.WithoutCancel(ctx))
		}
	}()
	if o.tokensFile != "" {
		if r.tokens, err = access.Load(o.tokensFile); err != nil {
			return nil, fmt.Errorf("--tokens-file: %w", err)
		}
	}
	if o.otlpEndpoint != "" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.otlpEndpoint)}
		if o.otlpInsecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		// The exporter connects lazily: a collector that is down at start
		// costs dropped spans, not the gateway.
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("--otlp-endpoint %s: %w", o.otlpEndpoint, err)
		}
		r.tracer = sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "ktgrpc"))),
		)
	}
	if o.metricsListen != "" {
		r.metrics = prometheus.NewRegistry()
		r.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(r.metrics, promhttp.HandlerOpts{Registry: r.metrics}))
		if o.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		var lc net.ListenConfig
		if r.httpLis, err = lc.Listen(ctx, "tcp", o.metricsListen); err != nil {
			return nil, fmt.Errorf("--metrics-listen %s: %w", o.metricsListen, err)
		}
		r.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		r.httpDone = make(chan error, 1)
		go func() { r.httpDone <- r.httpSrv.Serve(r.httpLis) }()
	}
	return r, nil
}

// serverOptions fills in the server options ops provides.
func (r *ops) serverOptions(o *opsConfig, so *server.Options) {
	if r.tokens != nil {
		so.Access = r.tokens.Table
		so.AuthenticateHealth = o.authenticateHealth
	}
	so.ReadOnly = o.readOnly
	so.Limits = o.limits
	if r.metrics != nil {
		so.Metrics = r.metrics
	}
	if r.tracer != nil {
		so.TracerProvider = r.tracer
	}
}

// logAttrs describes ops for the startup log line.
func (r *ops) logAttrs() []any {
	var a []any
	if r.tokens != nil {
		a = append(a, "tokens", r.tokens.Table().Len())
	}
	if r.httpLis != nil {
		a = append(a, "metrics", "http://"+r.httpLis.Addr().String()+"/metrics")
	}
	if r.tracer != nil {
		a = append(a, "tracing", "otlp")
	}
	return a
}

// close stops the metrics listener and flushes the traces.
func (r *ops) close(ctx context.Context) {
	if r.httpSrv != nil {
		if err := r.httpSrv.Shutdown(ctx); err != nil {
			r.log.Warn("metrics listener did not stop cleanly", "error", err)
		}
		if err := <-r.httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("metrics listener failed", "error", err)
		}
	}
	if r.tracer != nil {
		if err := r.tracer.Shutdown(ctx); err != nil {
			r.log.Warn("flushing traces failed", "error", err)
		}
	}
}

// reloadOnHangup reads the tokens file and the certificates again on each
// signal from hup until ctx ends. A file that fails to load is logged and
// the previous contents stay in force. Connections and streams are
// untouched: a connection keeps its certificate, and a stream the caller it
// was opened by.
func reloadOnHangup(ctx context.Context, log *slog.Logger, hup <-chan os.Signal, tokens *access.File, certs *serverCerts) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		failed := false
		if tokens != nil {
			if err := tokens.Reload(); err != nil {
				failed = true
				log.Error("reload failed; the tokens read before stay in force", "error", err)
			}
		}
		if certs != nil {
			if err := certs.reload(); err != nil {
				failed = true
				log.Error("reload failed; the certificates read before stay in force", "error", err)
			}
		}
		if !failed {
			log.Info("reloaded", "tokens", tokens != nil, "tls", certs != nil)
		}
	}
}
