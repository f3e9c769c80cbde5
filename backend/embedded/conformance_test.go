package embedded_test

import (
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

func TestConformance(t *testing.T) {
	open := func(t *testing.T) backend.Backend {
		s, err := embedded.New(embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	backendtest.Run(t, open, backendtest.Capabilities{
		Family: backendtest.KT, DB: "1", Ordered: true, Cursor: true, KeepLast: true, Subscribe: true,
	})
}
