package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
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
