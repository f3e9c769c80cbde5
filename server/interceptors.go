package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// interceptorLogger adapts slog to the logging middleware; the middleware's
// levels are slog's.
func interceptorLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// One line per finished call keeps the log readable under load; payloads are
// never logged because they are user data.
func unaryLogging(l logging.Logger) grpc.UnaryServerInterceptor {
	return logging.UnaryServerInterceptor(l, logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(callLevel),
		logging.WithFieldsFromContextAndCallMeta(callerField))
}

func streamLogging(l logging.Logger) grpc.StreamServerInterceptor {
	return logging.StreamServerInterceptor(l, logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(callLevel),
		logging.WithFieldsFromContextAndCallMeta(callerField))
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

// callerField adds the caller to the call's log line once known.
func callerField(ctx context.Context, _ interceptors.CallMeta) logging.Fields {
	slot, ok := ctx.Value(callerSlotKey{}).(*callerSlot)
	if !ok {
		return nil
	}
	if name := slot.name.Load(); name != nil {
		return logging.Fields{"caller", *name}
	}
	return nil
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
func callLevel(code codes.Code) logging.Level {
	switch code {
	case codes.OK:
		return logging.LevelDebug
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return logging.LevelWarn
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return logging.LevelError
	default:
		return logging.LevelInfo
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
