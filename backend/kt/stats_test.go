package kt

import (
	"context"
	"net/url"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/internal/connpool/pooltest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// A call that finds every connection in use waits, and the pool counts it;
// a cursor's connection counts with the calls'.
func TestKTPoolCountsWaits(t *testing.T) {
	srv := kttest.Start(t)
	b, err := Open(context.Background(), &url.URL{Scheme: "kt", Host: srv.Addr(), RawQuery: "pool=1&cursors=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := b.BackendPoolStats(); st.Size != 2 {
		t.Fatalf("pool size %d, want 2 (the call and cursor pools together)", st.Size)
	}
	pooltest.CheckWaitCounted(t, b.pool, b.BackendPoolStats, func(ctx context.Context) error {
		_, _, err := b.Get(ctx, "", []byte("k"))
		return err
	})
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
