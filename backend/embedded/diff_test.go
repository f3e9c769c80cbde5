package embedded_test

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// openTT opens the tt adapter on addr.
func openTT(t *testing.T, addr string) backend.Backend {
	t.Helper()
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

// TestDiffTableTT holds the embedded store's tables to Tokyo Tyrant's table
// semantics: random table operations must answer as the tt adapter over a
// table database does, on the TT test server and, when TT_TABLE_ADDR names
// one, on a real server.
func TestDiffTableTT(t *testing.T) {
	caps := backendtest.Capabilities{Family: backendtest.TT, Table: true}
	store := func(t *testing.T) backend.Backend {
		return openStore(embedded.Options{Databases: []embedded.DBConfig{{Name: "0", Kind: embedded.Table}}})(t)
	}
	t.Run("tttest", func(t *testing.T) {
		srv := tttest.Start(t, tttest.WithConfig("tt-table"))
		backendtest.Diff(t, store(t), openTT(t, srv.Addr()), backendtest.DiffOptionsFromEnv(t, caps, 20, 100))
	})
	t.Run("real", func(t *testing.T) {
		addr := os.Getenv("TT_TABLE_ADDR")
		if addr == "" {
			t.Skip("TT_TABLE_ADDR is not set; set it to host:port of a disposable ttserver with a table database (it is cleared) to compare the embedded tables with it")
		}
		backendtest.Diff(t, store(t), openTT(t, addr), backendtest.DiffOptionsFromEnv(t, caps, 10, 100))
	})
}
