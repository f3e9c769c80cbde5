package workerpool

import (
	"context"
	"testing"
)

func TestPoolBoundsWorkers(t *testing.T) {
	p := New(2)
	for i := range 2 {
		if !p.Take(t.Context()) {
			t.Fatalf("worker %d of two not taken", i+1)
		}
	}
	if p.Busy() != 2 || p.Size() != 2 {
		t.Fatalf("busy %d of %d, want 2 of 2", p.Busy(), p.Size())
	}
	// Every worker is busy: a third request waits until its context ends.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if p.Take(ctx) {
		t.Fatal("a third worker taken from a pool of two")
	}
	p.Release()
	if !p.Take(t.Context()) {
		t.Fatal("a released worker not taken again")
	}
}
