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
	b, err := Open(context.Background(), &url.URL{Scheme: "kt", Host: srv.Addr(), RawQuery: "pool=1&cursors=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := b.BackendPoolStats(); st.Size != 2 || st.Waits != 0 {
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
	// A cursor's connection counts with the calls'.
	c, err := b.OpenCursor(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if st := b.BackendPoolStats(); st.Dials != 2 || st.InUse != 1 {
		t.Fatalf("stats with a cursor open: %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
