package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// quiet keeps the periodic health check out of the way of tests that drive
// it themselves.
var quiet = server.Options{HealthInterval: time.Hour}

func wantCode(t *testing.T, err error, code codes.Code, msgPart string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if !strings.Contains(st.Message(), msgPart) {
		t.Fatalf("message %q does not mention %q", st.Message(), msgPart)
	}
}

func TestScriptCallConverts(t *testing.T) {
	f := &fake{}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	c := ktgrpcv1.NewScriptClient(conn)
	ctx := t.Context()

	resp, err := c.Call(ctx, &ktgrpcv1.CallRequest{
		Name: "echo",
		Args: []*ktgrpcv1.Pair{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("a"), Value: []byte("2")}},
		Lock: ktgrpcv1.LockMode_LOCK_MODE_RECORD,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetSucceeded() || len(resp.GetResults()) != 1 || string(resp.GetResults()[0].GetValue()) != "echo" {
		t.Fatalf("Call response = %v", resp)
	}
	want := scriptCall{"echo", []backend.Pair{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("a"), Value: []byte("2")}}, backend.LockRecord}
	if got := f.lastCall(); !reflect.DeepEqual(got, want) {
		t.Fatalf("backend got %+v, want %+v", got, want)
	}

	resp, err = c.Call(ctx, &ktgrpcv1.CallRequest{Name: "fail"})
	if err != nil || resp.GetSucceeded() || len(resp.GetResults()) != 0 {
		t.Fatalf("logical failure: resp %v, err %v; want succeeded=false, no results, no error", resp, err)
	}

	_, err = c.Call(ctx, &ktgrpcv1.CallRequest{})
	wantCode(t, err, codes.InvalidArgument, "name must not be empty")
}

func TestTableConverts(t *testing.T) {
	f := &fake{}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	c := ktgrpcv1.NewTableClient(conn)
	ctx := t.Context()

	put, err := c.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("k"), Columns: map[string][]byte{"a": []byte("1")}, Mode: ktgrpcv1.PutMode_PUT_MODE_KEEP})
	if err != nil || put.GetApplied() {
		t.Fatalf("Put keep: %v, %v; want applied=false from the backend", put, err)
	}
	if got := f.lastCall().(tablePutCall); got.mode != backend.PutKeep || string(got.cols["a"]) != "1" || got.key != "k" {
		t.Fatalf("backend TablePut got %+v", got)
	}

	get, err := c.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("missing")})
	if err != nil || get.GetFound() {
		t.Fatalf("Get missing: %v, %v", get, err)
	}

	search, err := c.Search(ctx, &ktgrpcv1.TableSearchRequest{
		Conditions: []*ktgrpcv1.Condition{
			{Column: "age", Operator: ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_GE, Expr: "18", NoIndex: true},
			{Column: "name", Operator: ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_FTS_EXPRESSION, Expr: "a && b", Negate: true},
		},
		Order:   &ktgrpcv1.Order{Column: "age", Type: ktgrpcv1.OrderType_ORDER_TYPE_NUM_DESC},
		Limit:   10,
		Offset:  5,
		Action:  ktgrpcv1.SearchAction_SEARCH_ACTION_GET,
		Columns: []string{"name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if search.GetCount() != 7 || len(search.GetRows()) != 1 || string(search.GetRows()[0].GetColumns()["c"]) != "1" {
		t.Fatalf("Search response = %v", search)
	}
	wantQ := backend.Query{
		Conditions: []backend.Condition{
			{Column: "age", Op: backend.CondNumGE, Expr: "18", NoIndex: true},
			{Column: "name", Op: backend.CondFTSExpression, Expr: "a && b", Negate: true},
		},
		HasOrder: true, OrderColumn: "age", Order: backend.OrderNumDesc,
		Limit: 10, Offset: 5, Action: backend.SearchGet, Columns: []string{"name"},
	}
	if got := f.lastCall(); !reflect.DeepEqual(got, wantQ) {
		t.Fatalf("backend query = %+v, want %+v", got, wantQ)
	}

	_, err = c.Search(ctx, &ktgrpcv1.TableSearchRequest{Conditions: []*ktgrpcv1.Condition{{Column: "a", Expr: "x"}}})
	wantCode(t, err, codes.InvalidArgument, "conditions[0].operator")
	_, err = c.Search(ctx, &ktgrpcv1.TableSearchRequest{Order: &ktgrpcv1.Order{Column: "a"}})
	wantCode(t, err, codes.InvalidArgument, "order.type")
	_, err = c.Search(ctx, &ktgrpcv1.TableSearchRequest{Limit: -1})
	wantCode(t, err, codes.InvalidArgument, "limit must not be negative")
	_, err = c.Search(ctx, &ktgrpcv1.TableSearchRequest{Offset: -1})
	wantCode(t, err, codes.InvalidArgument, "offset must not be negative")
	_, err = c.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("k"), Columns: map[string][]byte{"a\x00b": nil}})
	wantCode(t, err, codes.InvalidArgument, "NUL")
	// Tokyo Tyrant refuses a column named ""; the gateway says so itself.
	_, err = c.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("k"), Columns: map[string][]byte{"": []byte("v")}})
	wantCode(t, err, codes.InvalidArgument, "empty name")

	idx, err := c.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "name", Type: ktgrpcv1.IndexType_INDEX_TYPE_VOID, Keep: true})
	if err != nil || !idx.GetApplied() {
		t.Fatalf("SetIndex: %v, %v", idx, err)
	}
	if got, want := f.lastCall(), (setIndexCall{"name", backend.IndexVoid, true}); got != want {
		t.Fatalf("backend SetIndex got %+v, want %+v", got, want)
	}
	_, err = c.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "name"})
	wantCode(t, err, codes.InvalidArgument, "type")

	id, err := c.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{})
	if err != nil || id.GetId() != 42 {
		t.Fatalf("GenerateID: %v, %v", id, err)
	}
}

func TestAdminBackendSpecificCalls(t *testing.T) {
	f := &fake{}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	c := ktgrpcv1.NewAdminClient(conn)
	ctx := t.Context()

	check := func(err error, want any) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if got := f.lastCall(); !reflect.DeepEqual(got, want) {
			t.Fatalf("backend got %+v, want %+v", got, want)
		}
	}
	_, err := c.Optimize(ctx, &ktgrpcv1.OptimizeRequest{Db: "0", Params: "#bnum=1000"})
	check(err, optimizeCall{"0", "#bnum=1000"})
	_, err = c.Copy(ctx, &ktgrpcv1.CopyRequest{Path: "/tmp/x"})
	check(err, copyCall{"", "/tmp/x"})
	_, err = c.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "/ulog", Position: 9, CheckConsistency: true})
	check(err, restoreCall{"", "/ulog", 9, true})
	_, err = c.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{Host: "m", Port: 1978, Position: 3})
	check(err, masterCall{"m", 1978, 3, false})
	misc, err := c.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "getlist", Args: [][]byte{[]byte("k")}, NoUpdateLog: true})
	check(err, miscCall{"", "getlist", [][]byte{[]byte("k")}, true})
	if !misc.GetSucceeded() || len(misc.GetResults()) != 1 {
		t.Fatalf("Misc response = %v", misc)
	}
	_, err = c.TuneReplication(ctx, &ktgrpcv1.TuneReplicationRequest{Host: "m", Port: 1978, Interval: durationpb.New(2 * time.Second)})
	check(err, tuneCall{"m", 1978, 0, 2 * time.Second})
	logs, err := c.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
	if err != nil || len(logs.GetFiles()) != 1 || logs.GetFiles()[0].GetMaxPosition() != 99 {
		t.Fatalf("ListUpdateLogs: %v, %v", logs, err)
	}
	_, err = c.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{})
	check(err, removeLogsCall{nil})
	before := uint64(5)
	_, err = c.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{Before: &before})
	if err != nil || *f.lastCall().(removeLogsCall).before != 5 {
		t.Fatalf("RemoveUpdateLogs before=5: %v, %+v", err, f.lastCall())
	}

	_, err = c.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{Host: "m", Port: 70000})
	wantCode(t, err, codes.InvalidArgument, "port must be at most 65535")
	_, err = c.TuneReplication(ctx, &ktgrpcv1.TuneReplicationRequest{Host: "m", Port: 1, Interval: durationpb.New(-time.Second)})
	wantCode(t, err, codes.InvalidArgument, "interval must not be negative")
	_, err = c.Misc(ctx, &ktgrpcv1.MiscRequest{})
	wantCode(t, err, codes.InvalidArgument, "name must not be empty")
}

func TestPanicBecomesInternal(t *testing.T) {
	// The fake does not implement Status, so the call panics inside the
	// handler.
	_, conn := gatewaytest.StartServer(t, &fake{}, quiet)
	c := ktgrpcv1.NewAdminClient(conn)
	_, err := c.Status(t.Context(), &ktgrpcv1.StatusRequest{})
	wantCode(t, err, codes.Internal, "internal error")

	// The server survives the panic.
	get, err := ktgrpcv1.NewKVClient(conn).Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")})
	if err != nil || !get.GetFound() {
		t.Fatalf("Get after a panic: %v, %v", get, err)
	}
}

func TestSubscribeProgress(t *testing.T) {
	f := &fake{updates: make(chan backend.Update)}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := ktgrpcv1.NewReplicationClient(conn).Subscribe(ctx, &ktgrpcv1.SubscribeRequest{
		Start:            &ktgrpcv1.SubscribeRequest_After{After: 3},
		Dbs:              []string{"x"},
		KeyPrefix:        []byte("p"),
		Operations:       []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_SET, ktgrpcv1.Operation_OPERATION_CLEAR},
		ProgressInterval: durationpb.New(10 * time.Millisecond),
		ServerId:         77,
	})
	if err != nil {
		t.Fatal(err)
	}
	progress := func(want uint64) {
		t.Helper()
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetProgress() == nil || m.GetProgress().GetPosition() != want {
			t.Fatalf("got %v, want progress %d", m, want)
		}
	}

	// The first update without an event ends the replay: progress at once.
	f.updates <- backend.Update{Position: 5}
	progress(5)
	// The hub reads the log once, unfiltered, and filters in the gateway.
	wantOpts := backend.SubscribeOptions{After: 3}
	if got := f.lastCall(); !reflect.DeepEqual(got, wantOpts) {
		t.Fatalf("backend options = %+v, want %+v", got, wantOpts)
	}

	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.updates <- backend.Update{Position: 6, Event: &backend.Event{
		Position: 6, OriginSID: 2, DB: "x", Op: backend.OpSet, Key: []byte("pk"), Value: []byte("v"),
		ExpireTime: exp, Command: "set",
	}}
	m, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	ev := m.GetEvent()
	if ev.GetPosition() != 6 || ev.GetOperation() != ktgrpcv1.Operation_OPERATION_SET || string(ev.GetKey()) != "pk" ||
		ev.GetDb() != "x" || ev.GetOriginServerId() != 2 || !ev.GetExpireTime().AsTime().Equal(exp) || ev.GetCommand() != "set" {
		t.Fatalf("event = %v", ev)
	}

	// A withheld event (it originated from the subscriber's server id)
	// moves the position; a tick reports it.
	f.updates <- backend.Update{Position: 7, Event: &backend.Event{Position: 7, OriginSID: 77, DB: "x", Op: backend.OpSet, Key: []byte("pq")}}
	progress(7)

	// Nothing new: no repeated progress, so the next message is the event.
	f.updates <- backend.Update{Position: 8, Event: &backend.Event{Position: 8, Op: backend.OpClear, DB: "x"}}
	m, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetEvent().GetPosition() != 8 || m.GetEvent().GetOperation() != ktgrpcv1.Operation_OPERATION_CLEAR {
		t.Fatalf("got %v, want the CLEAR event at 8", m)
	}
}

func TestSubscribeValidation(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, &fake{}, quiet)
	c := ktgrpcv1.NewReplicationClient(conn)
	for _, tc := range []struct {
		req  *ktgrpcv1.SubscribeRequest
		want string
	}{
		{&ktgrpcv1.SubscribeRequest{ProgressInterval: durationpb.New(time.Millisecond)}, "progress_interval must be at least 10ms"},
		{&ktgrpcv1.SubscribeRequest{ProgressInterval: durationpb.New(-time.Second)}, "progress_interval must be at least 10ms"},
		{&ktgrpcv1.SubscribeRequest{Operations: []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_UNSPECIFIED}}, "operations[0]"},
	} {
		stream, err := c.Subscribe(t.Context(), tc.req)
		if err == nil {
			_, err = stream.Recv()
		}
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
}

func TestStopHardWhenContextEnds(t *testing.T) {
	f := &fake{block: make(chan struct{}), entered: make(chan struct{})}
	defer close(f.block)
	srv, conn := gatewaytest.StartServer(t, f, quiet)

	got := make(chan error, 1)
	go func() {
		_, err := ktgrpcv1.NewKVClient(conn).Get(context.Background(), &ktgrpcv1.GetRequest{Key: []byte("k")})
		got <- err
	}()
	<-f.entered

	// The unary call never finishes by itself, so only the hard stop can end
	// it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with an ended context = %v, want context.Canceled", err)
	}
	wantCode(t, <-got, codes.Unavailable, "")
}

func TestHealthFollowsPing(t *testing.T) {
	f := &fake{}
	srv, conn := gatewaytest.StartServer(t, f, quiet)
	h := healthpb.NewHealthClient(conn)
	ctx := t.Context()

	statusOf := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health check %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	services := []string{"", "ktgrpc.v1.KV", "ktgrpc.v1.Cursor", "ktgrpc.v1.Script", "ktgrpc.v1.Replication", "ktgrpc.v1.Admin", "ktgrpc.v1.Table"}

	if err := srv.CheckHealth(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		if st := statusOf(s); st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%q: %v, want SERVING", s, st)
		}
	}
	f.setPingErr(errors.New("connection refused"))
	if err := srv.CheckHealth(ctx); err == nil {
		t.Fatal("CheckHealth returned nil while Ping fails")
	}
	for _, s := range services {
		if st := statusOf(s); st != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("%q: %v, want NOT_SERVING", s, st)
		}
	}
	f.setPingErr(nil)
	if err := srv.CheckHealth(ctx); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(""); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after recovery: %v, want SERVING", st)
	}
}

func TestHealthWatcherPingsOnStart(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, &fake{}, quiet)
	w, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "ktgrpc.v1.KV"})
	if err != nil {
		t.Fatal(err)
	}
	// The status starts NOT_SERVING and turns SERVING once the watcher's
	// first ping answers, without anyone calling CheckHealth.
	for {
		resp, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

func TestCursorClosedWhenClientCancels(t *testing.T) {
	f := &fake{cursorClosed: make(chan struct{})}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := ktgrpcv1.NewCursorClient(conn).Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ktgrpcv1.OpenRequest{Db: "7", Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || !resp.GetOk() {
		t.Fatalf("JUMP: %v, %v", resp, err)
	}
	if got := f.lastCall(); got != (getCall{db: "7"}) {
		t.Fatalf("cursor opened with %+v, want db 7", got)
	}
	cancel()
	// Close is reported through the channel; a leak would hang here until
	// the test binary's timeout.
	<-f.cursorClosed
}

// A client that goes away ends the backend's subscription too: nothing of
// the stream outlives it.
func TestSubscribeEndsWhenClientCancels(t *testing.T) {
	f := &fake{updates: make(chan backend.Update), subscribeDone: make(chan struct{})}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := ktgrpcv1.NewReplicationClient(conn).Subscribe(ctx, &ktgrpcv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The backend is subscribed once it delivers.
	f.updates <- backend.Update{Position: 1}
	if m, err := stream.Recv(); err != nil || m.GetProgress().GetPosition() != 1 {
		t.Fatalf("first message %v, %v; want progress 1", m, err)
	}
	cancel()
	// A leak would hang here until the test binary's timeout.
	<-f.subscribeDone
}

// A client that stops reading a scan and cancels ends the backend's walk.
func TestScanEndsWhenClientCancels(t *testing.T) {
	f := &fake{scan: []backend.Record{{Key: []byte("k")}}, scanDone: make(chan error, 1)}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := ktgrpcv1.NewCursorClient(conn).Scan(ctx, &ktgrpcv1.ScanRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-f.scanDone; err == nil {
		t.Fatal("the scan callback kept succeeding after the client cancelled")
	}
}

func TestScanSplitsLargeBatches(t *testing.T) {
	value := make([]byte, 400)
	f := &fake{scan: []backend.Record{
		{Key: []byte("a"), Value: value},
		{Key: []byte("b"), Value: value},
		{Key: []byte("c"), Value: value},
	}}
	_, conn := gatewaytest.StartServer(t, f, server.Options{HealthInterval: time.Hour, MaxMessageSize: 1000})
	stream, err := ktgrpcv1.NewCursorClient(conn).Scan(t.Context(), &ktgrpcv1.ScanRequest{Prefix: []byte("p"), Reverse: true, Limit: 9, KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(resp.GetRecords()))
	}
	// Two 400-byte records fit in 1000 bytes, three do not.
	if !reflect.DeepEqual(sizes, []int{2, 1}) {
		t.Fatalf("message sizes = %v, want [2 1]", sizes)
	}
	want := backend.ScanOptions{Prefix: []byte("p"), Reverse: true, Limit: 9, KeysOnly: true, BatchSize: server.DefaultScanBatch}
	if got := f.lastCall(); !reflect.DeepEqual(got, want) {
		t.Fatalf("backend scan options = %+v, want %+v", got, want)
	}
}

// syncBuffer is a log sink the test reads while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestCallsAndPanicsAreLogged(t *testing.T) {
	var logs syncBuffer
	srv, conn := gatewaytest.StartServer(t, &fake{}, server.Options{
		HealthInterval: time.Hour,
		Logger:         slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := ktgrpcv1.NewKVClient(conn).Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	_, err := ktgrpcv1.NewAdminClient(conn).Report(t.Context(), &ktgrpcv1.ReportRequest{})
	wantCode(t, err, codes.Internal, "internal error")
	// Stopping waits for the handlers, and with them for their log lines.
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"grpc.method=Get", "grpc.code=OK", "panic in gRPC handler", "goroutine", "grpc.method=Report", "grpc.code=Internal"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// Every call's line carries the same fields.
	var get string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "grpc.method=Get") {
			get = line
		}
	}
	for _, want := range []string{`msg="finished call"`, "level=DEBUG", "protocol=grpc", "grpc.component=server", "grpc.service=ktgrpc.v1.KV",
		"grpc.method_type=unary", "peer.address=127.0.0.1:", "grpc.start_time=", "grpc.request.deadline=", "grpc.time_ms="} {
		if !strings.Contains(get, want) {
			t.Errorf("the Get's line lacks %q: %s", want, get)
		}
	}
	if !strings.Contains(out, "grpc.error=") {
		t.Errorf("the failed call's line has no grpc.error:\n%s", out)
	}
}

func TestSuccessfulCallsLogOnlyAtDebug(t *testing.T) {
	var logs syncBuffer
	srv, conn := gatewaytest.StartServer(t, &fake{}, server.Options{
		HealthInterval: time.Hour,
		Logger:         slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	kv := ktgrpcv1.NewKVClient(conn)
	if _, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	_, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{})
	wantCode(t, err, codes.InvalidArgument, "key")
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Contains(out, "grpc.code=OK") {
		t.Errorf("a successful call was logged at info:\n%s", out)
	}
	if !strings.Contains(out, "grpc.code=InvalidArgument") || !strings.Contains(out, "level=INFO") {
		t.Errorf("a rejected call was not logged at info:\n%s", out)
	}
}

// Streams of the services beside ktgrpc's own, a health Watch and a
// reflection stream, wait for their clients indefinitely; a graceful stop must
// end them rather than wait until its deadline forces the stop.
func TestStopEndsHealthAndReflectionStreams(t *testing.T) {
	srv, conn := gatewaytest.StartServer(t, &fake{}, quiet)
	if err := srv.CheckHealth(t.Context()); err != nil {
		t.Fatal(err)
	}
	watch, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status %v, %v; want SERVING", resp, err)
	}
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := refl.Recv(); err != nil {
		t.Fatal(err)
	}

	// The deadline only keeps a regression from hanging the test: a stop
	// that needs it has failed.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v; want a graceful stop", err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			wantCode(t, err, codes.Unavailable, "shutting down")
			break
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("health status during stop = %v; want NOT_SERVING", resp.GetStatus())
		}
	}
	_, err = refl.Recv()
	wantCode(t, err, codes.Unavailable, "shutting down")
}
