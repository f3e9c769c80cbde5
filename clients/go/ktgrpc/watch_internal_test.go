package ktgrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRetryable covers the failures that the tests against a gateway cannot
// provoke, such as streams reset by a proxy, with the messages gRPC gives
// them.
func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "the gateway is shutting down; reconnect to continue"), true},
		{status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: connection refused\""), true},
		{status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"), true},
		{status.Error(codes.Internal, "server closed the stream without sending trailers"), true},
		{status.Error(codes.Canceled, "stream terminated by RST_STREAM with error code: CANCEL"), true},
		{status.Error(codes.Internal, "embedded: something broke"), false},
		{status.Error(codes.InvalidArgument, "progress_interval must be at least 10ms"), false},
		{status.Error(codes.NotFound, "update log position 5 is older than the retained log"), false},
		{status.Error(codes.Unimplemented, "unknown service ktgrpc.v1.Replication"), false},
		{status.Error(codes.PermissionDenied, "stream terminated by RST_STREAM"), false},
		{status.Error(codes.Canceled, "context canceled"), false},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false},
		{errors.New("not a status"), false},
	}
	for _, tc := range tests {
		for _, err := range []error{tc.err, wrapErr("Subscribe", tc.err), fmt.Errorf("outer: %w", wrapErr("Subscribe", tc.err))} {
			if got := retryable(err); got != tc.want {
				t.Errorf("retryable(%v) = %v, want %v", err, got, tc.want)
			}
		}
	}
}

func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Errorf("sleepCtx(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx with a cancelled context = %v, want context.Canceled", err)
	}
}
