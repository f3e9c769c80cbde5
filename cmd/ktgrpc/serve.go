package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/ktgrpc/ktgrpc/backend/dial"
	"github.com/ktgrpc/ktgrpc/backend/hub"
	"github.com/ktgrpc/ktgrpc/cmd/ktgrpc/internal/envflag"
	"github.com/ktgrpc/ktgrpc/server"
)

// serveConfig is the parsed serve command line.
type serveConfig struct {
	listen          string
	httpListen      string
	backend         string
	logLevel        slog.Level
	logFormat       choice
	maxKeySize      byteSize
	maxValueSize    byteSize
	maxMessageSize  byteSize
	healthInterval  time.Duration
	shutdownTimeout time.Duration
	tls             serverTLS
	maxStreams      uint
	ops             opsConfig
	hub             hubFlags
	cursorStreams   int
	cursorsPerConn  int
	stallTimeout    time.Duration
	pipelineDepth   int
}

// hubFlags tune the replication hub.
type hubFlags struct {
	windowEvents     int
	windowBytes      byteSize
	subscriberBuffer int
	catchUpReaders   int
	wakeSpacing      time.Duration
}

// parseServe reads the serve flags, then the KTGRPC_* variables for the flags
// the command line left unset, and checks the result.
func (c *cli) parseServe(args []string) (serveConfig, error) {
	cfg := serveConfig{
		logFormat:      choice{value: "text", allowed: []string{"text", "json"}},
		maxKeySize:     server.DefaultMaxKeySize,
		maxValueSize:   server.DefaultMaxValueSize,
		maxMessageSize: server.DefaultMaxMessageSize,
		hub: hubFlags{
			windowEvents:     hub.DefaultWindowEvents,
			windowBytes:      hub.DefaultWindowBytes,
			subscriberBuffer: hub.DefaultSubscriberBuffer,
			catchUpReaders:   hub.DefaultCatchUpReaders,
			wakeSpacing:      hub.DefaultWakeSpacing,
		},
	}
	fs := c.flagSet("serve", "[flags]", `Run the gateway: serve the backend named by --backend over gRPC on --listen
until SIGINT or SIGTERM, then stop gracefully (open streams end, unary calls
finish) within --shutdown-timeout. Logs go to stderr.

With --tls-cert and --tls-key it serves TLS (1.2 or later) only;
--tls-client-ca also requires every client to present a certificate signed by
that CA. SIGHUP reads the certificates and --tokens-file again without
dropping connections.

Health: "liveness" is SERVING while the process serves; "readiness" (and "")
while the backend answers and the gateway is not draining. On SIGTERM the
gateway reports readiness NOT_SERVING for --drain-delay, then stops.
docs/deployment.md describes tokens, probes, metrics and limits.

Backends:
  embedded:                       an in-memory store with databases "0" and "1"
  embedded:?dbs=users,cache:hash  named in-memory databases (":hash": unordered)
  kt://host:port                  Kyoto Tycoon
  tt://host:port                  Tokyo Tyrant`)
	fs.StringVar(&cfg.listen, "listen", defaultAddr, "`address` to serve gRPC on, host:port (port 0 picks a free one)")
	fs.StringVar(&cfg.httpListen, "http-listen", "", "also serve HTTP/JSON (POST /v1/kv/get …) on `address`, with the same TLS and tokens (empty: no HTTP)")
	fs.StringVar(&cfg.backend, "backend", dial.Default, "backend `URL`")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "least severe `level` logged: debug, info, warn or error")
	fs.Var(&cfg.logFormat, "log-format", "`format` of the log: text or json")
	fs.Var(&cfg.maxKeySize, "max-key-size", "largest key accepted, in `bytes` (K, M, G suffixes allowed)")
	fs.Var(&cfg.maxValueSize, "max-value-size", "largest value accepted, in `bytes` (K, M, G suffixes allowed)")
	fs.Var(&cfg.maxMessageSize, "max-message-size", "largest gRPC message received or sent, in `bytes` (K, M, G suffixes allowed)")
	fs.DurationVar(&cfg.healthInterval, "health-interval", server.DefaultHealthInterval, "how often the backend is pinged for the gRPC health status")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful stop may take before connections are closed")
	fs.StringVar(&cfg.tls.cert, "tls-cert", "", "serve TLS with the PEM certificate (chain) in `file`; needs --tls-key")
	fs.StringVar(&cfg.tls.key, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.StringVar(&cfg.tls.clientCA, "tls-client-ca", "", "require client certificates signed by a PEM CA certificate in `file` (mutual TLS)")
	fs.UintVar(&cfg.maxStreams, "max-concurrent-streams", 0, "at most `n` calls in progress on one connection; more wait on the client (0: gRPC's default, unlimited)")
	cfg.ops.addFlags(fs)
	fs.IntVar(&cfg.hub.windowEvents, "hub-window-events", cfg.hub.windowEvents, "the replication hub keeps at most `n` recent changes in memory")
	fs.Var(&cfg.hub.windowBytes, "hub-window-bytes", "the replication hub keeps at most this many `bytes` of recent changes in memory (K, M, G suffixes allowed)")
	fs.IntVar(&cfg.hub.subscriberBuffer, "hub-subscriber-buffer", cfg.hub.subscriberBuffer, "a subscriber more than `n` changes behind is ended with RESOURCE_EXHAUSTED and a position to resume after")
	fs.IntVar(&cfg.hub.catchUpReaders, "hub-catch-up-readers", cfg.hub.catchUpReaders, "at most `n` extra replication sessions serve subscribers that start before the window")
	fs.DurationVar(&cfg.hub.wakeSpacing, "hub-wake-spacing", cfg.hub.wakeSpacing, "wake the replication hub's subscribers at most once per this `duration` times their number, each taking the changes of the meantime in one go (0: on every change)")
	fs.IntVar(&cfg.cursorStreams, "max-cursor-streams", server.DefaultMaxCursorStreams, "at most `n` Cursor.Open (with a cursor open) and Cursor.Scan streams on the gateway; more are RESOURCE_EXHAUSTED")
	fs.IntVar(&cfg.cursorsPerConn, "max-cursor-streams-per-conn", server.DefaultMaxCursorStreamsPerConn, "at most `n` of those streams on one client connection")
	fs.DurationVar(&cfg.stallTimeout, "stall-timeout", server.DefaultStallTimeout, "end a cursor, scan, Subscribe or Watch stream whose client has taken no message for this long, freeing its backend cursor or hub subscription")
	fs.IntVar(&cfg.pipelineDepth, "pipeline-depth", server.DefaultPipelineDepth, "a KV.Pipeline stream has at most `n` requests in progress or answers waiting to be sent; beyond that the gateway reads no more of it, and flow control holds its client")
	envflag.Describe(fs, envPrefix, nil)

	pos, err := parseArgs(fs, args)
	if err != nil {
		return cfg, err
	}
	if err := envflag.Apply(fs, c.getenv, envPrefix, nil); err != nil {
		return cfg, usageError{err.Error()}
	}
	switch {
	case len(pos) != 0:
		return cfg, usagef("serve takes no arguments, got %q", pos)
	case cfg.listen == "":
		return cfg, usagef("--listen must not be empty")
	case cfg.healthInterval <= 0:
		return cfg, usagef("--health-interval %v: must be positive", cfg.healthInterval)
	case cfg.shutdownTimeout <= 0:
		return cfg, usagef("--shutdown-timeout %v: must be positive", cfg.shutdownTimeout)
	case cfg.maxValueSize >= cfg.maxMessageSize:
		// A value must fit in a message together with its key and framing.
		return cfg, usagef("--max-value-size %v must be below --max-message-size %v", cfg.maxValueSize, cfg.maxMessageSize)
	case cfg.maxKeySize >= cfg.maxMessageSize:
		return cfg, usagef("--max-key-size %v must be below --max-message-size %v", cfg.maxKeySize, cfg.maxMessageSize)
	case cfg.hub.windowEvents < 1 || cfg.hub.windowBytes < 1 || cfg.hub.subscriberBuffer < 1 || cfg.hub.catchUpReaders < 1:
		return cfg, usagef("--hub-window-events, --hub-window-bytes, --hub-subscriber-buffer and --hub-catch-up-readers must be at least 1")
	case cfg.hub.wakeSpacing < 0:
		return cfg, usagef("--hub-wake-spacing %v must not be negative (0 wakes subscribers on every change)", cfg.hub.wakeSpacing)
	case cfg.cursorStreams < 1 || cfg.cursorsPerConn < 1:
		return cfg, usagef("--max-cursor-streams %d and --max-cursor-streams-per-conn %d must be at least 1", cfg.cursorStreams, cfg.cursorsPerConn)
	case cfg.pipelineDepth < 1:
		return cfg, usagef("--pipeline-depth %d must be at least 1", cfg.pipelineDepth)
	case cfg.stallTimeout <= 0:
		return cfg, usagef("--stall-timeout %v must be positive", cfg.stallTimeout)
	case cfg.maxStreams > math.MaxUint32:
		return cfg, usagef("--max-concurrent-streams %d: must be at most %d", cfg.maxStreams, uint32(math.MaxUint32))
	}
	if err := cfg.ops.check(); err != nil {
		return cfg, err
	}
	return cfg, cfg.tls.check()
}

func (cfg serveConfig) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat.value == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (c *cli) serve(ctx context.Context, args []string) error {
	cfg, err := c.parseServe(args)
	if err != nil {
		return err
	}
	log := cfg.logger(c.stderr)
	// From here on SIGHUP means reload, even before the files are first
	// read: a reload asked for during the start must not kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Certificates are read before anything starts, so that a bad path
	// fails the start instead of every handshake.
	creds, certs, err := cfg.tls.credentials()
	if err != nil {
		return err
	}
	ops, err := cfg.ops.start(ctx, log)
	if err != nil {
		return err
	}
	defer func() {
		// A scrape or profile in progress, or a collector that does not
		// answer, must not hold the exit for long.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		ops.close(closeCtx)
	}()

	b, err := dial.Open(ctx, cfg.backend)
	if err != nil {
		return fmt.Errorf("open backend: %w", err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			log.Warn("closing the backend failed", "backend", b.Name(), "error", err)
		}
	}()

	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}

	opts := server.Options{
		Logger:         log,
		MaxKeySize:     int(cfg.maxKeySize),
		MaxValueSize:   int(cfg.maxValueSize),
		MaxMessageSize: int(cfg.maxMessageSize),
		HealthInterval: cfg.healthInterval,
		Creds:          creds,
		// parseServe bounds it to uint32.
		MaxConcurrentStreams:    uint32(cfg.maxStreams),
		MaxCursorStreams:        cfg.cursorStreams,
		MaxCursorStreamsPerConn: cfg.cursorsPerConn,
		StallTimeout:            cfg.stallTimeout,
		PipelineDepth:           cfg.pipelineDepth,
		Hub: hub.Options{
			WindowEvents:     cfg.hub.windowEvents,
			WindowBytes:      int64(cfg.hub.windowBytes),
			SubscriberBuffer: cfg.hub.subscriberBuffer,
			CatchUpReaders:   cfg.hub.catchUpReaders,
			WakeSpacing:      hubWakeSpacing(cfg.hub.wakeSpacing),
		},
	}
	ops.serverOptions(&cfg.ops, &opts)
	srv := server.New(b, opts)
	httpGW, err := startHTTPGateway(ctx, cfg.httpListen, srv, certs, log)
	if err != nil {
		_ = lis.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	go reloadOnHangup(reloadCtx, log, hup, ops.tokens, certs)
	log.Info("ktgrpc serving", append([]any{"listen", lis.Addr().String(), "http_listen", httpGW.addr(), "tls", cfg.tls.mode(), "backend", b.Name(), "version", versionString()}, ops.logAttrs()...)...)
	// A backend that is down at start is not fatal (it may come up, and the
	// health service says so meanwhile), but the person starting the gateway
	// must hear about it at the default log level.
	if err := srv.CheckHealth(ctx); err != nil && ctx.Err() == nil {
		log.Warn("backend is not answering; health reports NOT_SERVING until it does", "backend", b.Name(), "error", err)
	}

	var serveErr, httpErr error
	select {
	case <-ctx.Done():
		if d := cfg.ops.drainDelay; d > 0 {
			srv.Drain()
			log.Info("draining: readiness is NOT_SERVING", "delay", d)
			select {
			case <-time.After(d):
			case serveErr = <-served:
				served = nil
				log.Error("serving failed", "error", serveErr)
			}
		}
		log.Info("shutting down", "timeout", cfg.shutdownTimeout)
	case serveErr = <-served:
		// Serve only returns before Stop when the listener fails.
		served = nil
		log.Error("serving failed", "error", serveErr)
	case httpErr = <-httpGW.failures():
		log.Error("serving failed", "error", httpErr)
	}

	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	// The HTTP calls in progress end when Stop ends their gRPC calls.
	httpStopped := make(chan error, 1)
	go func() { httpStopped <- httpGW.shutdown(stopCtx) }()
	stopErr := srv.Stop(stopCtx)
	if err := <-httpStopped; err != nil && stopErr == nil {
		stopErr = err
	}
	if served != nil {
		serveErr = <-served
	}
	switch {
	case httpErr != nil:
		return httpErr
	case serveErr != nil && !errors.Is(serveErr, grpc.ErrServerStopped):
		return fmt.Errorf("serve on %s: %w", lis.Addr(), serveErr)
	case stopErr != nil:
		return fmt.Errorf("graceful stop did not finish within %v, so connections were closed: %w", cfg.shutdownTimeout, stopErr)
	}
	log.Info("stopped")
	return nil
}

// hubWakeSpacing maps the flag, where 0 means every change, to the hub's
// option, where 0 means its default and a negative value every change.
func hubWakeSpacing(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
