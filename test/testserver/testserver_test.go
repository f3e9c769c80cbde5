package testserver_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/testserver"
)

func TestWaiterWakesOnChange(t *testing.T) {
	var (
		mu    sync.Mutex
		count int
		w     testserver.Waiter
	)
	done := make(chan error, 1)
	go func() { done <- w.Wait(context.Background(), &mu, 2, "things", func() int { return count }) }()
	for range 2 {
		mu.Lock()
		count++
		w.Changed()
		mu.Unlock()
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Wait(ctx, &mu, 5, "things", func() int { return count })
	if !errors.Is(err, context.Canceled) || err.Error() != "waiting for 5 things (have 2): context canceled" {
		t.Errorf("Wait past its context: %v", err)
	}
}
