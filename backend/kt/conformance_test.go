package kt

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// ktCapabilities describe a server in the golden kt-main configuration:
// DB 1 ("%") is a tree database, and the Lua procedure echo exists.
var ktCapabilities = backendtest.Capabilities{
	Family: backendtest.KT, DB: "1", Ordered: true, Cursor: true, Subscribe: true, EchoScript: "echo",
}

// openKT returns a function that opens an adapter on addr for each test.
func openKT(addr string) backendtest.Open {
	return func(t *testing.T) backend.Backend {
		u, err := url.Parse("kt://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
}

// ktHashCapabilities describe DB 0 ("*"), a hash database: unordered, and
// its cursor walk order is the server's own, which the suite does not
// predict.
var ktHashCapabilities = backendtest.Capabilities{Family: backendtest.KT, DB: "0", Subscribe: true}

func TestConformanceKTTest(t *testing.T) {
	srv := kttest.Start(t)
	t.Run("tree", func(t *testing.T) { backendtest.Run(t, openKT(srv.Addr()), ktCapabilities) })
	t.Run("hash", func(t *testing.T) { backendtest.Run(t, openKT(srv.Addr()), ktHashCapabilities) })
}

func TestConformanceRealKT(t *testing.T) {
	addr := os.Getenv("KT_ADDR")
	if addr == "" {
		t.Skip("KT_ADDR is not set; to run the conformance suite against a real server start a disposable " +
			"`ktserver -ulog ulog -sid 1 -rts rts -scr kt-golden.lua '*' '%'` (it is cleared) and set KT_ADDR=host:port")
	}
	for name, caps := range map[string]backendtest.Capabilities{"tree": ktCapabilities, "hash": ktHashCapabilities} {
		t.Run(name, func(t *testing.T) { backendtest.Run(t, openKT(addr), caps) })
	}
}
