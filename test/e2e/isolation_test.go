package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// secondConn opens another client connection to the gateway conn talks to.
func secondConn(t *testing.T, conn *grpc.ClientConn) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// callEnds returns a logger for the gateway that reports every cursor,
// scan or replication stream it finishes as "method code" (for example "Scan
// ResourceExhausted"): the
// tests wait for the gateway to end a stream whose client reads nothing,
// and so cannot learn it from the stream.
func callEnds() (*slog.Logger, <-chan string) {
	ch := make(chan string, 1024)
	return slog.New(&endHandler{ch: ch}), ch
}

type endHandler struct {
	ch    chan string
	attrs []slog.Attr
}

func (h *endHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *endHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "finished call" {
		return nil
	}
	var method, code string
	look := func(a slog.Attr) bool {
		switch a.Key {
		case "grpc.method":
			method = a.Value.String()
		case "grpc.code":
			code = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		look(a)
	}
	r.Attrs(look)
	switch method {
	case "Open", "Scan", "Subscribe", "Watch":
	default:
		return nil
	}
	select {
	case h.ch <- method + " " + code:
	default:
	}
	return nil
}

func (h *endHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &endHandler{ch: h.ch, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *endHandler) WithGroup(string) slog.Handler { return h }

// waitEnd waits for the gateway to finish a call of method with code.
func waitEnd(t *testing.T, ends <-chan string, want string) {
	t.Helper()
	for {
		select {
		case got := <-ends:
			if got == want {
				return
			}
		case <-t.Context().Done():
			t.Fatalf("the gateway never finished a call %q", want)
		}
	}
}

// openJumped opens a Cursor.Open stream whose backend cursor is open.
func openJumped(ctx context.Context, c ktgrpcv1.CursorClient) (ktgrpcv1.Cursor_OpenClient, error) {
	s, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Send(&ktgrpcv1.OpenRequest{Operation: embJump}); err != nil {
		return nil, err
	}
	if _, err := s.Recv(); err != nil {
		return nil, err
	}
	return s, nil
}

// TestCursorStreamLimits: cursor and scan streams count against a limit per
// client connection and one per gateway; over either, RESOURCE_EXHAUSTED
// names the limit, and closing a stream makes room.
func TestCursorStreamLimits(t *testing.T) {
	logger, ends := callEnds()
	e := newEmbEnv(t, server.Options{MaxCursorStreams: 3, MaxCursorStreamsPerConn: 2, Logger: logger})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Enough for the scan below to fill its flow-control window and wait.
	fillEmb(t, e, 3000)
	c1 := e.cursor
	first, err := openJumped(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	// A scan counts too, for as long as it runs: this one is not read.
	scanCtx, stopScan := context.WithCancel(ctx)
	scan, err := c1.Scan(scanCtx, &ktgrpcv1.ScanRequest{Db: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scan.Recv(); err != nil {
		t.Fatal(err)
	}
	// An Open stream that has not opened its cursor holds nothing yet.
	idle, err := c1.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = openJumped(ctx, c1)
	gatewaytest.WantCode(t, err, codes.ResourceExhausted, "MaxCursorStreamsPerConn", "2") // a third stream on one connection
	c2 := ktgrpcv1.NewCursorClient(secondConn(t, e.conn))
	if _, err := openJumped(ctx, c2); err != nil {
		t.Fatalf("a stream on another connection: %v", err)
	}
	_, err = openJumped(ctx, c2)
	gatewaytest.WantCode(t, err, codes.ResourceExhausted, "MaxCursorStreams", "3") // a fourth stream on the gateway
	// Ending streams frees their places.
	if err := first.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("closing the first cursor: %v", err)
	}
	stopScan()
	waitEnd(t, ends, "Open OK")
	waitEnd(t, ends, "Scan Canceled")
	if err := idle.Send(&ktgrpcv1.OpenRequest{Operation: embJump}); err != nil {
		t.Fatal(err)
	}
	if _, err := idle.Recv(); err != nil {
		t.Fatalf("a cursor once the others ended: %v", err)
	}
}

// fillEmb writes n records of 1 KiB, keys k00000 on, to database main:
// more than a client's flow-control window holds.
func fillEmb(t *testing.T, e *embEnv, n int) {
	t.Helper()
	value := []byte(strings.Repeat("v", 1024))
	var entries []*ktgrpcv1.SetBulkRequest_Entry
	for i := range n {
		entries = append(entries, &ktgrpcv1.SetBulkRequest_Entry{Key: fmt.Appendf(nil, "k%05d", i), Value: value})
	}
	if _, err := e.kv.SetBulk(t.Context(), &ktgrpcv1.SetBulkRequest{Db: "main", Records: entries}); err != nil {
		t.Fatal(err)
	}
}

// TestStalledScanEndsWithResumeKey: a Scan client that stops reading is cut
// off after the stall timeout with RESOURCE_EXHAUSTED and the key to resume
// from; resuming there yields every record exactly once.
func TestStalledScanEndsWithResumeKey(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reverse=%v", reverse), func(t *testing.T) {
			logger, ends := callEnds()
			e := newEmbEnv(t, server.Options{StallTimeout: 100 * time.Millisecond, Logger: logger})
			const n = 3000
			fillEmb(t, e, n)
			req := &ktgrpcv1.ScanRequest{Db: "main", BatchSize: 16, Reverse: reverse}
			stream, err := e.cursor.Scan(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			// Read one message, then nothing until the gateway gives up:
			// the header of the first reply shows the stream is running.
			first, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			got := keysOf(first.GetRecords())
			var end error
			// The gateway ends the stream on its own; reading now only
			// collects what it had sent before the stall.
			waitEnd(t, ends, "Scan ResourceExhausted")
			for {
				resp, err := stream.Recv()
				if err != nil {
					end = err
					break
				}
				got = append(got, keysOf(resp.GetRecords())...)
			}
			gatewaytest.WantCode(t, end, codes.ResourceExhausted, "read nothing for 100ms", "to resume") // stalled scan
			// The trailer names the last key the gateway knows it sent. A
			// batch whose send was still under way when the stream was
			// ended may arrive after it, so the key is the last one
			// received or the one before the last batch; a client resumes
			// after the last key it received.
			trailer := stream.Trailer()
			name, suffix := "resume-start-key-bin", "\x00"
			if reverse {
				name, suffix = "resume-end-key-bin", ""
			}
			k := trailer.Get(name)
			last := got[len(got)-1]
			if len(k) != 1 || k[0] != last+suffix && (len(got) <= 16 || k[0] != got[len(got)-17]+suffix) {
				t.Fatalf("%s = %q after %q", name, k, got[max(len(got)-17, 0):])
			}
			resume := &ktgrpcv1.ScanRequest{Db: "main", BatchSize: 16, Reverse: reverse}
			if reverse {
				resume.EndKey = []byte(last)
			} else {
				resume.StartKey = []byte(last + "\x00")
			}
			if len(got) >= n {
				t.Fatalf("the stalled scan delivered all %d records", len(got))
			}
			got = append(got, scanKeys(t, t.Context(), e.cursor, resume)...)
			if len(got) != n {
				t.Fatalf("stalled scan plus resumed scan gave %d keys, want %d", len(got), n)
			}
			for i, k := range got {
				j := i
				if reverse {
					j = n - 1 - i
				}
				if want := fmt.Sprintf("k%05d", j); k != want {
					t.Fatalf("key %d = %q, want %q", i, k, want)
				}
			}
		})
	}
}

// TestStalledCursorStreamEnds: a Cursor.Open client that sends requests but
// reads no answers is cut off after the stall timeout, and its place is
// free again.
func TestStalledCursorStreamEnds(t *testing.T) {
	logger, ends := callEnds()
	e := newEmbEnv(t, server.Options{StallTimeout: 100 * time.Millisecond, MaxCursorStreams: 1, Logger: logger})
	e.set(t, "main", "big", strings.Repeat("v", 1<<20))
	s, err := e.cursor.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var end error
	for range 64 {
		if err := s.Send(&ktgrpcv1.OpenRequest{Db: "main", Operation: embJump, Key: []byte("big")}); err != nil {
			break
		}
		if err := s.Send(&ktgrpcv1.OpenRequest{Operation: embGet}); err != nil {
			break
		}
	}
	waitEnd(t, ends, "Open ResourceExhausted")
	for end == nil {
		_, end = s.Recv()
	}
	gatewaytest.WantCode(t, end, codes.ResourceExhausted, "read nothing for 100ms", "cursor closed") // stalled cursor
	if _, err := openJumped(t.Context(), e.cursor); err != nil {
		t.Fatalf("a cursor after the stalled one ended: %v", err)
	}
}

// TestStalledSubscriberEnds: a Subscribe client that stops reading, so that
// the gateway's sends block in flow control while the log goes idle, is
// ended after the stall timeout with RESOURCE_EXHAUSTED and a position to
// resume after; its hub subscription is gone, and resuming there yields
// every change exactly once.
func TestStalledSubscriberEnds(t *testing.T) {
	logger, ends := callEnds()
	e := newEmbEnv(t, server.Options{StallTimeout: 100 * time.Millisecond, Logger: logger})
	const n = 400
	// More than a client's flow-control window holds, and fewer than the
	// hub's subscriber buffer, which would end the stream on its own.
	fillEmb(t, e, n)
	stream, err := e.repl.Subscribe(t.Context(), &ktgrpcv1.SubscribeRequest{Dbs: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	// The first message shows the stream runs; then nothing is read until
	// the gateway gives up.
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	waitEnd(t, ends, "Subscribe ResourceExhausted")
	st, err := e.admin.ReplicationStatus(t.Context(), &ktgrpcv1.ReplicationStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetSubscribers() != 0 || st.GetUpstreamConnections() != 0 {
		t.Fatalf("after the stalled stream ended: %d subscribers, %d upstream connections; want none", st.GetSubscribers(), st.GetUpstreamConnections())
	}
	got := []*ktgrpcv1.Event{first.GetEvent()}
	var end error
	for {
		m, err := stream.Recv()
		if err != nil {
			end = err
			break
		}
		if ev := m.GetEvent(); ev != nil {
			got = append(got, ev)
		}
	}
	gatewaytest.WantCode(t, end, codes.ResourceExhausted, "read nothing for 100ms", "resume with after=") // stalled subscriber
	var after uint64
	msg := status.Convert(end).Message()
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "after=")+len("after="):], "%d", &after); err != nil {
		t.Fatalf("no position in %q: %v", msg, err)
	}
	if len(got) >= n {
		t.Fatalf("the stalled stream delivered all %d changes", len(got))
	}
	// What the client took up to the resume position, then the resumed
	// stream: every change once, in order. (The message that stalled may
	// still have arrived; it is after the position.)
	var keys []string
	for _, ev := range got {
		if ev.GetPosition() <= after {
			keys = append(keys, string(ev.GetKey()))
		}
	}
	resumed, err := e.repl.Subscribe(t.Context(), &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: after}, Dbs: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	for len(keys) < n {
		m, err := resumed.Recv()
		if err != nil {
			t.Fatalf("resumed after %d: %v", after, err)
		}
		if ev := m.GetEvent(); ev != nil {
			keys = append(keys, string(ev.GetKey()))
		}
	}
	for i, k := range keys {
		if want := fmt.Sprintf("k%05d", i); k != want {
			t.Fatalf("change %d is %q, want %q", i, k, want)
		}
	}
}

// TestStalledWatchSnapshotEnds: a Watch client that reads nothing while its
// snapshot is sent is ended after the stall timeout too.
func TestStalledWatchSnapshotEnds(t *testing.T) {
	logger, ends := callEnds()
	e := newEmbEnv(t, server.Options{StallTimeout: 100 * time.Millisecond, Logger: logger})
	fillEmb(t, e, 400)
	stream, err := e.repl.Watch(t.Context(), &ktgrpcv1.WatchRequest{Db: "main", Target: &ktgrpcv1.WatchRequest_Prefix{Prefix: []byte("k")}, SnapshotBatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	waitEnd(t, ends, "Watch ResourceExhausted")
	var end error
	for end == nil {
		_, end = stream.Recv()
	}
	gatewaytest.WantCode(t, end, codes.ResourceExhausted, "read nothing for 100ms", "watch again") // stalled watch
}
