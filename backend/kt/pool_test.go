package kt

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A fresh connection is what a call asks for after a stale one failed. With
// every slot taken by idle connections it must not wait for a slot that
// nobody frees: an idle connection gives its slot up.
func TestKTPoolFreshTakesAnIdleSlot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := newPool(ln.Addr().String(), 1, 5*time.Second, new(atomic.Int64))
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := p.get(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	p.put(first)
	again, err := p.get(ctx, false)
	if err != nil || again != first || !again.reused {
		t.Fatalf("the idle connection was not reused: %v", err)
	}
	p.put(again)
	fresh, err := p.get(ctx, true)
	if err != nil {
		t.Fatalf("fresh connection with the only slot idle: %v", err)
	}
	if fresh == first || fresh.reused {
		t.Error("fresh returned the idle connection")
	}
	if s := p.stats(); s.Open != 1 || s.Idle != 0 || s.Dials != 2 || s.Discards != 0 {
		t.Errorf("stats: %+v", s)
	}
	if _, err := first.nc.Write([]byte{0}); err == nil {
		t.Error("the idle connection that gave up its slot is still open")
	}
	p.put(fresh)
}
