package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
)

// errorReasons maps the backend's sentinel errors to the error contract's
// reasons, whose codes rpctypes holds. The first match wins, so an error
// that wraps two sentinels gets the earlier reason.
//
// ErrMismatch is FailedPrecondition rather than Aborted: a precondition the
// caller stated does not hold, and retrying the same request will not help
// until the caller re-reads the state (the gRPC guide reserves Aborted for
// conflicts that a retry of the whole read-modify-write may resolve).
func errorReasons() []struct {
	err    error
	reason rpctypes.Reason
} {
	return []struct {
		err    error
		reason rpctypes.Reason
	}{
		{backend.ErrOutOfRange, rpctypes.ReasonPositionUnavailable},
		{backend.ErrExhausted, rpctypes.ReasonLimitExceeded},
		{backend.ErrNotFound, rpctypes.ReasonNotFound},
		{backend.ErrExists, rpctypes.ReasonAlreadyExists},
		{backend.ErrMismatch, rpctypes.ReasonMismatch},
		{backend.ErrIncompatible, rpctypes.ReasonIncompatibleValue},
		{backend.ErrUnsupported, rpctypes.ReasonUnsupported},
		{backend.ErrInvalid, rpctypes.ReasonInvalidArgument},
		{backend.ErrUnavailable, rpctypes.ReasonBackendUnavailable},
		{backend.ErrTimeout, rpctypes.ReasonBackendTimeout},
		{backend.ErrFailed, rpctypes.ReasonBackendFailure},
		{context.DeadlineExceeded, rpctypes.ReasonDeadlineExceeded},
		{context.Canceled, rpctypes.ReasonCanceled},
	}
}

// toStatus turns an error from the backend into a gRPC status error with
// its reason in an ErrorInfo. The message is the error's own text, which
// names the backend and operation. A missing capability carries the
// capability, backend and call as metadata. A status error passes through
// unchanged; anything unclassified is Internal.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var ue *backend.UnsupportedError
	if errors.As(err, &ue) {
		return rpctypes.New(rpctypes.ReasonCapabilityMissing, err.Error(),
			rpctypes.MetaCapability, string(ue.Capability),
			rpctypes.MetaBackend, ue.Backend,
			rpctypes.MetaCall, ue.Call).Err()
	}
	for _, m := range errorReasons() {
		if errors.Is(err, m.err) {
			return rpctypes.New(m.reason, err.Error()).Err()
		}
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Err()
	}
	return rpctypes.New(rpctypes.ReasonInternal, err.Error()).Err()
}

// streamError maps the error that ended a streaming handler. When the server's
// stop ended the stream, the client learns that with Unavailable, the code
// that tells it to reconnect (and, for Subscribe, to resume).
func streamError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errShuttingDown) {
		return rpctypes.New(rpctypes.ReasonShuttingDown, errShuttingDown.Error()+"; reconnect to continue").Err()
	}
	return toStatus(err)
}

// invalidf is an InvalidArgument status about the request as a whole; use
// invalidField when one field is at fault.
func invalidf(format string, args ...any) error {
	return rpctypes.New(rpctypes.ReasonInvalidArgument, fmt.Sprintf(format, args...)).Err()
}

// invalidField is an InvalidArgument status whose BadRequest detail names
// field, the path of the request field at fault ("key",
// "conditions[2].column").
func invalidField(field, format string, args ...any) error {
	return rpctypes.InvalidField(field, fmt.Sprintf(format, args...)).Err()
}

// limitExceeded is a ResourceExhausted status naming the gateway's limit
// as its flag is spelled.
func limitExceeded(limit, format string, args ...any) error {
	return rpctypes.New(rpctypes.ReasonLimitExceeded, fmt.Sprintf(format, args...), rpctypes.MetaLimit, limit).Err()
}

// feature returns the backend as the feature interface T when it lists
// capability c, or else the UNIMPLEMENTED status naming c, the backend and
// call. It is the one way a service reaches a feature beyond the core.
func feature[T any](s *Server, c backend.Capability, call string) (T, error) {
	if f, ok := s.b.(T); ok && s.caps[c] {
		return f, nil
	}
	f, err := backend.Use[T](s.b, c, call)
	if err != nil {
		return f, toStatus(err)
	}
	return f, nil
}

// require is feature for a capability that is an option of a core call:
// nil when the backend lists c, else the UNIMPLEMENTED status.
func (s *Server) require(c backend.Capability, call string) error {
	_, err := feature[backend.Backend](s, c, call)
	return err
}

// withErrorInfo gives a status that names no reason its code's default
// reason, so that every status the gateway sends carries an ErrorInfo.
func withErrorInfo(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	if st.Code() == codes.OK {
		return err
	}
	return rpctypes.WithDefaultInfo(st).Err()
}

// unaryErrorInfo applies withErrorInfo to unary calls.
func unaryErrorInfo(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, withErrorInfo(err)
}

// streamErrorInfo applies withErrorInfo to streams.
func streamErrorInfo(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return withErrorInfo(handler(srv, ss))
}

// capabilitySet is what b offers, as a set.
func capabilitySet(b backend.Backend) map[backend.Capability]bool {
	set := map[backend.Capability]bool{}
	if b == nil {
		return set
	}
	for _, c := range b.Capabilities() {
		set[c] = true
	}
	return set
}
