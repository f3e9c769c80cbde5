package goclient_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// pipelineClient starts a gateway on b, or on a fresh embedded store with
// databases "0" and "1", and returns a client over it.
func pipelineClient(t *testing.T, b backend.Backend) *ktgrpc.Client {
	t.Helper()
	if b == nil {
		store, err := embedded.New(embedded.Options{Databases: []embedded.DBConfig{{Name: "0"}, {Name: "1"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		b = store
	}
	return ktgrpc.New(gatewaytest.Start(t, b))
}

func TestBatcherSpreadsCalls(t *testing.T) {
	c := pipelineClient(t, nil)
	b := c.NewBatcher(2)
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i)
			if err := b.Set(t.Context(), key, []byte("v"+key)); err != nil {
				errs <- err
				return
			}
			v, err := b.Get(t.Context(), key)
			if err != nil || string(v) != "v"+key {
				errs <- fmt.Errorf("Get %s = %q, %v", key, v, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each call gets its own answer, errors included; the stream goes on.
	if _, err := b.Get(t.Context(), "missing"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Errorf("Get missing: %v; want ErrNotFound", err)
	}
	if _, err := b.Get(t.Context(), ""); !errors.Is(err, ktgrpc.ErrInvalid) {
		t.Errorf("Get of an empty key: %v; want ErrInvalid", err)
	}
	if removed, err := b.Remove(t.Context(), "k1"); err != nil || !removed {
		t.Errorf("Remove k1 = %v, %v", removed, err)
	}
	if _, err := b.Get(t.Context(), "k1", ktgrpc.WithDB("1")); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Errorf("Get k1 in db 1: %v; want ErrNotFound", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "k2"); !errors.Is(err, ktgrpc.ErrPipelineClosed) {
		t.Errorf("Get after Close: %v; want ErrPipelineClosed", err)
	}
}

// holding is an embedded store whose Get of "held" waits for release or
// its context.
type holding struct {
	backend.Backend
	entered chan struct{}
	release chan struct{}
}

func (h *holding) Get(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	if string(key) != "held" {
		return h.Backend.Get(ctx, db, key)
	}
	h.entered <- struct{}{}
	select {
	case <-h.release:
		return backend.Record{Key: key, Value: []byte("late")}, true, nil
	case <-ctx.Done():
		return backend.Record{}, false, ctx.Err()
	}
}

// A call whose context ends returns at once; the calls after it on the same
// stream are answered, and the late answer is dropped.
func TestPipelineCallHonoursContext(t *testing.T) {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	h := &holding{Backend: store, entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := pipelineClient(t, h)
	p, err := c.Pipeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Set(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	held := make(chan error, 1)
	go func() {
		_, err := p.Get(ctx, "held")
		held <- err
	}()
	<-h.entered
	cancel()
	if err := <-held; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Get: %v; want context.Canceled", err)
	}
	// The held request is still at the backend; the stream answers others.
	if v, err := p.Get(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get k = %q, %v", v, err)
	}
	h.release <- struct{}{}
	if v, err := p.Get(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get k after the late answer = %q, %v", v, err)
	}
	if p.Err() != nil {
		t.Fatalf("stream ended: %v", p.Err())
	}
}
