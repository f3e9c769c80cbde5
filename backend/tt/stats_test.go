package tt

import (
	"context"
	"net/url"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/internal/connpool/pooltest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// A call that finds every connection in use waits, and the pool counts it.
func TestTTPoolCountsWaits(t *testing.T) {
	srv := tttest.Start(t)
	b, err := Open(context.Background(), &url.URL{Scheme: "tt", Host: srv.Addr(), RawQuery: "pool=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := b.BackendPoolStats(); st.Size != 1 {
		t.Fatalf("pool size %d, want 1", st.Size)
	}
	pooltest.CheckWaitCounted(t, b.pool, b.BackendPoolStats, func(ctx context.Context) error {
		_, _, err := b.Get(ctx, "", []byte("k"))
		return err
	})
}
