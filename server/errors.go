package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
)

// errorCodes maps the backend's sentinel errors to status codes. The first
// match wins, so an error that wraps two sentinels gets the earlier code.
//
// ErrMismatch maps to FailedPrecondition rather than Aborted: a precondition
// the caller stated does not hold, and retrying the same request will not
// help until the caller re-reads the state (the gRPC guide reserves Aborted
// for conflicts that a retry of the whole read-modify-write may resolve).
func errorCodes() []struct {
	err  error
	code codes.Code
} {
	return []struct {
		err  error
		code codes.Code
	}{
		{backend.ErrOutOfRange, codes.OutOfRange},
		{backend.ErrExhausted, codes.ResourceExhausted},
		{backend.ErrNotFound, codes.NotFound},
		{backend.ErrExists, codes.AlreadyExists},
		{backend.ErrMismatch, codes.FailedPrecondition},
		{backend.ErrIncompatible, codes.FailedPrecondition},
		{backend.ErrUnsupported, codes.Unimplemented},
		{backend.ErrInvalid, codes.InvalidArgument},
		{backend.ErrUnavailable, codes.Unavailable},
		{backend.ErrTimeout, codes.DeadlineExceeded},
		{backend.ErrFailed, codes.Internal},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
	}
}

// toStatus turns an error from the backend into a gRPC status error. The
// message is the error's own text, which names the backend and operation. A
// status error passes through unchanged; anything unclassified is Internal.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range errorCodes() {
		if errors.Is(err, m.err) {
			return status.Error(m.code, err.Error())
		}
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// streamError maps the error that ended a streaming handler. When the server's
// stop ended the stream, the client learns that with Unavailable, the code
// that tells it to reconnect (and, for Subscribe, to resume).
func streamError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errShuttingDown) {
		return status.Error(codes.Unavailable, errShuttingDown.Error()+"; reconnect to continue")
	}
	return toStatus(err)
}

// invalidf is a shorthand for an InvalidArgument status.
func invalidf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
