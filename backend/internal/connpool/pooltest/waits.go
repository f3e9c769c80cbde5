package pooltest

import (
	"context"
	"runtime"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
)

// CheckWaitCounted takes the only connection of p, as a call in progress
// would, runs get, which must wait for it, and checks that the pool counts
// the wait and that get succeeds once the connection is back. stats reads
// the adapter's view of the pool, which is what the metrics export.
func CheckWaitCounted(t *testing.T, p *connpool.Pool, stats func() backend.PoolStats, get func(context.Context) error) {
	t.Helper()
	if st := stats(); st.Waits != 0 {
		t.Fatalf("stats before any call: %+v", st)
	}
	held, err := p.Get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- get(t.Context()) }()
	for stats().Waits == 0 {
		runtime.Gosched()
	}
	p.Put(held)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := stats(); st.Waits != 1 || st.Dials != 1 || st.Open != 1 || st.Recovered != 0 {
		t.Fatalf("stats after one wait: %+v", st)
	}
}
