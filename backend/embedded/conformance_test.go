package embedded_test

import (
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

// openStore returns a function that opens a Store with opts for each test.
func openStore(opts embedded.Options) backendtest.Open {
	return func(t *testing.T) backend.Backend {
		s, err := embedded.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, openStore(embedded.Options{}), backendtest.Capabilities{
		Family: backendtest.KT, DB: "1", Ordered: true, Cursor: true, KeepLast: true, Subscribe: true,
	})
}

func TestConformanceTable(t *testing.T) {
	opts := embedded.Options{Databases: []embedded.DBConfig{{Name: "0"}, {Name: "users", Kind: embedded.Table}}}
	backendtest.Run(t, openStore(opts), backendtest.Capabilities{Family: backendtest.KT, DB: "users", Table: true})
}
