package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
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
		{backend.ErrExhausted, codes.ResourceExhausted},
		{backend.ErrFailed, codes.Internal},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{errors.New("something else"), codes.Internal},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("kt://127.0.0.1:1978: increment %q: %w", "k", tt.err)
		st := status.Convert(toStatus(wrapped))
		if st.Code() != tt.want {
			t.Errorf("toStatus(%v) code = %v, want %v", wrapped, st.Code(), tt.want)
		}
		if st.Message() != wrapped.Error() {
			t.Errorf("toStatus(%v) message = %q, want the error text", wrapped, st.Message())
		}
	}
}

func TestToStatusPassesStatusThrough(t *testing.T) {
	in := status.Error(codes.ResourceExhausted, "too big")
	st := status.Convert(toStatus(fmt.Errorf("sending: %w", in)))
	if st.Code() != codes.ResourceExhausted || st.Message() != "too big" {
		t.Fatalf("toStatus of a wrapped status = %v %q, want ResourceExhausted \"too big\"", st.Code(), st.Message())
	}
	if toStatus(nil) != nil {
		t.Fatal("toStatus(nil) != nil")
	}
}

func TestStreamErrorOnShutdown(t *testing.T) {
	s := New(nil, Options{})
	ctx, cancel := s.streamContext(context.Background())
	defer cancel()
	s.cancelClosing()
	<-ctx.Done()
	st := status.Convert(streamError(ctx, ctx.Err()))
	if st.Code() != codes.Unavailable {
		t.Fatalf("stream ended by shutdown: code %v (%q), want Unavailable", st.Code(), st.Message())
	}
}

// TestToStatusCarriesReason checks that every backend error kind reaches
// the client with its reason in an ErrorInfo of the gateway's domain, and
// that the reason's code is the status's code.
func TestToStatusCarriesReason(t *testing.T) {
	tests := []struct {
		err  error
		want rpctypes.Reason
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
		{errors.New("something else"), rpctypes.ReasonInternal},
		{&backend.UnsupportedError{Backend: "b", Capability: backend.CapTables, Call: "Table.Get"}, rpctypes.ReasonCapabilityMissing},
	}
	for _, tt := range tests {
		err := toStatus(fmt.Errorf("kt://127.0.0.1:1978: op: %w", tt.err))
		ei := rpctypes.ErrorInfo(err)
		if ei == nil || ei.GetDomain() != rpctypes.Domain || rpctypes.Reason(ei.GetReason()) != tt.want {
			t.Errorf("toStatus(%v): ErrorInfo %v, want reason %s in %s", tt.err, ei, tt.want, rpctypes.Domain)
			continue
		}
		if got := status.Code(err); got != tt.want.Code() {
			t.Errorf("toStatus(%v): code %v, but reason %s has code %v", tt.err, got, tt.want, tt.want.Code())
		}
	}
	md := rpctypes.Metadata(toStatus(backend.Unsupported(&namedBackend{}, backend.CapTables, "Table.Get")))
	if md[rpctypes.MetaCapability] != "tables" || md[rpctypes.MetaCall] != "Table.Get" || md[rpctypes.MetaBackend] != "named://b" {
		t.Errorf("metadata of a missing capability = %v", md)
	}
}

// namedBackend is a Backend with only a name, for messages.
type namedBackend struct{ backend.Backend }

func (namedBackend) Name() string { return "named://b" }

func TestWithErrorInfoKeepsAReasonAndAddsOne(t *testing.T) {
	named := rpctypes.New(rpctypes.ReasonMismatch, "m").Err()
	if got := withErrorInfo(named); rpctypes.ReasonOf(got) != rpctypes.ReasonMismatch || len(status.Convert(got).Details()) != 1 {
		t.Fatalf("withErrorInfo of a status with a reason = %v (%d details)", got, len(status.Convert(got).Details()))
	}
	bare := status.Error(codes.PermissionDenied, "no")
	got := withErrorInfo(bare)
	if ei := rpctypes.ErrorInfo(got); ei == nil || ei.GetReason() != string(rpctypes.ReasonPermissionDenied) {
		t.Fatalf("withErrorInfo of a bare status: ErrorInfo %v", ei)
	}
	if st := status.Convert(got); st.Code() != codes.PermissionDenied || st.Message() != "no" {
		t.Fatalf("withErrorInfo changed the status: %v", st)
	}
	if withErrorInfo(nil) != nil {
		t.Fatal("withErrorInfo(nil) != nil")
	}
}
