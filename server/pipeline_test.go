package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// gated is an embedded store whose Get of a key starting with "block:"
// announces itself on entered and waits for release or its context, and
// whose Get of a key starting with "fail:" fails as a dead backend does.
type gated struct {
	backend.Backend

	entered  chan string
	release  chan struct{}
	canceled chan string // a blocked Get whose context ended

	now, most atomic.Int64 // blocked Gets now, and at most
}

func newGated(t *testing.T) *gated {
	t.Helper()
	s, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &gated{Backend: s, entered: make(chan string, 1024), release: make(chan struct{}), canceled: make(chan string, 1024)}
}

func (g *gated) Get(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	switch k := string(key); {
	case strings.HasPrefix(k, "fail:"):
		return backend.Record{}, false, fmt.Errorf("fake://test: get: connection reset: %w", backend.ErrUnavailable)
	case strings.HasPrefix(k, "block:"):
		n := g.now.Add(1)
		for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		}
		defer g.now.Add(-1)
		g.entered <- k
		select {
		case <-g.release:
			return backend.Record{Key: key, Value: []byte("released " + k)}, true, nil
		case <-ctx.Done():
			g.canceled <- k
			return backend.Record{}, false, ctx.Err()
		}
	}
	return g.Backend.Get(ctx, db, key)
}

func getOp(id uint64, key string) *ktgrpcv1.PipelineRequest {
	return &ktgrpcv1.PipelineRequest{Id: id, Op: &ktgrpcv1.PipelineRequest_Get{Get: &ktgrpcv1.GetRequest{Key: []byte(key)}}}
}

func startPipeline(t *testing.T, b backend.Backend, opts server.Options) ktgrpcv1.KV_PipelineClient {
	t.Helper()
	_, conn := gatewaytest.StartServer(t, b, opts)
	stream, err := ktgrpcv1.NewKVClient(conn).Pipeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func send(t *testing.T, stream ktgrpcv1.KV_PipelineClient, reqs ...*ktgrpcv1.PipelineRequest) {
	t.Helper()
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			t.Fatalf("send %d: %v", r.GetId(), err)
		}
	}
}

func recv(t *testing.T, stream ktgrpcv1.KV_PipelineClient) *ktgrpcv1.PipelineResponse {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return resp
}

func wantAnswerError(t *testing.T, resp *ktgrpcv1.PipelineResponse, id uint64, code codes.Code, msgPart string) {
	t.Helper()
	e := resp.GetError()
	if resp.GetId() != id || e == nil {
		t.Fatalf("answer %v; want an error for id %d", resp, id)
	}
	if codes.Code(e.GetCode()) != code || !strings.Contains(e.GetMessage(), msgPart) {
		t.Fatalf("answer %d: %v %q; want %v mentioning %q", id, codes.Code(e.GetCode()), e.GetMessage(), code, msgPart)
	}
	// Each answer carries its reason as a unary call's status does.
	st := status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()})
	if r := rpctypes.ReasonOf(st.Err()); rpctypes.ErrorInfo(st.Err()) == nil || r.Code() != code {
		t.Fatalf("answer %d: reason %q (ErrorInfo %v); want one of code %v", id, r, rpctypes.ErrorInfo(st.Err()), code)
	}
}

func TestPipelineAnswersAsRequestsComplete(t *testing.T) {
	g := newGated(t)
	stream := startPipeline(t, g, quiet)
	send(t, stream,
		&ktgrpcv1.PipelineRequest{Id: 10, Op: &ktgrpcv1.PipelineRequest_Set{Set: &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}}},
	)
	if resp := recv(t, stream); resp.GetId() != 10 || resp.GetSet() == nil {
		t.Fatalf("set answer %v", resp)
	}
	send(t, stream, getOp(1, "block:a"))
	<-g.entered
	// The second request overtakes the first, which the backend holds.
	send(t, stream, getOp(2, "k"))
	if resp := recv(t, stream); resp.GetId() != 2 || string(resp.GetGet().GetValue()) != "v" {
		t.Fatalf("first answer %v; want id 2 with value v", resp)
	}
	g.release <- struct{}{}
	if resp := recv(t, stream); resp.GetId() != 1 || string(resp.GetGet().GetValue()) != "released block:a" {
		t.Fatalf("second answer %v; want id 1", resp)
	}

	// Every kind of operation, then the end of the stream once answered.
	send(t, stream,
		&ktgrpcv1.PipelineRequest{Id: 3, Op: &ktgrpcv1.PipelineRequest_SetBulk{SetBulk: &ktgrpcv1.SetBulkRequest{Records: []*ktgrpcv1.SetBulkRequest_Entry{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}}}}},
	)
	if resp := recv(t, stream); resp.GetSetBulk().GetStored() != 2 {
		t.Fatalf("set_bulk answer %v", resp)
	}
	send(t, stream, &ktgrpcv1.PipelineRequest{Id: 4, Op: &ktgrpcv1.PipelineRequest_GetBulk{GetBulk: &ktgrpcv1.GetBulkRequest{Keys: [][]byte{[]byte("a"), []byte("x"), []byte("b")}}}})
	if resp := recv(t, stream); len(resp.GetGetBulk().GetRecords()) != 2 {
		t.Fatalf("get_bulk answer %v", resp)
	}
	send(t, stream, &ktgrpcv1.PipelineRequest{Id: 5, Op: &ktgrpcv1.PipelineRequest_RemoveBulk{RemoveBulk: &ktgrpcv1.RemoveBulkRequest{Keys: [][]byte{[]byte("a"), []byte("x")}}}})
	if resp := recv(t, stream); resp.GetRemoveBulk().GetRemoved() != 1 {
		t.Fatalf("remove_bulk answer %v", resp)
	}
	send(t, stream,
		&ktgrpcv1.PipelineRequest{Id: 6, Op: &ktgrpcv1.PipelineRequest_Remove{Remove: &ktgrpcv1.RemoveRequest{Key: []byte("b")}}},
		getOp(7, "block:last"),
	)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if resp := recv(t, stream); resp.GetId() != 6 || !resp.GetRemove().GetRemoved() {
		t.Fatalf("remove answer %v", resp)
	}
	// The stream stays open for the answer still due after CloseSend.
	<-g.entered
	g.release <- struct{}{}
	if resp := recv(t, stream); resp.GetId() != 7 {
		t.Fatalf("last answer %v; want id 7", resp)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last answer: %v; want EOF", err)
	}
}

func TestPipelineErrorsAreAnswers(t *testing.T) {
	g := newGated(t)
	stream := startPipeline(t, g, server.Options{HealthInterval: quiet.HealthInterval, ReadOnly: true, Limits: server.Limits{MaxBulkKeys: 2}})
	send(t, stream, getOp(1, ""))
	wantAnswerError(t, recv(t, stream), 1, codes.InvalidArgument, "key must not be empty")
	send(t, stream, &ktgrpcv1.PipelineRequest{Id: 2})
	wantAnswerError(t, recv(t, stream), 2, codes.InvalidArgument, "no operation")
	send(t, stream, getOp(3, "fail:x"))
	wantAnswerError(t, recv(t, stream), 3, codes.Unavailable, "connection reset")
	// The same rights and limits as the unary calls.
	send(t, stream, &ktgrpcv1.PipelineRequest{Id: 4, Op: &ktgrpcv1.PipelineRequest_Set{Set: &ktgrpcv1.SetRequest{Key: []byte("k")}}})
	wantAnswerError(t, recv(t, stream), 4, codes.PermissionDenied, "read-only")
	send(t, stream, &ktgrpcv1.PipelineRequest{Id: 5, Op: &ktgrpcv1.PipelineRequest_GetBulk{GetBulk: &ktgrpcv1.GetBulkRequest{Keys: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}}})
	wantAnswerError(t, recv(t, stream), 5, codes.InvalidArgument, "--max-bulk-keys")

	// An id in flight cannot be given again; once answered, it can.
	send(t, stream, getOp(6, "block:a"))
	<-g.entered
	send(t, stream, getOp(6, "other"))
	wantAnswerError(t, recv(t, stream), 6, codes.InvalidArgument, "already in use")
	g.release <- struct{}{}
	if resp := recv(t, stream); resp.GetId() != 6 || !resp.GetGet().GetFound() {
		t.Fatalf("answer %v; want the blocked get of id 6", resp)
	}
	send(t, stream, getOp(6, "missing"))
	if resp := recv(t, stream); resp.GetId() != 6 || resp.GetGet() == nil || resp.GetGet().GetFound() {
		t.Fatalf("answer %v; want id 6 not found", resp)
	}
}

// With depth 4 and 12 requests sent at once, the backend never holds more
// than 4, and holds 4 whenever 4 are unanswered.
func TestPipelineBoundsRequestsInFlight(t *testing.T) {
	const depth, total = 4, 12
	g := newGated(t)
	stream := startPipeline(t, g, server.Options{HealthInterval: quiet.HealthInterval, PipelineDepth: depth})
	sent := make(chan error, 1)
	go func() {
		for i := range total {
			if err := stream.Send(getOp(uint64(i), fmt.Sprintf("block:%d", i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	entered, blocked := 0, 0
	for answered := 0; answered < total; answered++ {
		for blocked < depth && entered < total {
			<-g.entered
			entered++
			blocked++
		}
		g.release <- struct{}{}
		blocked--
		recv(t, stream)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after every answer: %v; want EOF", err)
	}
	if most := g.most.Load(); most != depth {
		t.Fatalf("the backend held up to %d requests at once; want the depth, %d", most, depth)
	}
}

// A cancelled stream cancels the requests it carries.
func TestPipelineCancelEndsRequests(t *testing.T) {
	g := newGated(t)
	_, conn := gatewaytest.StartServer(t, g, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := ktgrpcv1.NewKVClient(conn).Pipeline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send(t, stream, getOp(1, "block:a"), getOp(2, "block:b"))
	<-g.entered
	<-g.entered
	cancel()
	got := map[string]bool{<-g.canceled: true, <-g.canceled: true}
	if !got["block:a"] || !got["block:b"] {
		t.Fatalf("cancelled backend calls %v; want both", got)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("recv after cancel: %v; want Canceled", err)
	}
}

// Requests on other streams of the same connection go on while one stream
// has its whole depth blocked.
func TestPipelineStreamsAreIndependent(t *testing.T) {
	g := newGated(t)
	_, conn := gatewaytest.StartServer(t, g, server.Options{HealthInterval: quiet.HealthInterval, PipelineDepth: 1})
	kv := ktgrpcv1.NewKVClient(conn)
	first, err := kv.Pipeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	send(t, first, getOp(1, "block:a"), getOp(2, "k"))
	<-g.entered
	second, err := kv.Pipeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	send(t, second, getOp(1, "k"))
	if resp := recv(t, second); resp.GetId() != 1 || resp.GetGet() == nil {
		t.Fatalf("second stream's answer %v", resp)
	}
	g.release <- struct{}{}
	if a, b := recv(t, first), recv(t, first); a.GetId() != 1 || b.GetId() != 2 {
		t.Fatalf("first stream's answers %d, %d; want 1 then 2 with depth 1", a.GetId(), b.GetId())
	}
}

// counting is an embedded store that counts its Gets.
type counting struct {
	backend.Backend
	gets atomic.Int64
}

func (c *counting) Get(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, db, key)
}

// A client that sends without reading holds the gateway at its bound: the
// gateway reads no more requests than the depth plus the answers the
// connection's flow-control windows take, and ends the stream once the
// client has read nothing for the stall timeout. The client reads nothing
// until the gateway's call log says the stream ended.
func TestPipelineClientThatDoesNotReadIsHeld(t *testing.T) {
	const depth, total = 4, 200
	c := &counting{Backend: newGated(t).Backend}
	if err := c.Set(t.Context(), "", []byte("big"), make([]byte, 1<<20), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	ended := &codeLogged{code: codes.ResourceExhausted.String(), seen: make(chan struct{})}
	stream := startPipeline(t, c, server.Options{HealthInterval: quiet.HealthInterval, PipelineDepth: depth,
		StallTimeout: 100 * time.Millisecond, Logger: slog.New(ended)})
	for i := range total {
		if err := stream.Send(getOp(uint64(i), "big")); err != nil {
			// The gateway ended the stream; Recv says why.
			break
		}
	}
	select {
	case <-ended.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not end the stream of a client that read nothing")
	}
	var err error
	for err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "read nothing for 100ms")
	if n := c.gets.Load(); n >= total {
		t.Fatalf("the gateway read all %d requests of a client that read no answer", n)
	}
}

// codeLogged is a log handler that closes seen at the first record naming
// code among its attributes: the gateway's call log of a call that ended
// with it.
type codeLogged struct {
	code string
	once sync.Once
	seen chan struct{}
}

func (h *codeLogged) Enabled(context.Context, slog.Level) bool { return true }
func (h *codeLogged) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *codeLogged) WithGroup(string) slog.Handler            { return h }
func (h *codeLogged) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.String() == h.code {
			h.once.Do(func() { close(h.seen) })
			return false
		}
		return true
	})
	return nil
}

// Each pipelined request needs its own unary call's right.
func TestPipelineRequestsNeedTheirRights(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: quiet.HealthInterval, Access: tokenTable(t)})
	stream, err := ktgrpcv1.NewKVClient(conn).Pipeline(withToken(t.Context(), "read-token"))
	if err != nil {
		t.Fatal(err)
	}
	send(t, stream, &ktgrpcv1.PipelineRequest{Id: 1, Op: &ktgrpcv1.PipelineRequest_Set{Set: &ktgrpcv1.SetRequest{Key: []byte("k")}}})
	wantAnswerError(t, recv(t, stream), 1, codes.PermissionDenied, `caller "read" lacks the write right that /ktgrpc.v1.KV/Set needs`)
	send(t, stream, getOp(2, "k"))
	if resp := recv(t, stream); resp.GetId() != 2 || resp.GetGet() == nil {
		t.Fatalf("get answer %v", resp)
	}
}

// Stopping the gateway ends a pipeline with UNAVAILABLE, cancelling what it
// still carries.
func TestPipelineEndsOnStop(t *testing.T) {
	g := newGated(t)
	srv, conn := gatewaytest.StartServer(t, g, quiet)
	stream, err := ktgrpcv1.NewKVClient(conn).Pipeline(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	send(t, stream, getOp(1, "block:a"))
	<-g.entered
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(t.Context()) }()
	if got := <-g.canceled; got != "block:a" {
		t.Fatalf("cancelled %q", got)
	}
	_, err = stream.Recv()
	wantCode(t, err, codes.Unavailable, "shutting down")
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}
