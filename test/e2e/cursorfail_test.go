package e2e

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/kt"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func openURL(t *testing.T, raw string) backend.Backend {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var b backend.Backend
	switch u.Scheme {
	case "kt":
		b, err = kt.Open(context.Background(), u)
	case "tt":
		b, err = tt.Open(context.Background(), u)
	default:
		b, err = embedded.Open(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestCursorOpenFailures opens a cursor that cannot be opened, on every
// backend, through the gateway: the stream must end with the failure's
// status and a message naming it, never INTERNAL from a panic.
func TestCursorOpenFailures(t *testing.T) {
	cases := []struct {
		name    string
		backend func(t *testing.T) backend.Backend
		db      string
		code    codes.Code
		msg     string
	}{
		{"kt unknown db", func(t *testing.T) backend.Backend {
			return openURL(t, "kt://"+kttest.Start(t).Addr())
		}, "nosuchdb", codes.InvalidArgument, "nosuchdb"},
		{"kt down", func(t *testing.T) backend.Backend {
			return openURL(t, "kt://"+deadAddr(t)+"?timeout=5s")
		}, "", codes.Unavailable, "refused"},
		{"tt unknown db", func(t *testing.T) backend.Backend {
			return openURL(t, "tt://"+tttest.Start(t, tttest.WithConfig("tt-btree")).Addr())
		}, "7", codes.InvalidArgument, "one database per server"},
		{"tt down", func(t *testing.T) backend.Backend {
			return openURL(t, "tt://"+deadAddr(t)+"?timeout=5s")
		}, "", codes.Unavailable, "refused"},
		{"real kt unknown db", func(t *testing.T) backend.Backend {
			return openURL(t, "kt://"+envAddr(t, "KT_ADDR"))
		}, "nosuchdb", codes.InvalidArgument, "nosuchdb"},
		{"real tt unknown db", func(t *testing.T) backend.Backend {
			return openURL(t, "tt://"+envAddr(t, "TT_ADDR"))
		}, "7", codes.InvalidArgument, "one database per server"},
		{"embedded unknown db", func(t *testing.T) backend.Backend {
			return openURL(t, "embedded:")
		}, "nosuchdb", codes.InvalidArgument, "nosuchdb"},
		{"embedded closed", func(t *testing.T) backend.Backend {
			b := openURL(t, "embedded:")
			_ = b.Close()
			return b
		}, "", codes.Unavailable, "closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := gatewaytest.Start(t, tc.backend(t))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s, err := ktgrpcv1.NewCursorClient(conn).Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&ktgrpcv1.OpenRequest{Db: tc.db, Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP}); err != nil {
				t.Fatal(err)
			}
			_, err = s.Recv()
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("Cursor.Open: got %v %q, want %v mentioning %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}
}

// TestKTOpenCursorFailureIsNilInterface checks the adapter itself: a failed
// OpenCursor must return a nil interface, whatever made it fail.
func TestKTOpenCursorFailureIsNilInterface(t *testing.T) {
	live := openURL(t, "kt://"+kttest.Start(t).Addr())
	down := openURL(t, "kt://"+deadAddr(t))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		b    backend.Backend
		ctx  context.Context
		db   string
	}{
		{"unknown db", live, context.Background(), "nosuchdb"},
		{"down", down, context.Background(), ""},
		{"cancelled", live, cancelled, ""},
	} {
		cur, err := tc.b.OpenCursor(tc.ctx, tc.db)
		if err == nil || cur != nil {
			t.Errorf("%s: OpenCursor = %v, %v; want a nil cursor and an error", tc.name, cur, err)
		}
	}
}
