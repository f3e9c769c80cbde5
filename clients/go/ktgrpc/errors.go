package ktgrpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
)

// Sentinel errors, matched with errors.Is. Every error a call returns for a
// gateway status is an *Error that matches the sentinel of its code and,
// where the gateway named a finer reason, the sentinel of that reason too
// (a CAS precondition that does not hold is both ErrPrecondition and
// ErrMismatch).
var (
	// ErrNotFound: the record or procedure does not exist. Get
	// also returns it for a missing key.
	ErrNotFound = errors.New("ktgrpc: not found")
	// ErrExists: the thing to create already exists.
	ErrExists = errors.New("ktgrpc: already exists")
	// ErrPrecondition: the stored state does not allow the operation, for
	// example incrementing a value that is not a number.
	ErrPrecondition = errors.New("ktgrpc: failed precondition")
	// ErrMismatch: a precondition the caller stated does not hold (a
	// FAILED_PRECONDITION with reason MISMATCH).
	ErrMismatch = errors.New("ktgrpc: mismatch")
	// ErrIncompatible: the stored value cannot take the operation, such as
	// incrementing a value that is not a number (a FAILED_PRECONDITION with
	// reason INCOMPATIBLE_VALUE).
	ErrIncompatible = errors.New("ktgrpc: incompatible value")
	// ErrInvalid: the gateway rejected the request as malformed; the
	// message says what to fix, and FieldViolations which field.
	ErrInvalid = errors.New("ktgrpc: invalid argument")
	// ErrUnsupported: the backend or database cannot do the operation.
	ErrUnsupported = errors.New("ktgrpc: unsupported")
	// ErrCapabilityMissing: the backend lacks a capability the call needs
	// (an UNIMPLEMENTED with reason CAPABILITY_MISSING); Error.Metadata
	// names it under "capability", and Admin.Capabilities lists what the
	// backend offers.
	ErrCapabilityMissing = errors.New("ktgrpc: capability missing")
	// ErrUnavailable: the gateway or its backend cannot be reached, or the
	// gateway is shutting down; retry later, and resume a subscription.
	ErrUnavailable = errors.New("ktgrpc: unavailable")
	// ErrShuttingDown: the gateway is stopping (an UNAVAILABLE with reason
	// SHUTTING_DOWN); reconnect, to it or another gateway.
	ErrShuttingDown = errors.New("ktgrpc: gateway shutting down")
	// ErrOutOfRange: a subscription asked to resume from a position older
	// than the backend's retained log; the message names the oldest
	// position available.
	ErrOutOfRange = errors.New("ktgrpc: out of range")
	// ErrExhausted: a limit of the gateway was reached, such as a
	// subscription that read too slowly; the message says how to go on.
	ErrExhausted = errors.New("ktgrpc: resource exhausted")
	// ErrUnauthenticated: the call carried no credential the gateway
	// accepts.
	ErrUnauthenticated = errors.New("ktgrpc: unauthenticated")
	// ErrPermissionDenied: the caller lacks a right the call needs, or the
	// gateway is read-only.
	ErrPermissionDenied = errors.New("ktgrpc: permission denied")
	// ErrInternal: the gateway or its backend failed.
	ErrInternal = errors.New("ktgrpc: internal error")
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
	case codes.Unauthenticated:
		return ErrUnauthenticated
	case codes.PermissionDenied:
		return ErrPermissionDenied
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return ErrInternal
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	return nil
}

// reasonError returns the finer error an *Error with reason r also
// matches, or nil.
func reasonError(r Reason) error {
	switch r {
	case rpctypes.ReasonMismatch:
		return ErrMismatch
	case rpctypes.ReasonIncompatibleValue:
		return ErrIncompatible
	case rpctypes.ReasonCapabilityMissing:
		return ErrCapabilityMissing
	case rpctypes.ReasonShuttingDown:
		return ErrShuttingDown
	}
	return nil
}

// Reason is the machine-readable reason of a gateway status; see the
// rpctypes package for the reasons and what each means.
type Reason = rpctypes.Reason

// FieldViolation is one invalid request field of an INVALID_ARGUMENT
// status.
type FieldViolation = rpctypes.FieldViolation

// Error is a gateway status returned by a call. It matches the sentinel of
// its code with errors.Is (ErrNotFound for NotFound, context.Canceled for
// Canceled, ...) and that of its reason where there is one (ErrMismatch,
// ErrCapabilityMissing, ...), and keeps the status for status.FromError.
type Error struct {
	// Op names the call, such as "Get".
	Op string
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the gateway's explanation.
	Message string
	// Reason is the machine-readable reason: the gateway's ErrorInfo, or
	// the code's default reason when the status carried none.
	Reason Reason
	// Metadata is the ErrorInfo's metadata, such as the "capability" a
	// CAPABILITY_MISSING names; nil when there is none.
	Metadata map[string]string
	// FieldViolations name the invalid request fields of an
	// INVALID_ARGUMENT.
	FieldViolations []FieldViolation

	st *status.Status
}

// Error formats the error as "ktgrpc: Op: Code: Message".
func (e *Error) Error() string {
	return fmt.Sprintf("ktgrpc: %s: %s: %s", e.Op, e.Code, e.Message)
}

// Is reports whether target is the sentinel of e's code or of its reason.
func (e *Error) Is(target error) bool {
	if s := codeError(e.Code); s != nil && s == target {
		return true
	}
	s := reasonError(e.Reason)
	return s != nil && s == target
}

// GRPCStatus returns the status the gateway sent.
func (e *Error) GRPCStatus() *status.Status { return e.st }

// ReasonOf returns the reason of an error a call returned: the gateway's
// reason for an *Error, ReasonNotFound for Get's missing key, the status's
// reason for any other status error, and "" for nil or an error that is not
// the gateway's answer (a context error before sending, say).
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if errors.Is(err, ErrNotFound) {
		return rpctypes.ReasonNotFound
	}
	return rpctypes.ReasonOf(err)
}

// wrapErr turns an error from a generated client into an *Error.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("ktgrpc: %s: %w", op, err)
	}
	return &Error{
		Op:              op,
		Code:            st.Code(),
		Message:         st.Message(),
		Reason:          rpctypes.ReasonOf(err),
		Metadata:        rpctypes.Metadata(err),
		FieldViolations: rpctypes.FieldViolations(err),
		st:              st,
	}
}

// notFound is Get's error for a missing key.
func notFound(op, key string) error {
	return fmt.Errorf("ktgrpc: %s %q: %w", op, key, ErrNotFound)
}
