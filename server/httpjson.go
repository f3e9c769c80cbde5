package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	gatewayv1 "github.com/ktgrpc/ktgrpc/gen/gateway/ktgrpc/v1"
)

// HTTPHandler returns the HTTP/JSON face of the ktgrpc services: each RPC
// mapped in proto/http.yaml is a POST of its request as JSON to
// /v1/<service>/<method>, answered with the response as JSON, or for a
// server stream with one JSON object per line.
//
// Every HTTP call becomes a gRPC call to this server over an in-process
// connection, so that it passes through the same interceptors as any other:
// an "Authorization: Bearer" header is checked against the same tokens and
// rights, and limits, logs and metrics count it alike. An error answers with
// the HTTP status of its gRPC code and the gRPC status as the JSON body.
//
// The handler serves until Stop. TLS is the job of the http.Server that
// serves it.
func (s *Server) HTTPHandler() (http.Handler, error) {
	s.inprocOnce.Do(func() {
		s.inprocConn, s.inprocErr = s.startInproc()
	})
	if s.inprocErr != nil {
		return nil, s.inprocErr
	}
	if s.closing.Err() != nil {
		return nil, errors.New("the gateway has stopped")
	}
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithMetadata(clientCertMetadata),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				// Shell and Lua callers read a missing field as absent, not
				// as its zero value: say found=false and 0 outright (but
				// leave unset messages out rather than write null).
				MarshalOptions: protojson.MarshalOptions{EmitDefaultValues: true},
			},
		}),
	)
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gatewayv1.RegisterKVHandler,
		gatewayv1.RegisterCursorHandler,
		gatewayv1.RegisterScriptHandler,
		gatewayv1.RegisterTableHandler,
		gatewayv1.RegisterReplicationHandler,
		gatewayv1.RegisterAdminHandler,
	} {
		if err := register(ctx, mux, s.inprocConn); err != nil {
			return nil, fmt.Errorf("http/json gateway: %w", err)
		}
	}
	// JSON carries bytes as base64, a third larger than the message the
	// gRPC side accepts; anything longer is refused before it is read whole.
	return http.MaxBytesHandler(mux, int64(s.opts.MaxMessageSize)/3*4+4096), nil
}

// clientCertMD carries an HTTP caller's verified client certificate (DER)
// into the gRPC call, for the tokens file's x509: entries. Only the gateway
// sets it: headerMatcher drops a caller's own, and the server reads it only
// on the in-process connection.
const clientCertMD = "ktgrpc-http-client-cert-bin"

// headerMatcher forwards the headers grpc-gateway forwards by default, except
// one that would pass for the gateway's own client certificate metadata.
func headerMatcher(key string) (string, bool) {
	md, ok := runtime.DefaultHeaderMatcher(key)
	if ok && strings.EqualFold(md, clientCertMD) {
		return "", false
	}
	return md, ok
}

// clientCertMetadata passes on the HTTP caller's verified client
// certificate.
func clientCertMetadata(_ context.Context, r *http.Request) metadata.MD {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return metadata.Pairs(clientCertMD, string(r.TLS.VerifiedChains[0][0].Raw))
}

// inprocCertificate returns the client certificate the HTTP/JSON gateway
// forwarded with a call on the in-process connection.
func inprocCertificate(ctx context.Context) *x509.Certificate {
	vals := metadata.ValueFromIncomingContext(ctx, clientCertMD)
	if len(vals) != 1 {
		return nil
	}
	cert, err := x509.ParseCertificate([]byte(vals[0]))
	if err != nil {
		return nil
	}
	return cert
}

// startInproc serves the gRPC server on an in-memory listener and returns a
// connection to it.
func (s *Server) startInproc() (*grpc.ClientConn, error) {
	s.healthOnce.Do(func() { go s.watchHealth() })
	go func() { _ = s.grpc.Serve(s.inproc) }()
	return grpc.NewClient("passthrough:///ktgrpc-in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.inproc.dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(s.opts.MaxMessageSize),
			grpc.MaxCallSendMsgSize(s.opts.MaxMessageSize),
		),
	)
}

// inprocListener is a net.Listener whose connections are in-memory pipes
// dialled from within the process.
type inprocListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newInprocListener() *inprocListener {
	return &inprocListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// inprocConn marks the server side of an in-process connection, which
// skips the TLS handshake: it never leaves the process.
type inprocConn struct{ net.Conn }

// LocalAddr tells the server's connection hooks this is the in-process one.
func (*inprocConn) LocalAddr() net.Addr { return inprocAddr{} }

// RemoteAddr names the HTTP/JSON gateway as the peer.
func (*inprocConn) RemoteAddr() net.Addr { return inprocAddr{} }

type inprocAddr struct{}

func (inprocAddr) Network() string { return "inproc" }
func (inprocAddr) String() string  { return "http-json-gateway" }

var errInprocClosed = errors.New("in-process listener closed")

func (l *inprocListener) dial(ctx context.Context) (net.Conn, error) {
	client, srv := net.Pipe()
	select {
	case l.conns <- &inprocConn{srv}:
		return client, nil
	case <-l.closed:
		return nil, errInprocClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Accept waits for the next in-process connection.
func (l *inprocListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, errInprocClosed
	}
}

// Close stops Accept and dial.
func (l *inprocListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr names the listener in logs.
func (l *inprocListener) Addr() net.Addr { return inprocAddr{} }

// inprocCreds are the server's transport credentials, except for
// in-process connections, which have no handshake to make.
type inprocCreds struct {
	credentials.TransportCredentials
}

// inprocAuthInfo is what an in-process connection authenticates as: the
// caller's credentials travel with each call.
type inprocAuthInfo struct{ credentials.CommonAuthInfo }

// AuthType names the kind of connection.
func (inprocAuthInfo) AuthType() string { return "inproc" }

// ServerHandshake makes the TLS handshake, except on in-process connections.
func (c inprocCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(*inprocConn); ok {
		return conn, inprocAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

// Clone copies the credentials.
func (c inprocCreds) Clone() credentials.TransportCredentials {
	return inprocCreds{c.TransportCredentials.Clone()}
}
