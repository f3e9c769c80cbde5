package ktgrpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors, matched with errors.Is. Every error a call returns for a
// gateway status is an *Error that matches the sentinel of its code.
var (
	// ErrNotFound: the record or procedure does not exist. Get
	// also returns it for a missing key.
	ErrNotFound = errors.New("ktgrpc: not found")
	// ErrExists: the thing to create already exists.
	ErrExists = errors.New("ktgrpc: already exists")
	// ErrPrecondition: the stored state does not allow the operation, for
	// example incrementing a value that is not a number.
	ErrPrecondition = errors.New("ktgrpc: failed precondition")
	// ErrInvalid: the gateway rejected the request as malformed; the
	// message says what to fix.
	ErrInvalid = errors.New("ktgrpc: invalid argument")
	// ErrUnsupported: the backend or database cannot do the operation.
	ErrUnsupported = errors.New("ktgrpc: unsupported")
	// ErrUnavailable: the gateway or its backend cannot be reached, or the
	// gateway is shutting down; retry later, and resume a subscription.
	ErrUnavailable = errors.New("ktgrpc: unavailable")
	// ErrOutOfRange: a subscription asked to resume from a position older
	// than the backend's retained log; the message names the oldest
	// position available.
	ErrOutOfRange = errors.New("ktgrpc: out of range")
	// ErrExhausted: the gateway ended a subscription that read too slowly;
	// the message names the position to resume after.
	ErrExhausted = errors.New("ktgrpc: resource exhausted")
)

// codeError returns the error an *Error with code c matches, or nil.
func codeError(c codes.Code) error {
	switch c {
	case codes.NotFound:
		return ErrNotFound
	case codes.AlreadyExists:
		return ErrExists
	case codes.FailedPrecondition:
		return ErrPrecondition
	case codes.InvalidArgument:
		return ErrInvalid
	case codes.Unimplemented:
		return ErrUnsupported
	case codes.Unavailable:
		return ErrUnavailable
	case codes.OutOfRange:
		return ErrOutOfRange
	case codes.ResourceExhausted:
		return ErrExhausted
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	return nil
}

// Error is a gateway status returned by a call. It matches the sentinel of
// its code with errors.Is (ErrNotFound for NotFound, context.Canceled for
// Canceled, ...) and keeps the status for status.FromError.
type Error struct {
	// Op names the call, such as "Get".
	Op string
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the gateway's explanation.
	Message string

	st *status.Status
}

// Error formats the error as "ktgrpc: Op: Code: Message".
func (e *Error) Error() string {
	return fmt.Sprintf("ktgrpc: %s: %s: %s", e.Op, e.Code, e.Message)
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s := codeError(e.Code)
	return s != nil && s == target
}

// GRPCStatus returns the status the gateway sent.
func (e *Error) GRPCStatus() *status.Status { return e.st }

// wrapErr turns an error from a generated client into an *Error.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("ktgrpc: %s: %w", op, err)
	}
	return &Error{Op: op, Code: st.Code(), Message: st.Message(), st: st}
}

// notFound is Get's error for a missing key.
func notFound(op, key string) error {
	return fmt.Errorf("ktgrpc: %s %q: %w", op, key, ErrNotFound)
}
