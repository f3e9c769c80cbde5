package embedded_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// TestDiffTableTT holds the embedded store's tables to Tokyo Tyrant's table
// semantics: random table operations must answer as the tt adapter over
// the TT test server's table database does (which in turn is compared
// with a real server by the tt package's tests).
func TestDiffTableTT(t *testing.T) {
	opts := embedded.Options{Databases: []embedded.DBConfig{{Name: "0", Kind: embedded.Table}}}
	s := openStore(opts)(t)
	srv := tttest.Start(t, tttest.WithConfig("tt-table"))
	u, err := url.Parse("tt://" + srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	b, err := tt.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	caps := backendtest.Capabilities{Family: backendtest.TT, Table: true}
	backendtest.Diff(t, s, b, backendtest.DiffOptionsFromEnv(t, caps, 20, 100))
}
