// Package gatewaytest runs the gRPC gateway on a loopback listener for tests,
// in the style of net/http/httptest.
package gatewaytest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/server"
)

// stopTimeout bounds the graceful stop at cleanup; a server whose streams do
// not end by then is stopped hard so that a broken test cannot hang the run.
const stopTimeout = 10 * time.Second

// Start serves b with default options on 127.0.0.1 and returns a client
// connection to it. The connection is closed and the server stopped when the
// test ends; b itself stays open and belongs to the caller.
func Start(t testing.TB, b backend.Backend) *grpc.ClientConn {
	t.Helper()
	_, conn := StartServer(t, b, server.Options{})
	return conn
}

// StartServer is Start with options, also returning the server for tests that
// stop it or trigger its health check themselves.
func StartServer(t testing.TB, b backend.Backend, opts server.Options) (*server.Server, *grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gatewaytest: listen on loopback: %v", err)
	}
	srv := server.New(b, opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	maxMsg := srv.MaxMessageSize()
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
	)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		_ = srv.Stop(ctx)
		t.Fatalf("gatewaytest: dial %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("gatewaytest: close client connection: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("gatewaytest: stop server: %v", err)
		}
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("gatewaytest: serve: %v", err)
		}
	})
	return srv, conn
}
