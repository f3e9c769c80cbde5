package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ktgrpc/ktgrpc/backend/kt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// These tests drive the whole path: a gRPC client, the gateway, the Kyoto
// Tycoon adapter and a KT-compatible server (kttest). In kttest, database 0
// ("*") is a hash database and database 1 ("%") a tree database, as in the
// recordings of the real server.

type ktEnv struct {
	t      *testing.T
	ctx    context.Context
	server *kttest.Server
	b      *kt.Backend
	conn   *grpc.ClientConn
	kv     ktgrpcv1.KVClient
	cursor ktgrpcv1.CursorClient
	script ktgrpcv1.ScriptClient
	repl   ktgrpcv1.ReplicationClient
	admin  ktgrpcv1.AdminClient
	table  ktgrpcv1.TableClient
	// ends reports the streams the gateway finishes (see callEnds).
	ends <-chan string
}

// startKT runs the gateway on a KT adapter. addr overrides the address the
// adapter dials (a fault proxy in front of the server).
func startKT(t *testing.T, query string, proxied func(target string) string) *ktEnv {
	t.Helper()
	srv := kttest.Start(t)
	addr := srv.Addr()
	if proxied != nil {
		addr = proxied(addr)
	}
	u, err := url.Parse("kt://" + addr + "?" + query)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	b, err := kt.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway pings the backend when it starts and then every
	// HealthInterval. The tests count the adapter's connections, so the
	// first ping must be over before they start and no other may come.
	logger, ends := callEnds()
	_, conn := gatewaytest.StartServer(t, b, server.Options{HealthInterval: time.Hour, Logger: logger})
	// Cleanups run last-in first-out: the gateway stops before the backend
	// closes.
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: ktgrpcv1.KV_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("waiting for the gateway's first health check: %v", err)
		}
		if resp.Status == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}
	return &ktEnv{
		t: t, ctx: ctx, server: srv, b: b, conn: conn, ends: ends,
		kv:     ktgrpcv1.NewKVClient(conn),
		cursor: ktgrpcv1.NewCursorClient(conn),
		script: ktgrpcv1.NewScriptClient(conn),
		repl:   ktgrpcv1.NewReplicationClient(conn),
		admin:  ktgrpcv1.NewAdminClient(conn),
		table:  ktgrpcv1.NewTableClient(conn),
	}
}

func (e *ktEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *ktEnv) set(db string, key, value []byte) {
	e.t.Helper()
	_, err := e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Db: db, Key: key, Value: value})
	e.must(err)
}

func (e *ktEnv) get(db string, key []byte) *ktgrpcv1.GetResponse {
	e.t.Helper()
	resp, err := e.kv.Get(e.ctx, &ktgrpcv1.GetRequest{Db: db, Key: key})
	e.must(err)
	return resp
}

// noLeaks checks that the adapter holds no connection beyond its idle ones,
// that the server sees exactly those, and that no server cursor is left:
// cursor streams and scans delete theirs when they end.
func (e *ktEnv) noLeaks() {
	e.t.Helper()
	if err := e.server.WaitCursorCount(e.ctx, 0); err != nil {
		e.t.Errorf("server cursors: %v", err)
	}
	s, cs := e.b.PoolStats(), e.b.CursorStats()
	if s.InUse != 0 || cs.InUse != 0 {
		e.t.Errorf("connections still in use: calls %+v, cursors %+v", s, cs)
	}
	if err := e.server.WaitConnCount(e.ctx, s.Open+cs.Open); err != nil {
		e.t.Errorf("server connections vs the pools' %+v and %+v: %v", s, cs, err)
	}
}

func TestKTBinaryUnsafeKeysAndValues(t *testing.T) {
	e := startKT(t, "", nil)
	values := []byte{0, '\t', '\n', '\r', 0xff, 0xfe, 0x80, 'x'}
	keys := [][]byte{[]byte("nul\x00"), []byte("tab\t"), []byte("nl\n"), []byte("\xc3\x28 not utf-8")}
	for _, db := range []string{"", "%"} {
		for i, k := range keys {
			v := append(bytes.Clone(values), byte(i))
			e.set(db, k, v)
			if got := e.get(db, k); !got.Found || !bytes.Equal(got.Value, v) || got.ExpireTime != nil {
				t.Errorf("db %q key %q: %v", db, k, got)
			}
		}
		bulk, err := e.kv.GetBulk(e.ctx, &ktgrpcv1.GetBulkRequest{Db: db, Keys: [][]byte{keys[3], []byte("missing"), keys[0]}})
		e.must(err)
		if len(bulk.Records) != 2 || !bytes.Equal(bulk.Records[0].Key, keys[3]) || !bytes.Equal(bulk.Records[1].Key, keys[0]) {
			t.Errorf("db %q GetBulk: %v", db, bulk.Records)
		}
		// The RPC path (Replace, Check, Seize) carries the same bytes.
		rep, err := e.kv.Replace(e.ctx, &ktgrpcv1.ReplaceRequest{Db: db, Key: keys[1], Value: []byte("\x00\t\n")})
		e.must(err)
		seized, err := e.kv.Seize(e.ctx, &ktgrpcv1.SeizeRequest{Db: db, Key: keys[1]})
		e.must(err)
		if !rep.Applied || !seized.Found || string(seized.Value) != "\x00\t\n" {
			t.Errorf("db %q Replace+Seize: %v %v", db, rep, seized)
		}
		match, err := e.kv.MatchKeys(e.ctx, &ktgrpcv1.MatchKeysRequest{Db: db, Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: []byte("nl\n")}})
		e.must(err)
		if len(match.Keys) != 1 || !bytes.Equal(match.Keys[0], keys[2]) {
			t.Errorf("db %q MatchKeys: %q", db, match.Keys)
		}
	}
	e.noLeaks()
}

func TestKTLargeValues(t *testing.T) {
	e := startKT(t, "", nil)
	big := make([]byte, 8<<20+7)
	for i := range big {
		big[i] = byte(i * 7)
	}
	e.set("", []byte("big"), big)
	if got := e.get("", []byte("big")); !bytes.Equal(got.Value, big) {
		t.Fatalf("binary path: %d bytes back of %d", len(got.Value), len(big))
	}
	big[1] = 'X'
	// Add and Seize travel over TSV-RPC, Base64-encoded.
	add, err := e.kv.Add(e.ctx, &ktgrpcv1.AddRequest{Db: "%", Key: []byte("big"), Value: big})
	e.must(err)
	seized, err := e.kv.Seize(e.ctx, &ktgrpcv1.SeizeRequest{Db: "%", Key: []byte("big")})
	e.must(err)
	if !add.Applied || !bytes.Equal(seized.Value, big) {
		t.Fatalf("RPC path: added %v, %d bytes back", add.Applied, len(seized.Value))
	}
	e.noLeaks()
}

func TestKTExpiration(t *testing.T) {
	e := startKT(t, "", nil)
	at := time.Unix(4102444800, 0)
	_, err := e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Key: []byte("at"), Value: []byte("v"),
		Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: timestamppb.New(at)}})
	e.must(err)
	before := time.Now()
	_, err = e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Key: []byte("ttl"), Value: []byte("v"),
		Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(90 * time.Minute)}})
	e.must(err)
	_, err = e.kv.Add(e.ctx, &ktgrpcv1.AddRequest{Db: "%", Key: []byte("rpc"), Value: []byte("v"),
		Expiration: &ktgrpcv1.AddRequest_ExpireTime{ExpireTime: timestamppb.New(at)}})
	e.must(err)
	e.set("", []byte("never"), []byte("v"))

	if got := e.get("", []byte("at")).ExpireTime; !got.AsTime().Equal(at) {
		t.Errorf("absolute expiration read back as %v", got.AsTime())
	}
	got := e.get("", []byte("ttl")).ExpireTime.AsTime()
	if want := before.Add(90 * time.Minute); got.Before(want.Add(-5*time.Second)) || got.After(want.Add(5*time.Second)) {
		t.Errorf("TTL expiration read back as %v, want about %v", got, want)
	}
	if got := e.get("", []byte("never")); got.ExpireTime != nil {
		t.Errorf("a record without expiration reads back %v", got.ExpireTime.AsTime())
	}
	check, err := e.kv.Check(e.ctx, &ktgrpcv1.CheckRequest{Db: "%", Key: []byte("rpc")})
	e.must(err)
	if !check.Found || !check.ExpireTime.AsTime().Equal(at) || check.ValueSize != 1 {
		t.Errorf("Check: %v", check)
	}
	check, err = e.kv.Check(e.ctx, &ktgrpcv1.CheckRequest{Key: []byte("never")})
	e.must(err)
	if check.ExpireTime != nil {
		t.Errorf("Check of a record without expiration: %v", check.ExpireTime.AsTime())
	}
	_, err = e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Key: []byte("past"), Value: []byte("v"),
		Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: timestamppb.New(time.Unix(1000000000, 0))}})
	e.must(err)
	if got := e.get("", []byte("past")); got.Found {
		t.Error("a record stored with a past expiration is readable")
	}
}

func TestKTConditionalWrites(t *testing.T) {
	e := startKT(t, "", nil)
	k := []byte("k\x00")
	add, err := e.kv.Add(e.ctx, &ktgrpcv1.AddRequest{Key: k, Value: []byte("1")})
	e.must(err)
	addAgain, err := e.kv.Add(e.ctx, &ktgrpcv1.AddRequest{Key: k, Value: []byte("2")})
	e.must(err)
	replaceMissing, err := e.kv.Replace(e.ctx, &ktgrpcv1.ReplaceRequest{Key: []byte("none"), Value: []byte("x")})
	e.must(err)
	casWrong, err := e.kv.CompareAndSwap(e.ctx, &ktgrpcv1.CompareAndSwapRequest{Key: k, OldValue: []byte("2"), NewValue: []byte("3")})
	e.must(err)
	casRight, err := e.kv.CompareAndSwap(e.ctx, &ktgrpcv1.CompareAndSwapRequest{Key: k, OldValue: []byte("1"), NewValue: []byte("3")})
	e.must(err)
	casAbsent, err := e.kv.CompareAndSwap(e.ctx, &ktgrpcv1.CompareAndSwapRequest{Key: k, NewValue: []byte("4")})
	e.must(err)
	casRemove, err := e.kv.CompareAndSwap(e.ctx, &ktgrpcv1.CompareAndSwapRequest{Key: k, OldValue: []byte("3")})
	e.must(err)
	if !add.Applied || addAgain.Applied || replaceMissing.Applied || casWrong.Swapped || !casRight.Swapped || casAbsent.Swapped || !casRemove.Swapped {
		t.Errorf("outcomes: add %v, add again %v, replace missing %v, cas wrong %v, cas right %v, cas must-not-exist %v, cas remove %v",
			add.Applied, addAgain.Applied, replaceMissing.Applied, casWrong.Swapped, casRight.Swapped, casAbsent.Swapped, casRemove.Swapped)
	}
	if e.get("", k).Found {
		t.Error("CAS without a new value left the record")
	}
	inc, err := e.kv.Increment(e.ctx, &ktgrpcv1.IncrementRequest{Key: []byte("n"), Delta: 3})
	e.must(err)
	incMissing, err := e.kv.Increment(e.ctx, &ktgrpcv1.IncrementRequest{Key: []byte("m"), Delta: 3, MustExist: true})
	e.must(err)
	if !inc.Applied || inc.Value != 3 || incMissing.Applied {
		t.Errorf("Increment: %v, must-exist on missing: %v", inc, incMissing)
	}
	e.set("", []byte("text"), []byte("abc"))
	_, err = e.kv.Increment(e.ctx, &ktgrpcv1.IncrementRequest{Key: []byte("text"), Delta: 1})
	gatewaytest.WantCode(t, err, codes.FailedPrecondition) // Increment of a text value
}

func TestKTCursorWalkBothWays(t *testing.T) {
	e := startKT(t, "", nil)
	for _, k := range []string{"a", "b", "c", "d"} {
		e.set("%", []byte(k), []byte("v"+k))
	}
	s, err := e.cursor.Open(e.ctx)
	e.must(err)
	c := &cursorStream{t: e.t, s: s}
	const (
		jump     = ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP
		jumpBack = ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK
		stepBack = ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP_BACK
		step     = ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP
		get      = ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET
		getKey   = ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY
		setValue = ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE
		remove   = ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE
		seize    = ktgrpcv1.CursorOperation_CURSOR_OPERATION_SEIZE
	)
	if r := c.must(&ktgrpcv1.OpenRequest{Db: "%", Operation: jump}); !r.Ok {
		t.Fatal("JUMP to the first record failed")
	}
	var forward []string
	for {
		r := c.must(&ktgrpcv1.OpenRequest{Operation: get, Step: true})
		if !r.Ok {
			break
		}
		forward = append(forward, string(r.Key)+"="+string(r.Value))
	}
	if fmt.Sprint(forward) != "[a=va b=vb c=vc d=vd]" {
		t.Errorf("forward walk: %v", forward)
	}
	if r := c.must(op(jumpBack)); !r.Ok {
		t.Fatal("JUMP_BACK to the last record failed")
	}
	var backward []string
	for {
		r := c.must(op(getKey))
		if !r.Ok {
			break
		}
		backward = append(backward, string(r.Key))
		if !c.must(op(stepBack)).Ok {
			break
		}
	}
	if fmt.Sprint(backward) != "[d c b a]" {
		t.Errorf("backward walk: %v", backward)
	}
	at := time.Unix(4102444800, 0)
	c.must(&ktgrpcv1.OpenRequest{Operation: jumpBack, Key: []byte("cc")})
	if r := c.must(&ktgrpcv1.OpenRequest{Operation: setValue, Value: []byte("new\x00c"),
		Expiration: &ktgrpcv1.OpenRequest_ExpireTime{ExpireTime: timestamppb.New(at)}}); !r.Ok {
		t.Error("SET_VALUE failed")
	}
	if r := c.must(op(get)); string(r.Key) != "c" || string(r.Value) != "new\x00c" || !r.ExpireTime.AsTime().Equal(at) {
		t.Errorf("after SET_VALUE: %v", r)
	}
	if r := c.must(op(stepBack)); !r.Ok {
		t.Error("STEP_BACK to b failed")
	}
	// The cursor moves backward since STEP_BACK, as a Kyoto Cabinet tree
	// cursor does: removing b leaves it on a.
	if r := c.must(op(remove)); !r.Ok {
		t.Error("REMOVE failed")
	}
	if r := c.must(op(getKey)); string(r.Key) != "a" {
		t.Errorf("after REMOVE following STEP_BACK the cursor is at %q, want a", r.Key)
	}
	if r := c.must(op(step)); !r.Ok {
		t.Error("STEP to c failed")
	}
	if r := c.must(op(seize)); !r.Ok || string(r.Key) != "c" || string(r.Value) != "new\x00c" {
		t.Errorf("SEIZE: %v", r)
	}
	if n := e.server.CursorCount(); n != 1 {
		t.Errorf("the stream's cursor: the server holds %d cursors, want 1", n)
	}
	e.must(s.CloseSend())
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("stream end: %v", err)
	}
	// The gateway deletes the cursor before it ends the stream.
	if n := e.server.CursorCount(); n != 0 {
		t.Errorf("after the stream ended the server holds %d cursors", n)
	}
	bulk, err := e.kv.GetBulk(e.ctx, &ktgrpcv1.GetBulkRequest{Db: "%", Keys: [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}})
	e.must(err)
	if len(bulk.Records) != 2 || string(bulk.Records[0].Key) != "a" || string(bulk.Records[1].Key) != "d" {
		t.Errorf("records left: %v", bulk.Records)
	}
	e.noLeaks()
}

func TestKTCursorJumpBackOnHashIsUnimplemented(t *testing.T) {
	e := startKT(t, "", nil)
	e.set("", []byte("k"), []byte("v"))
	s, err := e.cursor.Open(e.ctx)
	e.must(err)
	c := &cursorStream{t: e.t, s: s}
	_, err = c.do(&ktgrpcv1.OpenRequest{Db: "*", Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // JUMP_BACK on the hash database
	scan, err := e.cursor.Scan(e.ctx, &ktgrpcv1.ScanRequest{Reverse: true})
	e.must(err)
	_, err = scan.Recv()
	gatewaytest.WantCode(t, err, codes.Unimplemented) // reverse Scan of the hash database
	e.noLeaks()
}

func TestKTScript(t *testing.T) {
	e := startKT(t, "", nil)
	resp, err := e.script.Call(e.ctx, &ktgrpcv1.CallRequest{Name: "echo", Args: []*ktgrpcv1.Pair{
		{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("a\x00"), Value: []byte("\xff\t")},
	}})
	e.must(err)
	if !resp.Succeeded || len(resp.Results) != 2 || string(resp.Results[0].Key) != "a\x00" || string(resp.Results[0].Value) != "\xff\t" {
		t.Errorf("echo: %v", resp)
	}
	resp, err = e.script.Call(e.ctx, &ktgrpcv1.CallRequest{Name: "fail"})
	e.must(err)
	if resp.Succeeded || len(resp.Results) != 0 {
		t.Errorf("fail: %v", resp)
	}
	_, err = e.script.Call(e.ctx, &ktgrpcv1.CallRequest{Name: "internal"})
	gatewaytest.WantCode(t, err, codes.Internal) // internal
	_, err = e.script.Call(e.ctx, &ktgrpcv1.CallRequest{Name: "invalid"})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // invalid
	_, err = e.script.Call(e.ctx, &ktgrpcv1.CallRequest{Name: "nosuch"})
	gatewaytest.WantCode(t, err, codes.NotFound) // unknown procedure
	e.noLeaks()
}

func eventsText(evs []*ktgrpcv1.Event) string {
	var b bytes.Buffer
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s %s %s=%s;", ev.Db, ev.Command, ev.Key, ev.Value)
	}
	return b.String()
}

func TestKTReplicationFromPositionAndResume(t *testing.T) {
	e := startKT(t, "", nil)
	at := time.Unix(4102444800, 0)
	e.set("", []byte("before"), []byte("0"))
	sub := subscribe(e.t, e.ctx, e.repl, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}, KeyPrefix: []byte("k")})
	e.set("", []byte("k1"), []byte("v\x001"))
	_, err := e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Db: "%", Key: []byte("k2"), Value: []byte("v2"),
		Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: timestamppb.New(at)}})
	e.must(err)
	_, err = e.kv.Remove(e.ctx, &ktgrpcv1.RemoveRequest{Key: []byte("k1")})
	e.must(err)
	evs := sub.events(e.t, e.ctx, 3)
	if got := eventsText(evs); got != "0 set k1=v\x001;1 set k2=v2;0 remove k1=;" {
		t.Fatalf("events: %q", got)
	}
	if evs[0].Operation != ktgrpcv1.Operation_OPERATION_SET || evs[2].Operation != ktgrpcv1.Operation_OPERATION_REMOVE ||
		!evs[1].ExpireTime.AsTime().Equal(at) || evs[0].ExpireTime != nil || len(evs[0].Raw) == 0 {
		t.Errorf("event details: %v", evs)
	}
	if !(evs[0].Position < evs[1].Position && evs[1].Position < evs[2].Position) {
		t.Errorf("positions not increasing: %d %d %d", evs[0].Position, evs[1].Position, evs[2].Position)
	}
	sub.cancel()

	// Resuming after the first event delivers exactly the rest.
	resumed := subscribe(e.t, e.ctx, e.repl, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: evs[0].Position}})
	rest := resumed.events(e.t, e.ctx, 2)
	if rest[0].Position != evs[1].Position || rest[1].Position != evs[2].Position {
		t.Errorf("resumed at %d, %d; want %d, %d", rest[0].Position, rest[1].Position, evs[1].Position, evs[2].Position)
	}
	// And the stream follows new changes.
	e.set("", []byte("k3"), []byte("3"))
	if got := eventsText(resumed.events(e.t, e.ctx, 1)); got != "0 set k3=3;" {
		t.Errorf("live event: %q", got)
	}
}

func TestKTConnectionKilledMidRequest(t *testing.T) {
	var p *faultproxy.Proxy
	e := startKT(t, "", func(target string) string {
		p = faultproxy.Start(t, target)
		return p.Addr()
	})
	_, err := e.kv.Increment(e.ctx, &ktgrpcv1.IncrementRequest{Key: []byte("n"), Delta: 1})
	e.must(err)
	fired := p.Arm(faultproxy.Kill, nil, 0).Hit
	_, err = e.kv.Increment(e.ctx, &ktgrpcv1.IncrementRequest{Key: []byte("n"), Delta: 1})
	<-fired
	gatewaytest.WantCode(t, err, codes.Unavailable) // Increment on a killed connection
	// The adapter recovers on a new connection, without repeating the lost
	// write.
	inc, err := e.kv.Increment(e.ctx, &ktgrpcv1.IncrementRequest{Key: []byte("n"), Delta: 1})
	e.must(err)
	if inc.Value != 2 {
		t.Errorf("counter = %d, want 2", inc.Value)
	}
	// A read whose pooled connection dies is sent again transparently.
	fired = p.Arm(faultproxy.Kill, nil, 0).Hit
	got, err := e.kv.Get(e.ctx, &ktgrpcv1.GetRequest{Key: []byte("n")})
	<-fired
	e.must(err)
	if !got.Found {
		t.Error("Get after the retry: not found")
	}
	e.noLeaks()
}

func TestKTPoolLeaksNoConnections(t *testing.T) {
	e := startKT(t, "pool=3&cursors=3", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []byte(fmt.Sprint("k", i%5))
			if _, err := e.kv.Set(e.ctx, &ktgrpcv1.SetRequest{Db: "%", Key: key, Value: []byte("v")}); err != nil {
				errs <- err
			}
			if _, err := e.kv.Add(e.ctx, &ktgrpcv1.AddRequest{Db: "%", Key: key, Value: []byte("v")}); err != nil {
				errs <- err
			}
			scan, err := e.cursor.Scan(e.ctx, &ktgrpcv1.ScanRequest{Db: "%", BatchSize: 2})
			if err != nil {
				errs <- err
				return
			}
			for {
				if _, err := scan.Recv(); err != nil {
					if err != io.EOF {
						errs <- err
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Cursor streams that end early, by the client's cancel, give their
	// connections back too.
	for range 3 {
		ctx, cancel := context.WithCancel(e.ctx)
		s, err := e.cursor.Open(ctx)
		e.must(err)
		c := &cursorStream{t: e.t, s: s}
		c.must(&ktgrpcv1.OpenRequest{Db: "%", Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP})
		cancel()
		waitEnd(t, e.ends, "Open Canceled")
	}
	// Opening as many cursors as cursors=3 allows proves every one came
	// back (one more would be RESOURCE_EXHAUSTED otherwise).
	opened := make([]ktgrpcv1.Cursor_OpenClient, 3)
	for i := range opened {
		s, err := e.cursor.Open(e.ctx)
		e.must(err)
		(&cursorStream{t: e.t, s: s}).must(&ktgrpcv1.OpenRequest{Db: "%", Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP})
		opened[i] = s
	}
	// A stream's end reaches the client after the gateway closed its
	// cursor.
	for _, s := range opened {
		e.must(s.CloseSend())
		if _, err := s.Recv(); err != io.EOF {
			t.Errorf("stream end: %v", err)
		}
	}
	s, cs := e.b.PoolStats(), e.b.CursorStats()
	if s.Open > 3 || s.Open < 1 || cs.Open > 3 {
		t.Errorf("pool=3&cursors=3 opened calls %+v, cursors %+v", s, cs)
	}
	e.noLeaks()
}

// The gateway starts while the KT server is down, reports NOT_SERVING and
// Unavailable, and serves once the server comes up, without a restart.
func TestKTGatewayStartsBeforeServer(t *testing.T) {
	ktsrv := kttest.Start(t)
	p := faultproxy.Start(t, ktsrv.Addr())
	p.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, _ := url.Parse("kt://" + p.Addr())
	b, err := kt.Open(ctx, u)
	if err != nil {
		t.Fatalf("Open must not fail while the server is down: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	srv, conn := gatewaytest.StartServer(t, b, server.Options{})
	health := healthpb.NewHealthClient(conn)
	kv := ktgrpcv1.NewKVClient(conn)

	if err := srv.CheckHealth(ctx); err == nil {
		t.Fatal("health check passed with the server down")
	}
	if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health with the server down: %v, %v", resp, err)
	}
	_, err = kv.Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("k")})
	gatewaytest.WantCode(t, err, codes.Unavailable) // Get with the server down

	p.SetDown(false)
	if err := srv.CheckHealth(ctx); err != nil {
		t.Fatalf("health check with the server up: %v", err)
	}
	if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health with the server up: %v, %v", resp, err)
	}
	if _, err := kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if got, err := kv.Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil || string(got.Value) != "v" {
		t.Errorf("Get after recovery: %v, %v", got, err)
	}
}

// The RPCs the tests above do not drive, end to end: bulk writes and
// removals, append, floating-point increments, the remaining matches and
// cursor moves, every Admin call, and the Tokyo Tyrant calls, which answer
// UNIMPLEMENTED on a Kyoto Tycoon backend.
func TestKTRemainingRPCs(t *testing.T) {
	// One connection: a no-reply write and the read after it share it, and
	// the server answers one connection's requests in order.
	e := startKT(t, "pool=1", nil)
	ctx := e.ctx
	at := time.Unix(4102444800, 0)
	bulk, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Db: "%", Records: []*ktgrpcv1.SetBulkRequest_Entry{
		{Key: []byte("b1"), Value: []byte("1\x00"), Expiration: &ktgrpcv1.SetBulkRequest_Entry_ExpireTime{ExpireTime: timestamppb.New(at)}},
		{Key: []byte("b2"), Value: []byte("2")},
		{Key: []byte("b3"), Value: []byte("3")},
	}})
	e.must(err)
	got, err := e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Db: "%", Keys: [][]byte{[]byte("b1"), []byte("b2")}})
	e.must(err)
	if bulk.Stored != 3 || len(got.Records) != 2 || string(got.Records[0].Value) != "1\x00" ||
		!got.Records[0].ExpireTime.AsTime().Equal(at) || got.Records[1].ExpireTime != nil {
		t.Errorf("SetBulk stored %d; GetBulk %v", bulk.Stored, got.Records)
	}
	atomicBulk, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Db: "%", Atomic: true, Records: []*ktgrpcv1.SetBulkRequest_Entry{
		{Key: []byte("a1"), Value: []byte("x")}, {Key: []byte("a2"), Value: []byte("y")},
	}})
	e.must(err)
	noReply, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Db: "%", NoReply: true, Records: []*ktgrpcv1.SetBulkRequest_Entry{
		{Key: []byte("nr"), Value: []byte("z")},
	}})
	e.must(err)
	if atomicBulk.Stored != 2 || noReply.Stored != 0 || string(e.get("%", []byte("nr")).Value) != "z" {
		t.Errorf("atomic SetBulk stored %d, no-reply SetBulk %d", atomicBulk.Stored, noReply.Stored)
	}
	removed, err := e.kv.RemoveBulk(ctx, &ktgrpcv1.RemoveBulkRequest{Db: "%", Keys: [][]byte{[]byte("a1"), []byte("missing"), []byte("a2")}})
	e.must(err)
	removedAtomic, err := e.kv.RemoveBulk(ctx, &ktgrpcv1.RemoveBulkRequest{Db: "%", Atomic: true, Keys: [][]byte{[]byte("nr"), []byte("a1")}})
	e.must(err)
	rm, err := e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Db: "%", Key: []byte("b3")})
	e.must(err)
	rmAgain, err := e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Db: "%", Key: []byte("b3")})
	e.must(err)
	if removed.Removed != 2 || removedAtomic.Removed != 1 || !rm.Removed || rmAgain.Removed {
		t.Errorf("RemoveBulk %d, atomic %d, Remove %v then %v", removed.Removed, removedAtomic.Removed, rm.Removed, rmAgain.Removed)
	}

	_, err = e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: []byte("log"), Value: []byte("a\n")})
	e.must(err)
	_, err = e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: []byte("log"), Value: []byte("b\n")})
	e.must(err)
	if v := e.get("", []byte("log")).Value; string(v) != "a\nb\n" {
		t.Errorf("after two appends: %q", v)
	}
	_, err = e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: []byte("log"), Value: []byte("c"), KeepLast: 2})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // Append with keep_last

	d, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("d"), Delta: 1.5})
	e.must(err)
	d2, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("d"), Delta: -0.25})
	e.must(err)
	dMissing, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("nod"), Delta: 1, MustExist: true})
	e.must(err)
	if !d.Applied || d.Value != 1.5 || d2.Value != 1.25 || dMissing.Applied {
		t.Errorf("IncrementDouble: %v, %v, must-exist on missing %v", d, d2, dMissing)
	}
	_, err = e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("log"), Delta: 1, MustExist: true})
	gatewaytest.WantCode(t, err, codes.FailedPrecondition) // IncrementDouble of text
	initial := int64(100)
	inc, err := e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("i"), Delta: -1, Initial: &initial})
	e.must(err)
	if inc.Value != 99 {
		t.Errorf("Increment from an initial value: %v", inc)
	}

	for _, k := range []string{"apple", "applet", "apricot"} {
		e.set("%", []byte(k), []byte("f"))
	}
	regex, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Db: "%", Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "^ap.*t$"}})
	e.must(err)
	similar, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Db: "%", Pattern: &ktgrpcv1.MatchKeysRequest_Similar{Similar: &ktgrpcv1.Similarity{Origin: []byte("applee"), MaxDistance: 1}}})
	e.must(err)
	limited, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Db: "%", Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: []byte("ap")}, Limit: 2})
	e.must(err)
	if fmt.Sprintf("%q %q %d", regex.Keys, similar.Keys, len(limited.Keys)) != `["applet" "apricot"] ["apple" "applet"] 2` {
		t.Errorf("MatchKeys: regex %q, similar %q, prefix with limit %q", regex.Keys, similar.Keys, limited.Keys)
	}
	_, err = e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Db: "%", Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "["}})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // MatchKeys with a bad regex

	// Cursor moves not used above: STEP, GET_VALUE, GET_KEY with step.
	s, err := e.cursor.Open(ctx)
	e.must(err)
	c := &cursorStream{t: e.t, s: s}
	c.must(&ktgrpcv1.OpenRequest{Db: "%", Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP, Key: []byte("apple")})
	if r := c.must(op(ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP)); !r.Ok {
		t.Error("STEP failed")
	}
	if r := c.must(op(ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_VALUE)); !r.Ok || string(r.Value) != "f" || r.Key != nil {
		t.Errorf("GET_VALUE: %v", r)
	}
	if r := c.must(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY, Step: true}); string(r.Key) != "applet" {
		t.Errorf("GET_KEY: %v", r)
	}
	if r := c.must(op(ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY)); string(r.Key) != "apricot" {
		t.Errorf("GET_KEY after a step: %v", r)
	}
	e.must(s.CloseSend())
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("stream end: %v", err)
	}
	scan, err := e.cursor.Scan(ctx, &ktgrpcv1.ScanRequest{Db: "%", Prefix: []byte("ap"), Reverse: true, KeysOnly: true})
	e.must(err)
	var scanned []string
	for {
		resp, err := scan.Recv()
		if err == io.EOF {
			break
		}
		e.must(err)
		for _, r := range resp.Records {
			scanned = append(scanned, string(r.Key))
		}
	}
	if fmt.Sprint(scanned) != "[apricot applet apple]" {
		t.Errorf("reverse Scan: %v", scanned)
	}

	st, err := e.admin.Status(ctx, &ktgrpcv1.StatusRequest{Db: "%"})
	e.must(err)
	if st.Count < 4 || st.Fields["path"] != "%" {
		t.Errorf("Status: %v", st)
	}
	_, err = e.admin.Status(ctx, &ktgrpcv1.StatusRequest{Db: "nope"})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // Status of an unknown database
	report, err := e.admin.Report(ctx, &ktgrpcv1.ReportRequest{})
	e.must(err)
	if report.Fields["db_1"] == "" || report.Fields["conf_kt_version"] == "" {
		t.Errorf("Report: %v", report.Fields)
	}
	dbs, err := e.admin.Databases(ctx, &ktgrpcv1.DatabasesRequest{})
	e.must(err)
	if len(dbs.Databases) != 2 || dbs.Databases[0].Name != "*" || dbs.Databases[0].Kind != "hash" ||
		dbs.Databases[1].Name != "%" || dbs.Databases[1].Kind != "tree" || !dbs.Databases[1].Healthy {
		t.Errorf("Databases: %v", dbs.Databases)
	}
	_, err = e.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{Db: "%", Hard: true})
	e.must(err)
	_, err = e.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{Db: "%", Command: "nosuchcommand"})
	gatewaytest.WantCode(t, err, codes.Internal) // Synchronize with a command the server does not have
	_, err = e.admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{Db: "%", Steps: 2})
	e.must(err)
	_, err = e.admin.TuneReplication(ctx, &ktgrpcv1.TuneReplicationRequest{Host: "127.0.0.1", Port: 1978, Position: 5, Interval: durationpb.New(time.Second)})
	e.must(err)
	logs, err := e.admin.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
	e.must(err)
	if len(logs.Files) != 1 || logs.Files[0].Path == "" || logs.Files[0].MaxPosition == 0 || logs.Files[0].Size <= 0 {
		t.Errorf("ListUpdateLogs: %v", logs.Files)
	}
	before := logs.Files[0].MaxPosition
	_, err = e.admin.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{Before: &before})
	e.must(err)
	_, err = e.admin.Clear(ctx, &ktgrpcv1.ClearRequest{Db: "%"})
	e.must(err)
	if st, err := e.admin.Status(ctx, &ktgrpcv1.StatusRequest{Db: "%"}); err != nil || st.Count != 0 {
		t.Errorf("Status after Clear: %v %v", st, err)
	}

	ttOnly := map[string]error{}
	_, ttOnly["Optimize"] = e.admin.Optimize(ctx, &ktgrpcv1.OptimizeRequest{Params: "#bnum=1"})
	_, ttOnly["Copy"] = e.admin.Copy(ctx, &ktgrpcv1.CopyRequest{Path: "/tmp/x"})
	_, ttOnly["Restore"] = e.admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "ulog"})
	_, ttOnly["SetMaster"] = e.admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{Host: "h", Port: 1})
	_, ttOnly["Misc"] = e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "putlist"})
	_, ttOnly["Table.Put"] = e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("k"), Columns: map[string][]byte{"c": []byte("v")}, Mode: ktgrpcv1.PutMode_PUT_MODE_OVERWRITE})
	_, ttOnly["Table.Get"] = e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("k")})
	_, ttOnly["Table.Search"] = e.table.Search(ctx, &ktgrpcv1.TableSearchRequest{})
	_, ttOnly["Table.SetIndex"] = e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "c"})
	_, ttOnly["Table.GenerateID"] = e.table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{})
	for name, err := range ttOnly {
		if !gatewaytest.WantCode(t, err, codes.Unimplemented) {
			t.Logf("in %s on Kyoto Tycoon", name)
		}
	}
	e.noLeaks()
}
