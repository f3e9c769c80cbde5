package kt

import (
	"os"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// diffCaps describe DB 1 of the embedded store and of a kt-main server:
// both tree databases.
var diffCaps = backendtest.Capabilities{Family: backendtest.KT, DB: "1", Ordered: true, Cursor: true}

func TestDiffEmbeddedKTTest(t *testing.T) {
	s, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	srv := kttest.Start(t)
	backendtest.Diff(t, s, openKT(srv.Addr())(t), backendtest.DiffOptionsFromEnv(t, diffCaps, 10, 100))
}

func TestDiffKTTestRealKT(t *testing.T) {
	addr := os.Getenv("KT_ADDR")
	if addr == "" {
		t.Skip("KT_ADDR is not set; set it to host:port of a disposable kt-main ktserver (it is cleared) to compare kttest with it")
	}
	// DB 1 is a tree database, DB 0 a hash database.
	hashCaps := diffCaps
	hashCaps.DB, hashCaps.Ordered, hashCaps.Cursor = "0", false, false
	for _, caps := range []backendtest.Capabilities{diffCaps, hashCaps} {
		t.Run("db"+caps.DB, func(t *testing.T) {
			srv := kttest.Start(t)
			backendtest.Diff(t, openKT(srv.Addr())(t), openKT(addr)(t), backendtest.DiffOptionsFromEnv(t, caps, 10, 100))
		})
	}
}
