package tt_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// conformance is one database type of the suite: the tttest configuration,
// the variable naming a real server of that type, and what it supports.
var conformance = []struct {
	config, env string
	caps        backendtest.Capabilities
}{
	{"tt-hash", "TT_ADDR", backendtest.Capabilities{Family: backendtest.TT, KeepLast: true, Subscribe: true, EchoScript: "echo"}},
	{"tt-btree", "TT_BTREE_ADDR", backendtest.Capabilities{Family: backendtest.TT, Ordered: true, Cursor: true, KeepLast: true, Subscribe: true, EchoScript: "echo"}},
	{"tt-table", "TT_TABLE_ADDR", backendtest.Capabilities{Family: backendtest.TT, Table: true}},
}

// openTT returns a function that opens an adapter on addr for each test.
func openTT(addr string) backendtest.Open {
	return func(t *testing.T) backend.Backend {
		u, err := url.Parse("tt://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tt.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
}

// rawPut stores a record on the server at addr with a put of its own, as
// another client would, bypassing the adapter's checks.
func rawPut(addr string) func(ctx context.Context, key, value []byte) (bool, error) {
	return func(ctx context.Context, key, value []byte) (bool, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, err
		}
		defer c.Close()
		req, err := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdPut, Key: key, Value: value})
		if err != nil {
			return false, err
		}
		if _, err := c.Write(req); err != nil {
			return false, err
		}
		var status [1]byte
		if _, err := io.ReadFull(c, status[:]); err != nil {
			return false, err
		}
		return status[0] == 0, nil
	}
}

func TestConformance(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.config, func(t *testing.T) {
			t.Run("tttest", func(t *testing.T) {
				srv := tttest.Start(t, tttest.WithConfig(c.config))
				caps := c.caps
				caps.RawPut = rawPut(srv.Addr())
				backendtest.Run(t, openTT(srv.Addr()), caps)
			})
			t.Run("real", func(t *testing.T) {
				addr := os.Getenv(c.env)
				if addr == "" {
					t.Skipf("%s is not set: set it to host:port of a disposable ttserver (%s configuration: -ulog ulog -sid 1 -ext tt-golden.lua; it is cleared) to run the conformance suite against a real server", c.env, c.config)
				}
				caps := c.caps
				caps.RawPut = rawPut(addr)
				backendtest.Run(t, openTT(addr), caps)
			})
		})
	}
}
