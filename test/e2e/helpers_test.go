package e2e

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Helpers shared by the end-to-end tests of every backend. Status codes are
// checked with gatewaytest.WantCode.

// testCtx is a context for one test's calls, bounded so that a hung call
// fails the test instead of the run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// must takes a call's two results and returns the value, failing the test
// given to the returned function on an error: must(client.Get(ctx, req))(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ptr[T any](v T) *T { return &v }

// strs converts byte strings for comparison and printing.
func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// keysOf returns the keys of records.
func keysOf(recs []*ktgrpcv1.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.GetKey())
	}
	return out
}

// wantStrs checks a list of strings; nil and empty are the same.
func wantStrs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// cursorStream drives one Cursor.Open stream.
type cursorStream struct {
	t *testing.T
	s ktgrpcv1.Cursor_OpenClient
}

// openCursor opens a cursor stream on ctx.
func openCursor(t *testing.T, ctx context.Context, c ktgrpcv1.CursorClient) *cursorStream {
	t.Helper()
	return &cursorStream{t: t, s: must(c.Open(ctx))(t)}
}

// do sends one operation and returns its response.
func (c *cursorStream) do(req *ktgrpcv1.OpenRequest) (*ktgrpcv1.OpenResponse, error) {
	if err := c.s.Send(req); err != nil {
		// The server ended the stream; Recv reports why.
		_, rerr := c.s.Recv()
		return nil, rerr
	}
	return c.s.Recv()
}

// must is do that fails the test on an error.
func (c *cursorStream) must(req *ktgrpcv1.OpenRequest) *ktgrpcv1.OpenResponse {
	c.t.Helper()
	resp, err := c.do(req)
	if err != nil {
		c.t.Fatalf("cursor %v: %v", req.GetOperation(), err)
	}
	return resp
}

// op is a request for a cursor operation without arguments.
func op(o ktgrpcv1.CursorOperation) *ktgrpcv1.OpenRequest { return &ktgrpcv1.OpenRequest{Operation: o} }

// scanAll runs a Scan to its end and returns its batches; err is the
// status that ended it early.
func scanAll(ctx context.Context, c ktgrpcv1.CursorClient, req *ktgrpcv1.ScanRequest) ([][]*ktgrpcv1.Record, error) {
	stream, err := c.Scan(ctx, req)
	if err != nil {
		return nil, err
	}
	var batches [][]*ktgrpcv1.Record
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return batches, nil
		}
		if err != nil {
			return batches, err
		}
		batches = append(batches, resp.GetRecords())
	}
}

// scanKeys runs a Scan and returns the keys it listed, failing the test if
// it ends early.
func scanKeys(t *testing.T, ctx context.Context, c ktgrpcv1.CursorClient, req *ktgrpcv1.ScanRequest) []string {
	t.Helper()
	batches, err := scanAll(ctx, c, req)
	if err != nil {
		t.Fatalf("Scan %v: %v", req, err)
	}
	var keys []string
	for _, b := range batches {
		keys = append(keys, keysOf(b)...)
	}
	return keys
}

// liveSub reads one Subscribe stream in the background.
type liveSub struct {
	msgs   chan *ktgrpcv1.SubscribeResponse
	err    chan error
	cancel context.CancelFunc
}

// subscribe opens a subscription on ctx and waits for its first message:
// the replay's events, or the progress after it (for a subscription from
// now, the one that says it is attached), show that the backend stream is
// open. The stream ends with the test, or with cancel.
func subscribe(t *testing.T, ctx context.Context, c ktgrpcv1.ReplicationClient, req *ktgrpcv1.SubscribeRequest) *liveSub {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	st, err := c.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	s := &liveSub{msgs: make(chan *ktgrpcv1.SubscribeResponse, 1000), err: make(chan error, 1), cancel: cancel}
	first := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			m, err := st.Recv()
			if err != nil {
				s.err <- err
				return
			}
			s.msgs <- m
			if i == 0 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case err := <-s.err:
		t.Fatalf("subscription ended before its first message: %v", err)
	case <-ctx.Done():
		t.Fatal("no first message from the subscription")
	}
	return s
}

// events collects the next n events, passing over progress messages.
func (s *liveSub) events(t *testing.T, ctx context.Context, n int) []*ktgrpcv1.Event {
	t.Helper()
	var evs []*ktgrpcv1.Event
	for len(evs) < n {
		select {
		case m := <-s.msgs:
			// A message carries one event, or a batch when the
			// subscription asked for max_events_per_message.
			evs = append(evs, m.GetEvents().GetEvents()...)
			if ev := m.GetEvent(); ev != nil {
				evs = append(evs, ev)
			}
		case err := <-s.err:
			t.Fatalf("subscription ended after %d of %d events: %v", len(evs), n, err)
		case <-ctx.Done():
			t.Fatalf("got %d of %d events", len(evs), n)
		}
	}
	return evs
}
