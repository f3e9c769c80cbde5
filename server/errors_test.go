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

// TestToStatus checks that every backend error kind reaches the client with
// its code, its own text, and its reason in an ErrorInfo of the gateway's
// domain.
func TestToStatus(t *testing.T) {
	tests := []struct {
		err    error
		want   codes.Code
		reason rpctypes.Reason
	}{
		{backend.ErrOutOfRange, codes.OutOfRange, rpctypes.ReasonPositionUnavailable},
		{backend.ErrExhausted, codes.ResourceExhausted, rpctypes.ReasonLimitExceeded},
		{backend.ErrNotFound, codes.NotFound, rpctypes.ReasonNotFound},
		{backend.ErrExists, codes.AlreadyExists, rpctypes.ReasonAlreadyExists},
		{backend.ErrMismatch, codes.FailedPrecondition, rpctypes.ReasonMismatch},
		{backend.ErrIncompatible, codes.FailedPrecondition, rpctypes.ReasonIncompatibleValue},
		{backend.ErrUnsupported, codes.Unimplemented, rpctypes.ReasonUnsupported},
		{backend.ErrInvalid, codes.InvalidArgument, rpctypes.ReasonInvalidArgument},
		{backend.ErrUnavailable, codes.Unavailable, rpctypes.ReasonBackendUnavailable},
		{backend.ErrTimeout, codes.DeadlineExceeded, rpctypes.ReasonBackendTimeout},
		{backend.ErrFailed, codes.Internal, rpctypes.ReasonBackendFailure},
		{context.DeadlineExceeded, codes.DeadlineExceeded, rpctypes.ReasonDeadlineExceeded},
		{context.Canceled, codes.Canceled, rpctypes.ReasonCanceled},
		{errors.New("something else"), codes.Internal, rpctypes.ReasonInternal},
		{&backend.UnsupportedError{Backend: "b", Capability: backend.CapTables, Call: "Table.Get"}, codes.Unimplemented, rpctypes.ReasonCapabilityMissing},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("kt://127.0.0.1:1978: increment %q: %w", "k", tt.err)
		err := toStatus(wrapped)
		st := status.Convert(err)
		if st.Code() != tt.want {
			t.Errorf("toStatus(%v) code = %v, want %v", wrapped, st.Code(), tt.want)
		}
		if st.Message() != wrapped.Error() {
			t.Errorf("toStatus(%v) message = %q, want the error text", wrapped, st.Message())
		}
		ei := rpctypes.ErrorInfo(err)
		if ei == nil || ei.GetDomain() != rpctypes.Domain || rpctypes.Reason(ei.GetReason()) != tt.reason {
			t.Errorf("toStatus(%v): ErrorInfo %v, want reason %s in %s", wrapped, ei, tt.reason, rpctypes.Domain)
		}
		if tt.reason.Code() != tt.want {
			t.Errorf("reason %s has code %v, but %v is sent with it", tt.reason, tt.reason.Code(), tt.want)
		}
	}
	md := rpctypes.Metadata(toStatus(backend.Unsupported(&namedBackend{}, backend.CapTables, "Table.Get")))
	if md[rpctypes.MetaCapability] != "tables" || md[rpctypes.MetaCall] != "Table.Get" || md[rpctypes.MetaBackend] != "named://b" {
		t.Errorf("metadata of a missing capability = %v", md)
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
