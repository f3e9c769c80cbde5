package ktstore

import (
	"context"
	"errors"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

func mustSet(t *testing.T, s *embedded.Store, key, value string) {
	t.Helper()
	if err := s.Set(context.Background(), "", []byte(key), []byte(value), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestReadLog(t *testing.T) {
	ctx := context.Background()
	s, err := embedded.New(embedded.Options{LogCapacity: 3, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	lctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	l := NewLog(lctx, s)
	evs, wait, err := l.ReadLog(ctx, 0, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("ReadLog of an empty log = %v, %v; want none", evs, err)
	}
	mustSet(t, s, "a", "1")
	<-wait // closed by the append; a missed wake-up hangs here

	mustSet(t, s, "b", "2")
	mustSet(t, s, "c", "3")
	mustSet(t, s, "d", "4") // drops "a"

	// A position older than the retained log starts at the oldest event.
	evs, _, err = l.ReadLog(ctx, 1, 2)
	if err != nil || len(evs) != 2 || string(evs[0].Key) != "b" || string(evs[1].Key) != "c" {
		t.Fatalf("ReadLog(1, 2) = %v, %v; want b, c", evs, err)
	}
	// after is exclusive.
	evs, wait, err = l.ReadLog(ctx, evs[0].Position, 10)
	if err != nil || len(evs) != 2 || string(evs[0].Key) != "c" || string(evs[1].Key) != "d" {
		t.Fatalf("ReadLog(after b) = %v, %v; want c, d", evs, err)
	}
	select {
	case <-wait:
		t.Fatal("the wait channel closed without an append")
	default:
	}
	if evs, _, err := l.ReadLog(ctx, evs[1].Position, 10); err != nil || len(evs) != 0 {
		t.Fatalf("ReadLog(after d) = %v, %v; want none", evs, err)
	}
	mustSet(t, s, "e", "5")
	<-wait

	s.Close()
	if _, _, err := l.ReadLog(ctx, 0, 10); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("ReadLog after Close: %v; want ErrUnavailable", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.ReadLog(cctx, 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadLog with a cancelled context: %v; want context.Canceled", err)
	}
}
