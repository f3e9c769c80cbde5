package embedded

import (
	"context"
	"errors"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

func TestReadLog(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, Options{LogCapacity: 3})
	evs, wait, err := s.ReadLog(ctx, 0, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("ReadLog of an empty log = %v, %v; want none", evs, err)
	}
	mustSet(t, s, "", "a", "1", backend.Expiry{})
	select {
	case <-wait:
	default:
		t.Fatal("the wait channel is still open after an append")
	}
	mustSet(t, s, "", "b", "2", backend.Expiry{})
	mustSet(t, s, "", "c", "3", backend.Expiry{})
	mustSet(t, s, "", "d", "4", backend.Expiry{}) // drops "a"

	// A position older than the retained log starts at the oldest event.
	evs, _, err = s.ReadLog(ctx, 1, 2)
	if err != nil || len(evs) != 2 || string(evs[0].Key) != "b" || string(evs[1].Key) != "c" {
		t.Fatalf("ReadLog(1, 2) = %v, %v; want b, c", evs, err)
	}
	// after is exclusive.
	evs, wait, err = s.ReadLog(ctx, evs[0].Position, 10)
	if err != nil || len(evs) != 2 || string(evs[0].Key) != "c" || string(evs[1].Key) != "d" {
		t.Fatalf("ReadLog(after b) = %v, %v; want c, d", evs, err)
	}
	select {
	case <-wait:
		t.Fatal("the wait channel closed without an append")
	default:
	}
	if evs, _, err := s.ReadLog(ctx, evs[1].Position, 10); err != nil || len(evs) != 0 {
		t.Fatalf("ReadLog(after d) = %v, %v; want none", evs, err)
	}

	s.Close()
	if _, _, err := s.ReadLog(ctx, 0, 10); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("ReadLog after Close: %v; want ErrUnavailable", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.ReadLog(cctx, 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadLog with a cancelled context: %v; want context.Canceled", err)
	}
}
