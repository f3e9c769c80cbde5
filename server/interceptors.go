package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The call log writes one line per finished call ("finished call", with the
// fields of go-grpc-middleware's logging interceptor, which it replaces):
// one line per call keeps the log readable under load, and payloads are
// never logged because they are user data. It is written here because the
// middleware builds every field of the line (peer address, start time,
// service and method) before it knows the call's level, and successful
// calls, logged at debug, are almost always below the logger's level: that
// work was a quarter of the gateway's CPU time for a Get. Here a call whose
// level the logger does not log costs a clock read and a level check.

// callLog is one call's log line in the making.
type callLog struct {
	l        *slog.Logger
	method   string // the full method, /package.Service/Method
	typ      string // unary, client_stream, server_stream or bidi_stream
	start    time.Time
	deadline time.Time
}

// finish logs the call's line if the logger takes its level.
func (c *callLog) finish(ctx context.Context, err error) {
	if errors.Is(err, io.EOF) {
		err = nil
	}
	code := status.Code(err)
	level := callLevel(code)
	if !c.l.Enabled(ctx, level) {
		return
	}
	service, method := c.method, ""
	if i := strings.LastIndexByte(c.method, '/'); i >= 0 {
		service, method = strings.TrimPrefix(c.method[:i], "/"), c.method[i+1:]
	}
	attrs := make([]slog.Attr, 0, 14)
	if slot, ok := ctx.Value(callerSlotKey{}).(*callerSlot); ok {
		if name := slot.name.Load(); name != nil {
			attrs = append(attrs, slog.String("caller", *name))
		}
	}
	attrs = append(attrs,
		slog.String("protocol", "grpc"),
		slog.String("grpc.component", "server"),
		slog.String("grpc.service", service),
		slog.String("grpc.method", method),
		slog.String("grpc.method_type", c.typ),
	)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	attrs = append(attrs, slog.String("grpc.start_time", c.start.Format(time.RFC3339)))
	if !c.deadline.IsZero() {
		attrs = append(attrs, slog.String("grpc.request.deadline", c.deadline.Format(time.RFC3339)))
	}
	attrs = append(attrs, slog.String("grpc.code", code.String()))
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	ms := float64(time.Since(c.start).Microseconds()) / 1000
	attrs = append(attrs, slog.String("grpc.time_ms", strconv.FormatFloat(ms, 'f', -1, 64)))
	c.l.LogAttrs(ctx, level, "finished call", attrs...)
}

func newCallLog(ctx context.Context, l *slog.Logger, method, typ string) *callLog {
	c := &callLog{l: l, method: method, typ: typ, start: time.Now()}
	c.deadline, _ = ctx.Deadline()
	return c
}

// unaryLogging logs each unary call when it finishes.
func unaryLogging(l *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c := newCallLog(ctx, l, info.FullMethod, "unary")
		resp, err := handler(ctx, req)
		c.finish(ctx, err)
		return resp, err
	}
}

// streamLogging logs each streaming call when it finishes.
func streamLogging(l *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		typ := "bidi_stream"
		switch {
		case info.IsClientStream && !info.IsServerStream:
			typ = "client_stream"
		case info.IsServerStream && !info.IsClientStream:
			typ = "server_stream"
		}
		c := newCallLog(ss.Context(), l, info.FullMethod, typ)
		err := handler(srv, ss)
		c.finish(ss.Context(), err)
		return err
	}
}

// callerSlot carries the authenticated caller's name out to the call log:
// the log interceptor runs outside authentication, so it only sees what
// authentication records in a slot placed in the context before both.
type callerSlot struct{ name atomic.Pointer[string] }

type callerSlotKey struct{}

// recordCaller notes the caller's name for the call log, when the call has
// a slot for it.
func recordCaller(ctx context.Context, name string) {
	if slot, ok := ctx.Value(callerSlotKey{}).(*callerSlot); ok {
		slot.name.Store(&name)
	}
}

func unaryCallerSlot(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(context.WithValue(ctx, callerSlotKey{}, &callerSlot{}), req)
}

func streamCallerSlot(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = context.WithValue(ss.Context(), callerSlotKey{}, &callerSlot{})
	return handler(srv, w)
}

// callLevel keeps successful calls at debug so that the default info level
// shows only what someone may need to act on: the caller's mistakes at info,
// a backend in trouble at warn, and the gateway's own faults at error.
func callLevel(code codes.Code) slog.Level {
	switch code {
	case codes.OK:
		return slog.LevelDebug
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return slog.LevelWarn
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// recoveryHandler turns a panic into Internal without taking the process
// down, logging the stack so that the bug can be found.
func recoveryHandler(l *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		l.ErrorContext(ctx, "panic in gRPC handler", "panic", p, "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "internal error: %v", p)
	}
}

func unaryRecovery(l *slog.Logger) grpc.UnaryServerInterceptor {
	return recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(recoveryHandler(l)))
}

func streamRecovery(l *slog.Logger) grpc.StreamServerInterceptor {
	return recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(recoveryHandler(l)))
}
