package kt

import (
	"context"
	"net/url"
	"runtime"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// A call that finds every connection in use waits, and the pool counts it.
func TestKTPoolCountsWaits(t *testing.T) {
	srv := kttest.Start(t)
	b, err := Open(context.Background(), &url.URL{Scheme: "kt", Host: srv.Addr(), RawQuery: "pool=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := b.BackendPoolStats(); st.Size != 1 || st.Waits != 0 {
		t.Fatalf("stats before any call: %+v", st)
	}
	// Take the only connection, as a call in progress would.
	held, err := b.pool.Get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := b.Get(t.Context(), "", []byte("k"))
		done <- err
	}()
	for b.BackendPoolStats().Waits == 0 {
		runtime.Gosched()
	}
	b.pool.Put(held)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := b.BackendPoolStats(); st.Waits != 1 || st.Dials != 1 || st.Open != 1 {
		t.Fatalf("stats after one wait: %+v", st)
	}
}
