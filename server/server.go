// Package server exposes a backend.Backend as the ktgrpc.v1 gRPC services.
//
// The services are thin: they validate requests, convert between protobuf
// messages and backend values, call the backend and map its errors to status
// codes in one place (errors.go). No wire protocol lives here.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/hub"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server/access"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxKeySize     = 1 << 20
	DefaultMaxValueSize   = 64 << 20
	DefaultMaxMessageSize = 128 << 20
	DefaultHealthInterval = 5 * time.Second
)

// Options tune a Server. The zero value is ready to use.
type Options struct {
	// Logger receives call logs, recovered panics and health changes; nil
	// discards them.
	Logger *slog.Logger
	// MaxKeySize is the largest key accepted, in bytes (0: 1 MiB).
	MaxKeySize int
	// MaxValueSize is the largest value accepted, in bytes (0: 64 MiB).
	MaxValueSize int
	// MaxMessageSize is the largest gRPC message received or sent, in bytes
	// (0: 128 MiB).
	MaxMessageSize int
	// HealthInterval is how often the backend is pinged to keep the gRPC
	// health status current (0: 5s).
	HealthInterval time.Duration

	// Creds secures connections, typically with TLS from
	// credentials.NewTLS; nil serves plaintext, for loopback use or a proxy
	// that terminates TLS in front of the gateway.
	Creds credentials.TransportCredentials
	// Keepalive sets how the server pings idle connections (nil:
	// DefaultKeepalive, which suits long-lived streams).
	Keepalive *keepalive.ServerParameters
	// KeepalivePolicy sets how often clients may ping (nil:
	// DefaultKeepalivePolicy).
	KeepalivePolicy *keepalive.EnforcementPolicy
	// MaxConcurrentStreams bounds the calls in progress on one connection;
	// further calls wait on the client until one ends (0: gRPC's default,
	// no practical limit).
	MaxConcurrentStreams uint32

	// Access names the callers and their rights (see package access); nil
	// lets every caller that can connect do everything.
	Access func() *access.Table
	// AuthenticateHealth requires a credential for the health and
	// reflection services too; by default they stay open to probes.
	AuthenticateHealth bool
	// ReadOnly refuses every call that needs the write or admin right, for
	// every caller.
	ReadOnly bool
	// Limits bound what one call, connection or caller may ask for.
	Limits Limits
	// Metrics, when set, receives the gateway's Prometheus collectors: call
	// counts and latencies, backend round trips and pool, replication hub.
	Metrics prometheus.Registerer
	// TracerProvider, when set, traces every call and every backend round
	// trip under it; nil costs nothing.
	TracerProvider trace.TracerProvider
	// Hub tunes the replication hub that serves every Subscribe and Watch
	// from one upstream stream.
	Hub hub.Options
	// MaxCursorStreams bounds the Cursor.Open streams with an open cursor
	// and the Cursor.Scan streams on the gateway; one more is
	// RESOURCE_EXHAUSTED (0: DefaultMaxCursorStreams).
	MaxCursorStreams int
	// MaxCursorStreamsPerConn is MaxCursorStreams for one client connection
	// (0: DefaultMaxCursorStreamsPerConn).
	MaxCursorStreamsPerConn int
	// StallTimeout is how long a cursor, scan, Subscribe or Watch stream
	// waits for its client to take a message: a client that stops reading
	// has its stream ended with RESOURCE_EXHAUSTED (a Scan's and a
	// Subscribe's say where to resume), and what the stream holds released:
	// its backend cursor, its hub subscription (0: DefaultStallTimeout).
	StallTimeout time.Duration
	// PipelineDepth is the most requests one KV.Pipeline stream has in
	// progress or waiting to be sent at once; beyond it the gateway stops
	// reading the stream until an answer has been sent
	// (0: DefaultPipelineDepth).
	PipelineDepth int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxKeySize <= 0 {
		o.MaxKeySize = DefaultMaxKeySize
	}
	if o.MaxValueSize <= 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.MaxCursorStreams <= 0 {
		o.MaxCursorStreams = DefaultMaxCursorStreams
	}
	if o.MaxCursorStreamsPerConn <= 0 {
		o.MaxCursorStreamsPerConn = DefaultMaxCursorStreamsPerConn
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.PipelineDepth <= 0 {
		o.PipelineDepth = DefaultPipelineDepth
	}
	if o.Keepalive == nil {
		ka := DefaultKeepalive()
		o.Keepalive = &ka
	}
	if o.KeepalivePolicy == nil {
		kp := DefaultKeepalivePolicy()
		o.KeepalivePolicy = &kp
	}
	return o
}

// serviceNames are the ktgrpc services whose health the server reports next
// to the overall "" service.
func serviceNames() []string {
	return []string{
		ktgrpcv1.KV_ServiceDesc.ServiceName,
		ktgrpcv1.Cursor_ServiceDesc.ServiceName,
		ktgrpcv1.Script_ServiceDesc.ServiceName,
		ktgrpcv1.Replication_ServiceDesc.ServiceName,
		ktgrpcv1.Admin_ServiceDesc.ServiceName,
		ktgrpcv1.Table_ServiceDesc.ServiceName,
	}
}

// Server serves one backend over gRPC. Create it with New.
type Server struct {
	b backend.Backend
	// caps is what b offers, read once: a backend's capabilities do not
	// change, and calls that set an optional field (a TTL on every record
	// of a bulk set) check them on each request.
	caps   map[backend.Capability]bool
	hub    *hub.Hub
	opts   Options
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server
	guard  *guard
	limits *streamLimits
	codec  *requestCodec
	// pipeline runs the requests of KV.Pipeline streams.
	pipeline *pipelineOps

	// encodings shares the marshalling of replicated events among the
	// streams that send them.
	encodings eventEncodings

	// closing ends every streaming handler; Stop cancels it before the
	// graceful stop, which would otherwise wait for streams that never end.
	closing       context.Context
	cancelClosing context.CancelFunc

	healthOnce sync.Once
	healthDone chan struct{} // closed when the health watcher has exited
	healthMu   sync.Mutex    // serialises status updates against Stop
	stopped    bool          // under healthMu: no more status updates
	serving    *bool         // under healthMu: the last status set, nil before the first
	draining   bool          // under healthMu: readiness stays NOT_SERVING
	stopOnce   sync.Once

	// inproc carries the HTTP/JSON gateway's calls into grpc; inprocConn
	// is the gateway's connection over it, made on first use.
	inproc     *inprocListener
	inprocOnce sync.Once
	inprocConn *grpc.ClientConn
	inprocErr  error
}

// New builds a server for b. It does not take ownership of b: closing the
// backend is the caller's job, after Stop.
func New(b backend.Backend, opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		b:          b,
		caps:       capabilitySet(b),
		hub:        hub.New(b, opts.Hub),
		opts:       opts,
		log:        opts.Logger,
		health:     health.NewServer(),
		healthDone: make(chan struct{}),
		limits:     &streamLimits{max: opts.MaxCursorStreams, perConn: opts.MaxCursorStreamsPerConn, byConn: map[*connTag]int{}},
		inproc:     newInprocListener(),
	}
	s.closing, s.cancelClosing = context.WithCancel(context.Background())
	s.guard = s.newGuard()
	s.codec = newRequestCodec()

	obs := s.newObservability()
	unary, stream := s.interceptors(obs)
	s.pipeline = s.pipelineInterceptors(obs)
	s.grpc = grpc.NewServer(append(append(opts.transportOptions(), obs.serverOptions()...),
		grpc.MaxRecvMsgSize(opts.MaxMessageSize),
		grpc.MaxSendMsgSize(opts.MaxMessageSize),
		grpc.ForceServerCodecV2(s.codec),
		grpc.StatsHandler(connTagger{}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)...)
	ktgrpcv1.RegisterKVServer(s.grpc, &kvService{s: s})
	ktgrpcv1.RegisterCursorServer(s.grpc, &cursorService{s: s})
	ktgrpcv1.RegisterScriptServer(s.grpc, &scriptService{s: s})
	ktgrpcv1.RegisterReplicationServer(s.grpc, &replicationService{s: s})
	ktgrpcv1.RegisterAdminServer(s.grpc, &adminService{s: s})
	ktgrpcv1.RegisterTableServer(s.grpc, &tableService{s: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	obs.register(s.grpc)

	// Until the first ping answers nobody knows whether the backend is up;
	// a probe must not route traffic here before that. The process itself
	// serves from now on.
	s.setHealth(false)
	s.health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	return s
}

// GRPC returns the underlying gRPC server, for callers that register more
// services or serve it themselves. A caller that serves it without Serve
// must drive the health status with CheckHealth: until the first check it
// reports NOT_SERVING.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// MaxMessageSize is the largest message the server receives or sends; clients
// that move large values should raise their own limits to match.
func (s *Server) MaxMessageSize() int { return s.opts.MaxMessageSize }

// Serve accepts connections on lis until Stop. It starts the health watcher
// on first use. It returns nil after Stop.
func (s *Server) Serve(lis net.Listener) error {
	s.healthOnce.Do(func() { go s.watchHealth() })
	return s.grpc.Serve(lis)
}

// Stop ends open streams, then stops gracefully, letting unary calls finish.
// When ctx ends first the server stops hard, closing every connection and
// cancelling the calls still running, and Stop returns ctx's error without
// waiting for them. Stop is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		// Health goes first, so that a client watching it has a chance to
		// hear NOT_SERVING before its stream ends; stopped keeps the
		// watcher from turning it back.
		s.healthMu.Lock()
		s.stopped = true
		s.healthMu.Unlock()
		s.health.Shutdown()
		s.cancelClosing()
		s.healthOnce.Do(func() { close(s.healthDone) })
		<-s.healthDone

		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
			s.closeInproc()
		case <-ctx.Done():
			// Stop cancels every handler's context but, like GracefulStop,
			// does not wait for handlers; one stuck in a backend call that
			// ignores its context must not hold the caller too.
			s.log.Warn("graceful stop timed out; closing connections", "error", ctx.Err())
			s.grpc.Stop()
			s.closeInproc()
			err = ctx.Err()
		}
		// The handlers have ended (or been told to); the shared stream
		// goes with them.
		_ = s.hub.Close()
	})
	return err
}

// closeInproc closes the HTTP/JSON gateway's connection, once the server no
// longer serves it.
func (s *Server) closeInproc() {
	s.inprocOnce.Do(func() { s.inprocErr = errors.New("the gateway has stopped") })
	if s.inprocConn != nil {
		_ = s.inprocConn.Close()
	}
	_ = s.inproc.Close()
}

// CheckHealth pings the backend once and updates the health status of every
// service. It returns the ping's error.
func (s *Server) CheckHealth(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.HealthInterval)
	defer cancel()
	err := s.b.Ping(ctx)
	if err != nil && s.closing.Err() == nil {
		s.log.Debug("backend ping failed", "backend", s.b.Name(), "error", err)
	}
	s.setHealth(err == nil)
	return err
}

func (s *Server) watchHealth() {
	defer close(s.healthDone)
	t := time.NewTicker(s.opts.HealthInterval)
	defer t.Stop()
	for {
		_ = s.CheckHealth(s.closing)
		select {
		case <-s.closing.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) setHealth(ok bool) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if s.stopped {
		return
	}
	if s.serving != nil && *s.serving != ok {
		if ok {
			s.log.Info("backend healthy", "backend", s.b.Name())
		} else {
			s.log.Warn("backend unhealthy", "backend", s.b.Name())
		}
	}
	s.serving = &ok
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok && !s.draining {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ReadinessService, st)
	for _, name := range serviceNames() {
		s.health.SetServingStatus(name, st)
	}
}

// errShuttingDown is the cause given to streaming handlers' contexts when the
// server stops.
var errShuttingDown = errors.New("the gateway is shutting down")

// streamContext derives a context for a streaming handler that also ends when
// the server starts stopping, with errShuttingDown as its cause.
func (s *Server) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(s.closing, func() { cancel(errShuttingDown) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// endOtherStreamsOnStop ends, when the server stops, the streams of the
// services registered beside ktgrpc's own: a health Watch or a reflection
// stream waits for its client indefinitely, and GracefulStop would wait for
// it, turning every shutdown into a forced one. The ktgrpc services watch
// s.closing themselves.
func (s *Server) endOtherStreamsOnStop(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if strings.HasPrefix(info.FullMethod, "/ktgrpc.v1.") {
		return handler(srv, ss)
	}
	ctx, cancel := s.streamContext(ss.Context())
	defer cancel()
	err := handler(srv, &stoppableStream{ServerStream: ss, ctx: ctx})
	if err != nil && errors.Is(context.Cause(ctx), errShuttingDown) {
		return streamError(ctx, err)
	}
	return err
}

// stoppableStream is a server stream whose Context and RecvMsg also end when
// ctx does, for handlers that block in RecvMsg without watching a context.
type stoppableStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the context that also ends when the server stops.
func (st *stoppableStream) Context() context.Context { return st.ctx }

// RecvMsg waits for the next message or for the end of ctx. In the latter
// case the underlying RecvMsg goes on until the stream ends, which returning
// from the handler brings about; it may still write into m, which the
// handler has no more use for.
func (st *stoppableStream) RecvMsg(m any) error {
	done := make(chan error, 1)
	go func() { done <- st.ServerStream.RecvMsg(m) }()
	select {
	case err := <-done:
		return err
	case <-st.ctx.Done():
		return context.Cause(st.ctx)
	}
}
