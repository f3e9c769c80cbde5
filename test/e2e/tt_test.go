package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/backend/tt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/testclock"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// ttEnv is a gRPC client, the gateway, the Tokyo Tyrant adapter and a TT
// test server, wired together.
type ttEnv struct {
	srv    *tttest.Server
	b      *tt.Backend
	conn   *grpc.ClientConn
	kv     ktgrpcv1.KVClient
	cur    ktgrpcv1.CursorClient
	admin  ktgrpcv1.AdminClient
	table  ktgrpcv1.TableClient
	script ktgrpcv1.ScriptClient
	repl   ktgrpcv1.ReplicationClient
}

// startTT starts a test server with config, an adapter on it with the extra
// URL query, and the gateway.
func startTT(t *testing.T, config, query string, opts ...tttest.Option) *ttEnv {
	t.Helper()
	srv := tttest.Start(t, append([]tttest.Option{tttest.WithConfig(config), tttest.WithReplInterval(20 * time.Millisecond)}, opts...)...)
	u, err := url.Parse("tt://" + srv.Addr() + "?repl_backoff=20ms&" + query)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tt.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	conn := gatewaytest.Start(t, b)
	return &ttEnv{
		srv: srv, b: b, conn: conn,
		kv:     ktgrpcv1.NewKVClient(conn),
		cur:    ktgrpcv1.NewCursorClient(conn),
		admin:  ktgrpcv1.NewAdminClient(conn),
		table:  ktgrpcv1.NewTableClient(conn),
		script: ktgrpcv1.NewScriptClient(conn),
		repl:   ktgrpcv1.NewReplicationClient(conn),
	}
}

func (e *ttEnv) set(t *testing.T, k, v string) {
	t.Helper()
	must(e.kv.Set(testCtx(t), &ktgrpcv1.SetRequest{Key: []byte(k), Value: []byte(v)}))(t)
}

func (e *ttEnv) get(t *testing.T, k string) (string, bool) {
	t.Helper()
	r := must(e.kv.Get(testCtx(t), &ktgrpcv1.GetRequest{Key: []byte(k)}))(t)
	return string(r.GetValue()), r.GetFound()
}

func (e *ttEnv) scan(t *testing.T, req *ktgrpcv1.ScanRequest) []string {
	t.Helper()
	return scanKeys(t, testCtx(t), e.cur, req)
}

func TestTTEveryCommand(t *testing.T) {
	for config, typ := range map[string]string{"tt-hash": "hash", "tt-btree": "B+ tree"} {
		t.Run(config, func(t *testing.T) { ttEveryCommand(t, startTT(t, config, ""), typ) })
	}
}

// ttEveryCommand reaches every binary command but iterinit / iternext
// (TestTTSharedIteratorCursor) and repl (the replication tests) through
// the gRPC API, on a hash or B+ tree database.
func ttEveryCommand(t *testing.T, e *ttEnv, typ string) {
	ctx := testCtx(t)
	k := func(s string) []byte { return []byte(s) }

	// put, get, putkeep, putcat, putshl, putnr, vsiz, out.
	e.set(t, "a", "1")
	if v, ok := e.get(t, "a"); v != "1" || !ok {
		t.Fatalf("get %q %v", v, ok)
	}
	if r := must(e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: k("a"), Value: k("x")}))(t); r.GetApplied() {
		t.Fatal("add on an existing key applied")
	}
	must(e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: k("a"), Value: k("2345")}))(t)
	must(e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: k("a"), Value: k("67"), KeepLast: 3}))(t)
	if v, _ := e.get(t, "a"); v != "567" {
		t.Fatalf("after putcat and putshl: %q", v)
	}
	must(e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: k("nr"), Value: k("x"), NoReply: true}))(t)
	if c := must(e.kv.Check(ctx, &ktgrpcv1.CheckRequest{Key: k("a")}))(t); !c.GetFound() || c.GetValueSize() != 3 || c.GetExpireTime() != nil {
		t.Fatalf("check %v", c)
	}
	if r := must(e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: k("nr")}))(t); !r.GetRemoved() {
		t.Fatal("putnr record missing")
	}
	if r := must(e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: k("nr")}))(t); r.GetRemoved() {
		t.Fatal("removed twice")
	}

	// mget, pipelined put and out.
	sb := must(e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Records: []*ktgrpcv1.SetBulkRequest_Entry{
		{Key: k("p/2"), Value: k("b")}, {Key: k("p/1"), Value: k("a")}, {Key: k("p/3"), Value: k("c")},
	}}))(t)
	if sb.GetStored() != 3 {
		t.Fatalf("stored %d", sb.GetStored())
	}
	gb := must(e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Keys: [][]byte{k("p/3"), k("zz"), k("p/1")}}))(t)
	if len(gb.GetRecords()) != 2 || string(gb.GetRecords()[0].GetValue()) != "c" {
		t.Fatalf("get bulk %v", gb)
	}

	// fwmkeys: sorted on a hash database too.
	mk := must(e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: k("p/")}}))(t)
	wantStrs(t, "match keys", strs(mk.GetKeys()), "p/1", "p/2", "p/3")
	wantStrs(t, "scan", e.scan(t, &ktgrpcv1.ScanRequest{Prefix: k("p/"), BatchSize: 2}), "p/1", "p/2", "p/3")
	wantStrs(t, "reverse scan", e.scan(t, &ktgrpcv1.ScanRequest{Prefix: k("p/"), Reverse: true, Limit: 2}), "p/3", "p/2")
	if r := must(e.kv.RemoveBulk(ctx, &ktgrpcv1.RemoveBulkRequest{Keys: [][]byte{k("p/1"), k("p/2"), k("zz")}}))(t); r.GetRemoved() != 2 {
		t.Fatalf("removed %d", r.GetRemoved())
	}

	// addint, adddouble.
	must(e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("n"), Delta: 41}))(t)
	inc := must(e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("n"), Delta: 1}))(t)
	if inc.GetValue() != 42 || !inc.GetApplied() {
		t.Fatalf("increment %v", inc)
	}
	must(e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: k("d"), Delta: 0.5}))(t)
	incd := must(e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: k("d"), Delta: 1.25}))(t)
	if incd.GetValue() != 1.75 {
		t.Fatalf("increment double %v", incd)
	}
	_, err := e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("d"), Delta: 1})
	gatewaytest.WantCode(t, err, codes.FailedPrecondition) // addint on a double

	// ext.
	call := must(e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "echo", Args: []*ktgrpcv1.Pair{{Key: k("x"), Value: k("y")}}}))(t)
	if !call.GetSucceeded() || len(call.GetResults()) != 1 || string(call.GetResults()[0].GetValue()) != "xy" {
		t.Fatalf("ext echo %v", call)
	}

	// stat, rnum, size; sync, optimize, vanish; misc; copy, restore, setmst.
	st := must(e.admin.Status(ctx, &ktgrpcv1.StatusRequest{}))(t)
	if st.GetCount() != 4 || st.GetFields()["type"] != typ || st.GetSize() <= 0 {
		t.Fatalf("status %v", st)
	}
	rep := must(e.admin.Report(ctx, &ktgrpcv1.ReportRequest{}))(t)
	if rep.GetFields()["sid"] != "1" {
		t.Fatalf("report %v", rep.GetFields())
	}
	dbs := must(e.admin.Databases(ctx, &ktgrpcv1.DatabasesRequest{}))(t)
	if len(dbs.GetDatabases()) != 1 || !dbs.GetDatabases()[0].GetHealthy() || dbs.GetDatabases()[0].GetKind() != typ {
		t.Fatalf("databases %v", dbs)
	}
	must(e.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{Hard: true}))(t)
	must(e.admin.Optimize(ctx, &ktgrpcv1.OptimizeRequest{Params: "bnum=1000"}))(t)
	must(e.admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{}))(t)
	must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "putlist", Args: [][]byte{k("m1"), k("v1")}}))(t)
	misc := must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "getlist", Args: [][]byte{k("m1")}, NoUpdateLog: true}))(t)
	wantStrs(t, "getlist", strs(misc.GetResults()), "m1", "v1")
	if m := must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "nosuchfunc"}))(t); m.GetSucceeded() {
		t.Fatal("unknown misc function succeeded")
	}
	must(e.admin.Copy(ctx, &ktgrpcv1.CopyRequest{Path: "backup.tch"}))(t)
	must(e.admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "ulog", Position: 1 << 62}))(t)
	_, err = e.admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "nonexistent", Position: 1})
	gatewaytest.WantCode(t, err, codes.Internal) // restore from a missing directory
	must(e.admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{}))(t)
	must(e.admin.Clear(ctx, &ktgrpcv1.ClearRequest{Db: "0"}))(t)
	if st := must(e.admin.Status(ctx, &ktgrpcv1.StatusRequest{}))(t); st.GetCount() != 0 {
		t.Fatalf("count after clear %d", st.GetCount())
	}

	// What Tokyo Tyrant cannot do, and bad input.
	_, err = e.kv.Get(ctx, &ktgrpcv1.GetRequest{Db: "1", Key: k("a")})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // db 1
	_, err = e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: k("a"), Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(time.Minute)}})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // ttl
	_, err = e.kv.Seize(ctx, &ktgrpcv1.SeizeRequest{Key: k("a")})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // seize
	_, err = e.kv.CompareAndSwap(ctx, &ktgrpcv1.CompareAndSwapRequest{Key: k("a"), NewValue: k("b")})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // cas
	_, err = e.kv.Replace(ctx, &ktgrpcv1.ReplaceRequest{Key: k("a"), Value: k("b")})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // replace
	_, err = e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("n"), Delta: 1 << 40})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // 64-bit delta
	_, err = e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("n"), Delta: 1, MustExist: true})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // must_exist
	_, err = e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "a"}})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // regex
	_, err = e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: k("a")})
	if !gatewaytest.WantCode(t, err, codes.Unimplemented) {
		t.Logf("in table on a %s database", typ)
	}
	_, err = e.admin.TuneReplication(ctx, &ktgrpcv1.TuneReplicationRequest{})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // KT-only call
	if typ == "hash" {
		cs := openCursor(t, ctx, e.cur)
		_, err = cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP})
		gatewaytest.WantCode(t, err, codes.Unimplemented) // cursor on a hash database
	}
}

// TestTTEveryCommandOnTable reaches the plain binary commands on a table
// database, where a value is a row's serialised columns
// ("name NUL value NUL ..."), and the iterator through a shared-iterator
// cursor.
func TestTTEveryCommandOnTable(t *testing.T) {
	e := startTT(t, "tt-table", "iterator=shared")
	ctx := testCtx(t)
	k := func(s string) []byte { return []byte(s) }
	cols := func(key string) map[string]string {
		t.Helper()
		g := must(e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: k(key)}))(t)
		out := map[string]string{}
		for name, v := range g.GetColumns() {
			out[name] = string(v)
		}
		return out
	}

	// put, get, putkeep, putcat, putshl, putnr, vsiz, out.
	e.set(t, "r1", "name\x00alice\x00age\x0030")
	if v, ok := e.get(t, "r1"); v != "name\x00alice\x00age\x0030" || !ok {
		t.Fatalf("get %q %v", v, ok)
	}
	if r := must(e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: k("r1"), Value: k("name\x00x")}))(t); r.GetApplied() {
		t.Fatal("add on an existing row applied")
	}
	must(e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: k("r1"), Value: k("city\x00kyoto")}))(t)
	if c := cols("r1"); c["name"] != "alice" || c["city"] != "kyoto" || len(c) != 3 {
		t.Fatalf("putcat merged %q", c)
	}
	must(e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: k("r2"), Value: k("name\x00bob"), KeepLast: 100}))(t)
	if c := cols("r2"); c["name"] != "bob" || len(c) != 1 {
		t.Fatalf("putshl created %q", c)
	}
	must(e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: k("r3"), Value: k("a\x00b"), NoReply: true}))(t)
	// vsiz is the size of the server's internal row form: each name and
	// value carries a length byte.
	if c := must(e.kv.Check(ctx, &ktgrpcv1.CheckRequest{Key: k("r3")}))(t); !c.GetFound() || c.GetValueSize() != 4 {
		t.Fatalf("check %v", c)
	}
	if r := must(e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: k("r3")}))(t); !r.GetRemoved() {
		t.Fatal("putnr row missing")
	}

	// mget, fwmkeys, scans.
	gb := must(e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Keys: [][]byte{k("r2"), k("zz"), k("r1")}}))(t)
	if len(gb.GetRecords()) != 2 || string(gb.GetRecords()[0].GetValue()) != "name\x00bob" {
		t.Fatalf("get bulk %v", gb)
	}
	mk := must(e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: k("r")}}))(t)
	wantStrs(t, "match keys", strs(mk.GetKeys()), "r1", "r2")
	wantStrs(t, "scan", e.scan(t, &ktgrpcv1.ScanRequest{Prefix: k("r"), BatchSize: 1}), "r1", "r2")

	// addint and adddouble keep their number in the column "_num".
	if inc := must(e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("n"), Delta: 5}))(t); inc.GetValue() != 5 {
		t.Fatalf("increment %v", inc)
	}
	if incd := must(e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: k("d"), Delta: 1.5}))(t); incd.GetValue() != 1.5 {
		t.Fatalf("increment double %v", incd)
	}
	if c := cols("d"); c["_num"] != "1.5" {
		t.Fatalf("adddouble row %q", c)
	}

	// ext.
	call := must(e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "echo", Args: []*ktgrpcv1.Pair{{Key: k("x"), Value: k("y")}}, Lock: ktgrpcv1.LockMode_LOCK_MODE_RECORD}))(t)
	if !call.GetSucceeded() || string(call.GetResults()[0].GetValue()) != "xy" {
		t.Fatalf("ext echo %v", call)
	}

	// iterinit / iternext.
	cs := openCursor(t, ctx, e.cur)
	if r := must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP}))(t); !r.GetOk() {
		t.Fatal("iterinit")
	}
	var keys []string
	for {
		r := must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY, Step: true}))(t)
		if !r.GetOk() {
			break
		}
		keys = append(keys, string(r.GetKey()))
	}
	slices.Sort(keys)
	wantStrs(t, "iterated", keys, "d", "n", "r1", "r2")
	if err := cs.s.CloseSend(); err != nil {
		t.Fatal(err)
	}

	// stat, rnum, size; sync, optimize, vanish; misc; copy, restore, setmst.
	st := must(e.admin.Status(ctx, &ktgrpcv1.StatusRequest{}))(t)
	if st.GetCount() != 4 || st.GetFields()["type"] != "table" || st.GetSize() <= 0 {
		t.Fatalf("status %v", st)
	}
	dbs := must(e.admin.Databases(ctx, &ktgrpcv1.DatabasesRequest{}))(t)
	if len(dbs.GetDatabases()) != 1 || dbs.GetDatabases()[0].GetKind() != "table" {
		t.Fatalf("databases %v", dbs)
	}
	must(e.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{}))(t)
	must(e.admin.Optimize(ctx, &ktgrpcv1.OptimizeRequest{}))(t)
	must(e.admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{}))(t)
	misc := must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "getlist", Args: [][]byte{k("r2")}}))(t)
	wantStrs(t, "getlist", strs(misc.GetResults()), "r2", "name\x00bob")
	must(e.admin.Copy(ctx, &ktgrpcv1.CopyRequest{Path: "backup.tct"}))(t)
	must(e.admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "ulog", Position: 1 << 62}))(t)
	must(e.admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{}))(t)
	must(e.admin.Clear(ctx, &ktgrpcv1.ClearRequest{}))(t)
	if st := must(e.admin.Status(ctx, &ktgrpcv1.StatusRequest{}))(t); st.GetCount() != 0 {
		t.Fatalf("count after clear %d", st.GetCount())
	}
}

func TestTTBinaryUnsafeKeysAndValues(t *testing.T) {
	for _, config := range []string{"tt-hash", "tt-btree"} {
		t.Run(config, func(t *testing.T) {
			e := startTT(t, config, "")
			ctx := testCtx(t)
			big := bytes.Repeat([]byte{0, 0xff, '\r', '\n', 0xc8}, 300_000)
			keys := [][]byte{{0}, {0xff}, {0xc8, 0x10}, []byte("\r\n"), bytes.Repeat([]byte{0}, 1000)}
			for i, key := range keys {
				v := append([]byte{0}, key...)
				if i == 1 {
					v = big
				}
				must(e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: key, Value: v}))(t)
				r := must(e.kv.Get(ctx, &ktgrpcv1.GetRequest{Key: key}))(t)
				if !r.GetFound() || !bytes.Equal(r.GetValue(), v) {
					t.Fatalf("key %x: found %v, %d bytes", key, r.GetFound(), len(r.GetValue()))
				}
			}
			got := e.scan(t, &ktgrpcv1.ScanRequest{KeysOnly: true})
			want := strs(keys)
			slices.Sort(want)
			wantStrs(t, "binary keys in order", got, want...)
		})
	}
}

func TestTTBTreeCursorAndRange(t *testing.T) {
	e := startTT(t, "tt-btree", "")
	ctx := testCtx(t)
	for _, k := range []string{"c", "a", "e", "b", "d"} {
		e.set(t, k, "v"+k)
	}
	wantStrs(t, "range scan", e.scan(t, &ktgrpcv1.ScanRequest{StartKey: []byte("b"), EndKey: []byte("e"), BatchSize: 2}), "b", "c", "d")
	wantStrs(t, "limit", e.scan(t, &ktgrpcv1.ScanRequest{Limit: 2}), "a", "b")
	wantStrs(t, "reverse", e.scan(t, &ktgrpcv1.ScanRequest{Reverse: true, StartKey: []byte("b")}), "e", "d", "c", "b")

	cs := openCursor(t, ctx, e.cur)
	op := ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP
	r := must(cs.do(&ktgrpcv1.OpenRequest{Operation: op, Key: []byte("bb")}))(t)
	if !r.GetOk() {
		t.Fatal("jump")
	}
	r = must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET, Step: true}))(t)
	if string(r.GetKey()) != "c" || string(r.GetValue()) != "vc" {
		t.Fatalf("get %v", r)
	}
	r = must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE, Value: []byte("new")}))(t)
	if !r.GetOk() {
		t.Fatal("set value")
	}
	r = must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE}))(t)
	if !r.GetOk() {
		t.Fatal("remove")
	}
	r = must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY}))(t)
	if string(r.GetKey()) != "e" {
		t.Fatalf("after remove: %q", r.GetKey())
	}
	r = must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP}))(t)
	if r.GetOk() {
		t.Fatal("step past the end")
	}
	_, err := cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK})
	gatewaytest.WantCode(t, err, codes.Unimplemented) // jump back
	if _, found := e.get(t, "d"); found {
		t.Fatal("cursor remove left d")
	}

	// putdup is reached through misc.
	for _, v := range []string{"1", "2"} {
		must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "putdup", Args: [][]byte{[]byte("dup"), []byte(v)}}))(t)
	}
	m := must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "get", Args: [][]byte{[]byte("dup")}, NoUpdateLog: true}))(t)
	wantStrs(t, "duplicates", strs(m.GetResults()), "1", "2")
}

func TestTTSharedIteratorCursor(t *testing.T) {
	e := startTT(t, "tt-hash", "iterator=shared")
	ctx := testCtx(t)
	for _, k := range []string{"x", "y"} {
		e.set(t, k, "v"+k)
	}
	cs := openCursor(t, ctx, e.cur)
	if r := must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP}))(t); !r.GetOk() {
		t.Fatal("iterinit")
	}
	var keys []string
	for {
		r := must(cs.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET, Step: true}))(t)
		if !r.GetOk() {
			break
		}
		keys = append(keys, string(r.GetKey()))
	}
	slices.Sort(keys)
	wantStrs(t, "iterated", keys, "x", "y")
}

func TestTTTableSearch(t *testing.T) {
	e := startTT(t, "tt-table", "")
	ctx := testCtx(t)
	rows := map[string]map[string][]byte{
		"u1": {"name": []byte("alice"), "age": []byte("30"), "city": []byte("tokyo")},
		"u2": {"name": []byte("bob"), "age": []byte("25"), "city": []byte("osaka")},
		"u3": {"name": []byte("carol"), "age": []byte("41"), "city": []byte("tokyo")},
		"u4": {"name": []byte("dave"), "age": []byte("19"), "city": []byte("tokyo")},
		"u5": {"name": []byte("eve"), "age": []byte("35"), "city": []byte("nara")},
	}
	for k, cols := range rows {
		r := must(e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte(k), Columns: cols}))(t)
		if !r.GetApplied() {
			t.Fatalf("put %s", k)
		}
	}
	if r := must(e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("u1"), Columns: rows["u2"], Mode: ktgrpcv1.PutMode_PUT_MODE_KEEP}))(t); r.GetApplied() {
		t.Fatal("keep on an existing row applied")
	}
	must(e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("u1"), Columns: map[string][]byte{"zip": []byte("100")}, Mode: ktgrpcv1.PutMode_PUT_MODE_CONCAT}))(t)
	g := must(e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("u1")}))(t)
	if !g.GetFound() || string(g.GetColumns()["zip"]) != "100" || string(g.GetColumns()["name"]) != "alice" {
		t.Fatalf("get %v", g)
	}

	for _, typ := range []ktgrpcv1.IndexType{ktgrpcv1.IndexType_INDEX_TYPE_DECIMAL, ktgrpcv1.IndexType_INDEX_TYPE_OPTIMIZE} {
		if r := must(e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "age", Type: typ}))(t); !r.GetApplied() {
			t.Fatalf("setindex %v", typ)
		}
	}
	for _, typ := range []ktgrpcv1.IndexType{ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL, ktgrpcv1.IndexType_INDEX_TYPE_TOKEN, ktgrpcv1.IndexType_INDEX_TYPE_QGRAM} {
		must(e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "name", Type: typ}))(t)
	}
	if r := must(e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "city", Type: ktgrpcv1.IndexType_INDEX_TYPE_VOID}))(t); r.GetApplied() {
		t.Fatal("dropping a missing index applied")
	}

	// Several conditions, an order and a limit.
	q := &ktgrpcv1.TableSearchRequest{
		Conditions: []*ktgrpcv1.Condition{
			{Column: "city", Operator: ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_OR_EQ, Expr: "tokyo,nara"},
			{Column: "age", Operator: ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_GE, Expr: "20"},
			{Column: "name", Operator: ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_STR_BEGINS_WITH, Expr: "c", Negate: true, NoIndex: true},
		},
		Order: &ktgrpcv1.Order{Column: "age", Type: ktgrpcv1.OrderType_ORDER_TYPE_NUM_DESC},
		Limit: 2,
	}
	r := must(e.table.Search(ctx, q))(t)
	wantStrs(t, "keys", strs(r.GetKeys()), "u5", "u1")
	q.Offset = 1
	r = must(e.table.Search(ctx, q))(t)
	wantStrs(t, "keys skip 1", strs(r.GetKeys()), "u1")

	q.Offset, q.Action, q.Columns = 0, ktgrpcv1.SearchAction_SEARCH_ACTION_GET, []string{"name"}
	r = must(e.table.Search(ctx, q))(t)
	if len(r.GetRows()) != 2 || string(r.GetRows()[0].GetKey()) != "u5" || len(r.GetRows()[0].GetColumns()) != 1 || string(r.GetRows()[1].GetColumns()["name"]) != "alice" {
		t.Fatalf("get rows %v", r.GetRows())
	}
	// Count and delete honour the limit too.
	q.Action, q.Limit = ktgrpcv1.SearchAction_SEARCH_ACTION_COUNT, 1
	if r := must(e.table.Search(ctx, q))(t); r.GetCount() != 1 {
		t.Fatalf("count limit 1: %d", r.GetCount())
	}
	q.Limit = 0
	if r := must(e.table.Search(ctx, q))(t); r.GetCount() != 2 {
		t.Fatalf("count %d", r.GetCount())
	}
	q.Action, q.Limit = ktgrpcv1.SearchAction_SEARCH_ACTION_DELETE, 1
	if r := must(e.table.Search(ctx, q))(t); r.GetCount() != 1 {
		t.Fatalf("deleted with limit 1: %d", r.GetCount())
	}
	if g := must(e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("u5")}))(t); g.GetFound() {
		t.Fatal("delete with order and limit left the first row (u5)")
	}
	q.Limit = 0
	if r := must(e.table.Search(ctx, q))(t); r.GetCount() != 1 {
		t.Fatalf("deleted %d", r.GetCount())
	}
	all := must(e.table.Search(ctx, &ktgrpcv1.TableSearchRequest{Order: &ktgrpcv1.Order{Type: ktgrpcv1.OrderType_ORDER_TYPE_STR_ASC}}))(t)
	wantStrs(t, "left after delete", strs(all.GetKeys()), "u2", "u3", "u4")

	id1 := must(e.table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{}))(t)
	id2 := must(e.table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{}))(t)
	if id2.GetId() <= id1.GetId() {
		t.Fatalf("ids %d then %d", id1.GetId(), id2.GetId())
	}
	_, err := e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("u9"), Columns: map[string][]byte{"bad": {0}}})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // NUL in a column value

	// The plain commands see a row as its serialised columns.
	must(e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("p1"), Value: []byte("name\x00zed\x00age\x0050")}))(t)
	g = must(e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("p1")}))(t)
	if string(g.GetColumns()["name"]) != "zed" || string(g.GetColumns()["age"]) != "50" {
		t.Fatalf("row stored by a plain put: %v", g.GetColumns())
	}
	if v, _ := e.get(t, "u2"); !bytes.Contains([]byte(v), []byte("name\x00bob")) {
		t.Fatalf("plain get of a row: %q", v)
	}
	must(e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("c"), Delta: 2}))(t)
	if g := must(e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("c")}))(t); string(g.GetColumns()["_num"]) != "2" {
		t.Fatalf("addint on a table keeps _num: %v", g.GetColumns())
	}
}

func TestTTScriptLockModes(t *testing.T) {
	e := startTT(t, "tt-hash", "")
	ctx := testCtx(t)
	for _, lock := range []ktgrpcv1.LockMode{ktgrpcv1.LockMode_LOCK_MODE_UNSPECIFIED, ktgrpcv1.LockMode_LOCK_MODE_NONE, ktgrpcv1.LockMode_LOCK_MODE_RECORD, ktgrpcv1.LockMode_LOCK_MODE_GLOBAL} {
		key := []byte(fmt.Sprint("lock-", lock))
		r := must(e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "put", Args: []*ktgrpcv1.Pair{{Key: key, Value: []byte("v")}}, Lock: lock}))(t)
		if !r.GetSucceeded() || string(r.GetResults()[0].GetValue()) != "ok" {
			t.Fatalf("%v: put %v", lock, r)
		}
		r = must(e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "get", Args: []*ktgrpcv1.Pair{{Key: key}}, Lock: lock}))(t)
		if !r.GetSucceeded() || string(r.GetResults()[0].GetValue()) != "v" {
			t.Fatalf("%v: get %v", lock, r)
		}
		r = must(e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "fail", Args: []*ktgrpcv1.Pair{{Key: key}}, Lock: lock}))(t)
		if r.GetSucceeded() || len(r.GetResults()) != 0 {
			t.Fatalf("%v: fail %v", lock, r)
		}
	}
	_, err := e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "echo", Args: []*ktgrpcv1.Pair{{}, {}}})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // two arguments
}

// ttSubscribe collects want events from a Subscribe stream.
func ttSubscribe(t *testing.T, e *ttEnv, req *ktgrpcv1.SubscribeRequest, want int) []*ktgrpcv1.Event {
	t.Helper()
	ctx := testCtx(t)
	s := subscribe(t, ctx, e.repl, req)
	defer s.cancel()
	return s.events(t, ctx, want)
}

func ttDescribe(evs []*ktgrpcv1.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s %s", ev.GetOperation(), ev.GetCommand(), ev.GetKey()))
	}
	return out
}

func TestTTReplicationFromPositionAndResume(t *testing.T) {
	e := startTT(t, "tt-hash", "")
	ctx := testCtx(t)
	k := func(s string) []byte { return []byte(s) }
	e.set(t, "a", "1")
	must(e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: k("a"), Value: k("2")}))(t) // fails: not an event
	must(e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: k("a"), Value: k("23"), KeepLast: 2}))(t)
	must(e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: k("a")}))(t)
	must(e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k("n"), Delta: 3}))(t)
	must(e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "putlist", Args: [][]byte{k("m"), k("v")}}))(t)
	must(e.admin.Clear(ctx, &ktgrpcv1.ClearRequest{}))(t)
	want := []string{
		"OPERATION_SET put a", "OPERATION_APPEND putshl a", "OPERATION_REMOVE out a",
		"OPERATION_INCREMENT addint n", "OPERATION_MISC misc:putlist ", "OPERATION_CLEAR vanish ",
	}
	evs := ttSubscribe(t, e, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}}, len(want))
	wantStrs(t, "events", ttDescribe(evs), want...)
	if evs[1].GetKeepLast() != 2 || evs[3].GetIntDelta() != 3 || evs[0].GetDb() != "0" || evs[0].GetOriginServerId() != 1 || len(evs[0].GetRaw()) == 0 {
		t.Fatalf("event fields %v / %v / %v", evs[0], evs[1], evs[3])
	}
	// Resume after the third event's position: what follows, and nothing
	// at or before it.
	after := evs[2].GetPosition()
	var rest []string
	for i, ev := range evs {
		if ev.GetPosition() > after {
			rest = append(rest, ttDescribe(evs[i:i+1])...)
		}
	}
	// The server's one database is "" or "0".
	resumed := ttSubscribe(t, e, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: after}, Dbs: []string{""}}, len(rest))
	wantStrs(t, "resumed", ttDescribe(resumed), rest...)
	bad, err := e.repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Dbs: []string{"users"}})
	if err == nil {
		_, err = bad.Recv()
	}
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // subscribe to another database
	// A filtered stream still reports progress.
	ctx2, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := must(e.repl.Subscribe(ctx2, &ktgrpcv1.SubscribeRequest{
		Operations:       []ktgrpcv1.Operation{ktgrpcv1.Operation_OPERATION_SYNC},
		ProgressInterval: durationpb.New(10 * time.Millisecond),
	}))(t)
	for {
		r := must(st.Recv())(t)
		if r.GetEvent() != nil {
			t.Fatalf("filtered event %v", r.GetEvent())
		}
		if r.GetProgress().GetPosition() >= evs[len(evs)-1].GetPosition() {
			break
		}
	}
}

// TestTTReplicationSameMicrosecond freezes the server's clock so that
// records share a timestamp: positions still tell them apart
// (ts*1000 + index), and a consumer that checkpoints the middle one of a
// microsecond and resumes gets exactly the records after it.
func TestTTReplicationSameMicrosecond(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_700_000_000, 0))
	e := startTT(t, "tt-hash", "", tttest.WithClock(clock))
	t0 := uint64(clock.Now().UnixMicro())
	e.set(t, "x", "1")
	clock.Advance(time.Microsecond)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		e.set(t, k, "1")
	}
	// With the clock frozen the master sends records as they are logged:
	// a write made once the stream has started (the server serves its
	// replication session) brings the whole log. Until then nothing may
	// come: no progress before the replay.
	subscribe := func(after uint64, trigger string, want int) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.srv.WaitReplicationCount(ctx, 0); err != nil {
			t.Fatal(err)
		}
		st := must(e.repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: after}}))(t)
		if err := e.srv.WaitReplicationCount(ctx, 1); err != nil {
			t.Fatal(err)
		}
		e.set(t, trigger, "1")
		var got []string
		for len(got) < want {
			r := must(st.Recv())(t)
			if p := r.GetProgress(); p != nil && len(got) < want {
				t.Fatalf("progress at %d after %d of %d replayed events", p.GetPosition(), len(got), want)
			}
			if ev := r.GetEvent(); ev != nil {
				got = append(got, fmt.Sprintf("%s@%d", ev.GetKey(), ev.GetPosition()))
			}
		}
		return got
	}
	at := func(key string, us, i uint64) string { return fmt.Sprintf("%s@%d", key, (t0+us)*1000+i) }
	wantStrs(t, "from the start", subscribe(0, "t1", 7),
		at("x", 0, 0), at("a", 1, 0), at("b", 1, 1), at("c", 1, 2), at("d", 1, 3), at("e", 1, 4), at("t1", 1, 5))
	wantStrs(t, "resumed after c", subscribe((t0+1)*1000+2, "t2", 4),
		at("d", 1, 3), at("e", 1, 4), at("t1", 1, 5), at("t2", 1, 6))
}

// TestTTConnectionKilledMidRequest kills the adapter's connections while a
// request runs: the client gets Unavailable, and the next call works.
func TestTTConnectionKilledMidRequest(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	e := startTT(t, "tt-hash", "", tttest.WithExt("block", func(key, value []byte) ([]byte, bool) {
		entered <- struct{}{}
		<-release
		return []byte("late"), true
	}))
	defer once.Do(func() { close(release) })
	ctx := testCtx(t)
	e.set(t, "k", "v")
	done := make(chan error, 1)
	go func() {
		_, err := e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "block"})
		done <- err
	}()
	<-entered
	e.srv.KillConnections()
	err := <-done
	once.Do(func() { close(release) })
	gatewaytest.WantCode(t, err, codes.Unavailable) // call on a killed connection
	if v, ok := e.get(t, "k"); v != "v" || !ok {
		t.Fatalf("after recovery: %q %v", v, ok)
	}
}

// TestTTNoLeakedConnections runs many concurrent calls and checks that the
// server sees no more connections than the pool allows, and none once the
// adapter is closed.
func TestTTNoLeakedConnections(t *testing.T) {
	e := startTT(t, "tt-btree", "pool=3")
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			key := []byte(fmt.Sprint("k", i))
			if _, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: key, Value: key}); err != nil {
				errs <- err
				return
			}
			st, err := e.cur.Scan(ctx, &ktgrpcv1.ScanRequest{BatchSize: 3})
			if err != nil {
				errs <- err
				return
			}
			for {
				if _, err := st.Recv(); err != nil {
					if !errors.Is(err, io.EOF) {
						errs <- err
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := e.srv.ConnCount(); n > 3 {
		t.Fatalf("server has %d connections with pool=3", n)
	}
	if st := e.b.PoolStats(); st.Open != st.Idle || st.Open > 3 {
		t.Fatalf("pool %+v", st)
	}
	// A replication stream holds a connection of its own until the client
	// goes away.
	sctx, cancel := context.WithCancel(ctx)
	sub := must(e.repl.Subscribe(sctx, &ktgrpcv1.SubscribeRequest{}))(t)
	must(sub.Recv())(t)
	open := e.b.PoolStats().Open
	if err := e.srv.WaitConnCount(ctx, open+1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := e.srv.WaitConnCount(ctx, open); err != nil {
		t.Fatalf("after the subscriber left: %v", err)
	}
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.WaitConnCount(ctx, 0); err != nil {
		t.Fatalf("after Close: %v", err)
	}
}
