package tt_test

import (
	"os"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/backendtest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// TestDiffRealTT compares tttest with a real server of each database type
// whose address is set.
func TestDiffRealTT(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.config, func(t *testing.T) {
			addr := os.Getenv(c.env)
			if addr == "" {
				t.Skipf("%s is not set; set it to host:port of a disposable ttserver (%s configuration; it is cleared) to compare tttest with it", c.env, c.config)
			}
			srv := tttest.Start(t, tttest.WithConfig(c.config))
			backendtest.Diff(t, openTT(srv.Addr())(t), openTT(addr)(t), backendtest.DiffOptionsFromEnv(t, c.caps, 10, 100))
		})
	}
}
