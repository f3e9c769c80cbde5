package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// unorderedScans is an embedded store whose scans say they walked in the
// backend's own order, as a KT hash database's do.
type unorderedScans struct{ backend.Backend }

func (u unorderedScans) Scan(ctx context.Context, db string, opts backend.ScanOptions, fn func([]backend.Record) error) error {
	if err := u.Backend.Scan(ctx, db, opts, fn); err != nil {
		return &backend.UnorderedScanError{Err: err}
	}
	return nil
}

// A stalled scan of an unordered database offers no resume key: the keys
// after the last one sent are not the records the walk had left.
func TestStalledUnorderedScanOffersNoResumeKey(t *testing.T) {
	s := newStore(t)
	value := []byte(strings.Repeat("v", 1024))
	for i := range 3000 {
		if err := s.Set(t.Context(), "", fmt.Appendf(nil, "k%05d", i), value, backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ended := &codeLogged{code: codes.ResourceExhausted.String(), seen: make(chan struct{})}
	_, conn := gatewaytest.StartServer(t, unorderedScans{s}, server.Options{HealthInterval: quiet.HealthInterval,
		StallTimeout: 100 * time.Millisecond, Logger: slog.New(ended)})
	stream, err := ktgrpcv1.NewCursorClient(conn).Scan(t.Context(), &ktgrpcv1.ScanRequest{BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not end the scan of a client that stopped reading")
	}
	for err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "a scan cannot resume after the last key sent: repeat the same request")
	if k := stream.Trailer().Get("resume-start-key-bin"); len(k) != 0 {
		t.Errorf("resume-start-key-bin = %q on an unordered scan", k)
	}
}
