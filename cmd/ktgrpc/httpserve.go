package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ktgrpc/ktgrpc/server"
)

// httpGateway is the HTTP/JSON listener of serve: the same services, TLS
// and tokens as the gRPC one, on a port of its own.
//
// A port of its own rather than one port shared by content type: gRPC keeps
// its own HTTP/2 transport (keepalive enforcement, flow control, stream
// limits), which serving it through net/http would give up, and an operator
// can firewall or proxy the two differently.
type httpGateway struct {
	hs     *http.Server
	lis    net.Listener
	failed chan error
}

// startHTTPGateway listens on addr and serves srv's HTTP/JSON handler
// there, with TLS when certs is not nil. It returns nil when addr is empty.
func startHTTPGateway(ctx context.Context, addr string, srv *server.Server, certs *serverCerts, log *slog.Logger) (*httpGateway, error) {
	if addr == "" {
		return nil, nil
	}
	// Listening first means a busy address starts nothing to undo.
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (--http-listen): %w", addr, err)
	}
	h, err := srv.HTTPHandler()
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	g := &httpGateway{
		hs: &http.Server{
			Handler: h,
			// A client that never finishes its headers must not hold a
			// connection; bodies and answers have no bound, for streams.
			ReadHeaderTimeout: 30 * time.Second,
			// Idle keep-alive connections are closed after the same quiet
			// time after which gRPC pings a connection.
			IdleTimeout: server.DefaultKeepalive().Time,
			ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		lis:    lis,
		failed: make(chan error, 1),
	}
	if certs != nil {
		// The certificates and client CA last read, as for gRPC, with
		// HTTP/1.1 offered beside HTTP/2 for curl and nginx.
		g.hs.TLSConfig = &tls.Config{
			MinVersion: minTLSVersion,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				cfg := certs.cfg.Load().Clone()
				cfg.NextProtos = []string{"h2", "http/1.1"}
				return cfg, nil
			},
		}
	}
	go func() {
		var err error
		if certs != nil {
			err = g.hs.ServeTLS(lis, "", "")
		} else {
			err = g.hs.Serve(lis)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			g.failed <- fmt.Errorf("serve HTTP on %s: %w", lis.Addr(), err)
		}
	}()
	return g, nil
}

// addr is the bound address, for the startup line.
func (g *httpGateway) addr() string {
	if g == nil {
		return ""
	}
	return g.lis.Addr().String()
}

// failures reports an HTTP listener that stopped serving; nil never does.
func (g *httpGateway) failures() <-chan error {
	if g == nil {
		return nil
	}
	return g.failed
}

// shutdown stops accepting and waits for the calls in progress, which the
// gRPC server's Stop ends; when ctx ends first it closes every connection.
func (g *httpGateway) shutdown(ctx context.Context) error {
	if g == nil {
		return nil
	}
	if err := g.hs.Shutdown(ctx); err != nil {
		_ = g.hs.Close()
		return err
	}
	return nil
}
