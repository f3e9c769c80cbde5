// Package e2e tests the gateway end to end: a gRPC client on a loopback
// connection, the server, and a real backend behind it.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// embEnv is one store served by one gateway. The store has three databases:
// "main" (index 0, the default), "other" (a second tree) and "cache" (hash).
type embEnv struct {
	store  *embedded.Store
	clock  *testclock.Manual
	srv    *server.Server
	conn   *grpc.ClientConn
	kv     ktgrpcv1.KVClient
	cursor ktgrpcv1.CursorClient
	repl   ktgrpcv1.ReplicationClient
	admin  ktgrpcv1.AdminClient
	script ktgrpcv1.ScriptClient
	table  ktgrpcv1.TableClient
}

func newEmbEnv(t *testing.T, opts server.Options) *embEnv {
	t.Helper()
	clk := testclock.NewManual(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	store, err := embedded.New(embedded.Options{
		Databases: []embedded.DBConfig{
			{Name: "main"},
			{Name: "other"},
			{Name: "cache", Kind: embedded.Hash},
		},
		Now: clk.Now,
		// Expired records must stay until Vacuum, so that the tests decide
		// when the purge happens.
		SweepInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after the gateway has stopped.
	t.Cleanup(func() { _ = store.Close() })
	if opts.HealthInterval == 0 {
		// The tests drive health checks themselves with CheckHealth.
		opts.HealthInterval = time.Hour
	}
	srv, conn := gatewaytest.StartServer(t, store, opts)
	return &embEnv{
		store:  store,
		clock:  clk,
		srv:    srv,
		conn:   conn,
		kv:     ktgrpcv1.NewKVClient(conn),
		cursor: ktgrpcv1.NewCursorClient(conn),
		repl:   ktgrpcv1.NewReplicationClient(conn),
		admin:  ktgrpcv1.NewAdminClient(conn),
		script: ktgrpcv1.NewScriptClient(conn),
		table:  ktgrpcv1.NewTableClient(conn),
	}
}

func (e *embEnv) set(t *testing.T, db, key, value string) {
	t.Helper()
	if _, err := e.kv.Set(t.Context(), &ktgrpcv1.SetRequest{Db: db, Key: []byte(key), Value: []byte(value)}); err != nil {
		t.Fatalf("Set %s/%s: %v", db, key, err)
	}
}

func (e *embEnv) get(t *testing.T, db, key string) *ktgrpcv1.GetResponse {
	t.Helper()
	resp, err := e.kv.Get(t.Context(), &ktgrpcv1.GetRequest{Db: db, Key: []byte(key)})
	if err != nil {
		t.Fatalf("Get %s/%s: %v", db, key, err)
	}
	return resp
}

// wantValue checks that key holds value, or is missing when value is nil.
func (e *embEnv) wantValue(t *testing.T, db, key string, value *string) {
	t.Helper()
	got := e.get(t, db, key)
	switch {
	case value == nil && got.GetFound():
		t.Fatalf("%s/%s = %q, want missing", db, key, got.GetValue())
	case value != nil && !got.GetFound():
		t.Fatalf("%s/%s is missing, want %q", db, key, *value)
	case value != nil && string(got.GetValue()) != *value:
		t.Fatalf("%s/%s = %q, want %q", db, key, got.GetValue(), *value)
	}
}

func TestEmbeddedKVReadsAndWrites(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()

	if got := e.get(t, "", "a"); got.GetFound() {
		t.Fatalf("Get of a missing key = %v, want found=false", got)
	}
	e.set(t, "", "a", "1")
	e.wantValue(t, "", "a", ptr("1"))
	e.wantValue(t, "main", "a", ptr("1"))
	e.wantValue(t, "0", "a", ptr("1"))
	e.wantValue(t, "other", "a", nil)

	add, err := e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: []byte("a"), Value: []byte("2")})
	if err != nil || add.GetApplied() {
		t.Fatalf("Add on an existing key: %v, %v; want applied=false", add, err)
	}
	e.wantValue(t, "", "a", ptr("1"))
	add, err = e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: []byte("b"), Value: []byte("2")})
	if err != nil || !add.GetApplied() {
		t.Fatalf("Add on a new key: %v, %v; want applied=true", add, err)
	}
	e.wantValue(t, "", "b", ptr("2"))

	rep, err := e.kv.Replace(ctx, &ktgrpcv1.ReplaceRequest{Key: []byte("nope"), Value: []byte("x")})
	if err != nil || rep.GetApplied() {
		t.Fatalf("Replace on a missing key: %v, %v; want applied=false", rep, err)
	}
	e.wantValue(t, "", "nope", nil)
	rep, err = e.kv.Replace(ctx, &ktgrpcv1.ReplaceRequest{Key: []byte("b"), Value: []byte("3")})
	if err != nil || !rep.GetApplied() {
		t.Fatalf("Replace on an existing key: %v, %v; want applied=true", rep, err)
	}
	e.wantValue(t, "", "b", ptr("3"))

	if _, err := e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: []byte("log"), Value: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: []byte("log"), Value: []byte("def")}); err != nil {
		t.Fatal(err)
	}
	e.wantValue(t, "", "log", ptr("abcdef"))
	if _, err := e.kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: []byte("log"), Value: []byte("gh"), KeepLast: 4}); err != nil {
		t.Fatal(err)
	}
	e.wantValue(t, "", "log", ptr("efgh"))

	chk, err := e.kv.Check(ctx, &ktgrpcv1.CheckRequest{Key: []byte("log")})
	if err != nil || !chk.GetFound() || chk.GetValueSize() != 4 || chk.GetExpireTime() != nil {
		t.Fatalf("Check: %v, %v; want found, 4 bytes, no expiration", chk, err)
	}
	chk, err = e.kv.Check(ctx, &ktgrpcv1.CheckRequest{Key: []byte("nope")})
	if err != nil || chk.GetFound() {
		t.Fatalf("Check of a missing key: %v, %v", chk, err)
	}

	rm, err := e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: []byte("log")})
	if err != nil || !rm.GetRemoved() {
		t.Fatalf("Remove: %v, %v; want removed=true", rm, err)
	}
	e.wantValue(t, "", "log", nil)
	rm, err = e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: []byte("log")})
	if err != nil || rm.GetRemoved() {
		t.Fatalf("Remove of a missing key: %v, %v; want removed=false", rm, err)
	}

	sz, err := e.kv.Seize(ctx, &ktgrpcv1.SeizeRequest{Key: []byte("b")})
	if err != nil || !sz.GetFound() || string(sz.GetValue()) != "3" {
		t.Fatalf("Seize: %v, %v; want found, 3", sz, err)
	}
	e.wantValue(t, "", "b", nil)
	sz, err = e.kv.Seize(ctx, &ktgrpcv1.SeizeRequest{Key: []byte("b")})
	if err != nil || sz.GetFound() {
		t.Fatalf("Seize of a missing key: %v, %v", sz, err)
	}

	// Bulk operations, on a named database.
	sb, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Db: "other", Atomic: true, Records: []*ktgrpcv1.SetBulkRequest_Entry{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: []byte("k2"), Value: []byte("v2")},
		{Key: []byte("k3"), Value: []byte("v3")},
	}})
	if err != nil || sb.GetStored() != 3 {
		t.Fatalf("SetBulk: %v, %v; want 3 stored", sb, err)
	}
	gb, err := e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Db: "other", Keys: [][]byte{[]byte("k3"), []byte("missing"), []byte("k1")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(gb.GetRecords()); !slices.Equal(got, []string{"k3", "k1"}) || string(gb.GetRecords()[0].GetValue()) != "v3" {
		t.Fatalf("GetBulk records = %v, want k3, k1 in request order without the missing key", gb.GetRecords())
	}
	rb, err := e.kv.RemoveBulk(ctx, &ktgrpcv1.RemoveBulkRequest{Db: "other", Keys: [][]byte{[]byte("k1"), []byte("missing"), []byte("k2")}})
	if err != nil || rb.GetRemoved() != 2 {
		t.Fatalf("RemoveBulk: %v, %v; want 2 removed", rb, err)
	}
	e.wantValue(t, "other", "k1", nil)
	e.wantValue(t, "other", "k3", ptr("v3"))

	// Empty bulk requests are answered without the backend.
	if gb, err := e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{}); err != nil || len(gb.GetRecords()) != 0 {
		t.Fatalf("empty GetBulk: %v, %v", gb, err)
	}

	_, err = e.kv.Get(ctx, &ktgrpcv1.GetRequest{Db: "nosuch", Key: []byte("a")})
	gatewaytest.WantCode(t, err, codes.InvalidArgument, "nosuch")
}

func TestEmbeddedCompareAndSwap(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	cas := func(key string, old, new *string) bool {
		t.Helper()
		req := &ktgrpcv1.CompareAndSwapRequest{Key: []byte(key)}
		if old != nil {
			req.OldValue = []byte(*old)
		}
		if new != nil {
			req.NewValue = []byte(*new)
		}
		resp, err := e.kv.CompareAndSwap(ctx, req)
		if err != nil {
			t.Fatalf("CompareAndSwap %s: %v", key, err)
		}
		return resp.GetSwapped()
	}

	// Absent old value: the record must not exist.
	if !cas("k", nil, ptr("1")) {
		t.Fatal("CAS absent->1 on a missing key did not swap")
	}
	e.wantValue(t, "", "k", ptr("1"))
	if cas("k", nil, ptr("2")) {
		t.Fatal("CAS absent->2 on an existing key swapped")
	}
	e.wantValue(t, "", "k", ptr("1"))

	// A mismatch is a response field, not an error.
	if cas("k", ptr("x"), ptr("2")) {
		t.Fatal("CAS with the wrong old value swapped")
	}
	e.wantValue(t, "", "k", ptr("1"))
	if !cas("k", ptr("1"), ptr("2")) {
		t.Fatal("CAS with the right old value did not swap")
	}
	e.wantValue(t, "", "k", ptr("2"))

	// An empty old value is present: it matches an empty record, not a
	// missing one.
	if cas("missing", ptr(""), ptr("x")) {
		t.Fatal("CAS with an empty old value swapped on a missing key")
	}
	e.set(t, "", "empty", "")
	if !cas("empty", ptr(""), ptr("full")) {
		t.Fatal("CAS with an empty old value did not swap on an empty record")
	}
	e.wantValue(t, "", "empty", ptr("full"))

	// Absent new value: remove.
	if !cas("k", ptr("2"), nil) {
		t.Fatal("CAS 2->absent did not swap")
	}
	e.wantValue(t, "", "k", nil)

	// With an expiration for the new record.
	resp, err := e.kv.CompareAndSwap(ctx, &ktgrpcv1.CompareAndSwapRequest{
		Key: []byte("ttl"), NewValue: []byte("v"),
		Expiration: &ktgrpcv1.CompareAndSwapRequest_Ttl{Ttl: durationpb.New(time.Minute)},
	})
	if err != nil || !resp.GetSwapped() {
		t.Fatalf("CAS with ttl: %v, %v", resp, err)
	}
	if got := e.get(t, "", "ttl").GetExpireTime().AsTime(); !got.Equal(e.clock.Now().Add(time.Minute)) {
		t.Fatalf("CAS ttl record expires at %v, want %v", got, e.clock.Now().Add(time.Minute))
	}
}

func TestEmbeddedIncrement(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()

	inc, err := e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("n"), Delta: 5, Initial: ptr(int64(100))})
	if err != nil || !inc.GetApplied() || inc.GetValue() != 105 {
		t.Fatalf("Increment from initial 100 by 5: %v, %v; want 105", inc, err)
	}
	inc, err = e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("n"), Delta: -10})
	if err != nil || inc.GetValue() != 95 {
		t.Fatalf("Increment by -10: %v, %v; want 95", inc, err)
	}
	inc, err = e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("fresh"), Delta: 3})
	if err != nil || inc.GetValue() != 3 {
		t.Fatalf("Increment of a missing key without initial: %v, %v; want 3", inc, err)
	}
	inc, err = e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("absent"), Delta: 1, MustExist: true})
	if err != nil || inc.GetApplied() {
		t.Fatalf("Increment must_exist on a missing key: %v, %v; want applied=false", inc, err)
	}
	e.wantValue(t, "", "absent", nil)
	// The stored form is an 8-byte big-endian integer.
	if got := e.get(t, "", "n").GetValue(); !bytes.Equal(got, []byte{0, 0, 0, 0, 0, 0, 0, 95}) {
		t.Fatalf("stored counter = %x, want 8-byte big-endian 95", got)
	}

	e.set(t, "", "text", "hello")
	_, err = e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("text"), Delta: 1})
	gatewaytest.WantCode(t, err, codes.FailedPrecondition, `value of key "text" is 5 bytes, not an 8-byte integer`)
	// The message says what to do about it, too.
	gatewaytest.WantCode(t, err, codes.FailedPrecondition, "Increment keeps counters as 8-byte big-endian integers")
	e.wantValue(t, "", "text", ptr("hello"))

	dbl, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("f"), Delta: 1.5, Initial: ptr(0.25)})
	if err != nil || !dbl.GetApplied() || dbl.GetValue() != 1.75 {
		t.Fatalf("IncrementDouble from 0.25 by 1.5: %v, %v; want 1.75", dbl, err)
	}
	dbl, err = e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("f"), Delta: 2.25})
	if err != nil || dbl.GetValue() != 4 {
		t.Fatalf("IncrementDouble by 2.25: %v, %v; want 4", dbl, err)
	}
	dbl, err = e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("absent"), Delta: 1, MustExist: true})
	if err != nil || dbl.GetApplied() {
		t.Fatalf("IncrementDouble must_exist on a missing key: %v, %v; want applied=false", dbl, err)
	}
	_, err = e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("text"), Delta: 1})
	gatewaytest.WantCode(t, err, codes.FailedPrecondition, "text")
}

func TestEmbeddedMatchKeys(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	for _, k := range []string{"apple", "apply", "apricot", "banana", "bandana", "cherry"} {
		e.set(t, "", k, "x")
	}
	match := func(req *ktgrpcv1.MatchKeysRequest) []string {
		t.Helper()
		resp, err := e.kv.MatchKeys(ctx, req)
		if err != nil {
			t.Fatalf("MatchKeys %v: %v", req, err)
		}
		return strs(resp.GetKeys())
	}

	if got := match(&ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: []byte("ap")}}); !slices.Equal(got, []string{"apple", "apply", "apricot"}) {
		t.Fatalf("prefix ap = %v", got)
	}
	if got := match(&ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: []byte("ap")}, Limit: 2}); !slices.Equal(got, []string{"apple", "apply"}) {
		t.Fatalf("prefix ap limit 2 = %v", got)
	}
	if got := match(&ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "an+a$"}}); !slices.Equal(got, []string{"banana", "bandana"}) {
		t.Fatalf("regex an+a$ = %v", got)
	}
	// max_distance 0 means 1.
	if got := match(&ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Similar{Similar: &ktgrpcv1.Similarity{Origin: []byte("appla")}}}); !slices.Equal(got, []string{"apple", "apply"}) {
		t.Fatalf("similar to appla = %v", got)
	}
	if got := match(&ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Similar{Similar: &ktgrpcv1.Similarity{Origin: []byte("banana"), MaxDistance: 2}}}); !slices.Equal(got, []string{"banana", "bandana"}) {
		t.Fatalf("similar to banana within 2 = %v", got)
	}

	_, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "(unclosed"}})
	gatewaytest.WantCode(t, err, codes.InvalidArgument, "(unclosed")
}

func TestEmbeddedExpiration(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	start := e.clock.Now()

	if _, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("ttl"), Value: []byte("v"),
		Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(10 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	at := start.Add(time.Hour)
	if _, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("at"), Value: []byte("v"),
		Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: timestamppb.New(at)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: []byte("added"), Value: []byte("v"),
		Expiration: &ktgrpcv1.AddRequest_Ttl{Ttl: durationpb.New(20 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Records: []*ktgrpcv1.SetBulkRequest_Entry{
		{Key: []byte("bulk"), Value: []byte("v"), Expiration: &ktgrpcv1.SetBulkRequest_Entry_Ttl{Ttl: durationpb.New(30 * time.Second)}},
	}}); err != nil {
		t.Fatal(err)
	}
	e.set(t, "", "forever", "v")

	if got := e.get(t, "", "ttl").GetExpireTime().AsTime(); !got.Equal(start.Add(10 * time.Second)) {
		t.Fatalf("ttl record expires at %v, want %v", got, start.Add(10*time.Second))
	}
	if got := e.get(t, "", "forever"); got.GetExpireTime() != nil {
		t.Fatalf("record without expiration reports expire_time %v", got.GetExpireTime())
	}
	chk, err := e.kv.Check(ctx, &ktgrpcv1.CheckRequest{Key: []byte("at")})
	if err != nil || !chk.GetExpireTime().AsTime().Equal(at) {
		t.Fatalf("Check expire_time = %v, %v; want %v", chk, err, at)
	}
	gb, err := e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Keys: [][]byte{[]byte("added"), []byte("bulk")}})
	if err != nil || len(gb.GetRecords()) != 2 ||
		!gb.GetRecords()[0].GetExpireTime().AsTime().Equal(start.Add(20*time.Second)) ||
		!gb.GetRecords()[1].GetExpireTime().AsTime().Equal(start.Add(30*time.Second)) {
		t.Fatalf("GetBulk expirations: %v, %v", gb, err)
	}

	e.clock.Advance(11 * time.Second)
	e.wantValue(t, "", "ttl", nil)
	e.wantValue(t, "", "added", ptr("v"))
	e.clock.Advance(20 * time.Second)
	e.wantValue(t, "", "added", nil)
	e.wantValue(t, "", "bulk", nil)
	e.wantValue(t, "", "at", ptr("v"))
	e.clock.Advance(time.Hour)
	e.wantValue(t, "", "at", nil)
	e.wantValue(t, "", "forever", ptr("v"))

	st, err := e.admin.Status(ctx, &ktgrpcv1.StatusRequest{})
	if err != nil || st.GetCount() != 1 {
		t.Fatalf("Status after expiry: %v, %v; want 1 live record", st, err)
	}
}

// embScanAll runs a scan and returns its batches.
func TestEmbeddedScan(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	all := []string{"a1", "a2", "a3", "b1", "b2", "c1", "c2", "c3", "c4", "d1"}
	for _, k := range all {
		e.set(t, "", k, "v-"+k)
	}
	rev := slices.Clone(all)
	slices.Reverse(rev)

	for _, tc := range []struct {
		name string
		req  *ktgrpcv1.ScanRequest
		want []string
	}{
		{"forward", &ktgrpcv1.ScanRequest{}, all},
		{"reverse", &ktgrpcv1.ScanRequest{Reverse: true}, rev},
		{"limit", &ktgrpcv1.ScanRequest{Limit: 3}, all[:3]},
		{"reverse limit", &ktgrpcv1.ScanRequest{Reverse: true, Limit: 2}, []string{"d1", "c4"}},
		{"prefix", &ktgrpcv1.ScanRequest{Prefix: []byte("c")}, []string{"c1", "c2", "c3", "c4"}},
		{"start", &ktgrpcv1.ScanRequest{StartKey: []byte("b2")}, all[4:]},
		{"end exclusive", &ktgrpcv1.ScanRequest{EndKey: []byte("b2")}, all[:4]},
		{"range", &ktgrpcv1.ScanRequest{StartKey: []byte("a2"), EndKey: []byte("c2")}, []string{"a2", "a3", "b1", "b2", "c1"}},
		{"reverse range", &ktgrpcv1.ScanRequest{StartKey: []byte("a2"), EndKey: []byte("c2"), Reverse: true}, []string{"c1", "b2", "b1", "a3", "a2"}},
		{"prefix and end", &ktgrpcv1.ScanRequest{Prefix: []byte("c"), EndKey: []byte("c3")}, []string{"c1", "c2"}},
		{"other db", &ktgrpcv1.ScanRequest{Db: "other"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scanKeys(t, t.Context(), e.cursor, tc.req); !slices.Equal(got, tc.want) {
				t.Fatalf("keys = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("values", func(t *testing.T) {
		batches, err := scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{Limit: 1})
		if err != nil || len(batches) != 1 || string(batches[0][0].GetValue()) != "v-a1" {
			t.Fatalf("batches = %v, %v; want a1 with its value", batches, err)
		}
		batches, err = scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			for _, r := range b {
				if len(r.GetValue()) != 0 {
					t.Fatalf("keys_only scan returned value %q for %s", r.GetValue(), r.GetKey())
				}
			}
		}
	})

	t.Run("batching", func(t *testing.T) {
		batches, err := scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, b := range batches {
			sizes = append(sizes, len(b))
		}
		if !slices.Equal(sizes, []int{3, 3, 3, 1}) {
			t.Fatalf("batch sizes = %v, want 3 3 3 1", sizes)
		}
		// The default batch holds all ten.
		batches, err = scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{})
		if err != nil || len(batches) != 1 || len(batches[0]) != 10 {
			t.Fatalf("default batching: %d batches, %v", len(batches), err)
		}
	})

	t.Run("expiration reported", func(t *testing.T) {
		at := e.clock.Now().Add(time.Hour)
		if _, err := e.kv.Set(t.Context(), &ktgrpcv1.SetRequest{Db: "other", Key: []byte("x"), Value: []byte("v"),
			Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: timestamppb.New(at)}}); err != nil {
			t.Fatal(err)
		}
		batches, err := scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{Db: "other"})
		if err != nil || len(batches) != 1 || !batches[0][0].GetExpireTime().AsTime().Equal(at) {
			t.Fatalf("scan of other: %v, %v; want x expiring at %v", batches, err, at)
		}
	})

	t.Run("hash database", func(t *testing.T) {
		for _, k := range []string{"h1", "h2", "h3"} {
			e.set(t, "cache", k, "v")
		}
		got := scanKeys(t, t.Context(), e.cursor, &ktgrpcv1.ScanRequest{Db: "cache"})
		slices.Sort(got)
		if !slices.Equal(got, []string{"h1", "h2", "h3"}) {
			t.Fatalf("hash scan keys = %v", got)
		}
		_, err := scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{Db: "cache", Reverse: true})
		gatewaytest.WantCode(t, err, codes.Unimplemented, "hash database")
	})
}

const (
	embJump        = ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP
	embJumpBack    = ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK
	embStep        = ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP
	embStepBack    = ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP_BACK
	embGet         = ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET
	embGetKey      = ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY
	embGetValue    = ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_VALUE
	embSetValue    = ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE
	embRemove      = ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE
	embSeize       = ktgrpcv1.CursorOperation_CURSOR_OPERATION_SEIZE
	embUnspecified = ktgrpcv1.CursorOperation_CURSOR_OPERATION_UNSPECIFIED
)

func TestEmbeddedCursorOpen(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		e.set(t, "other", k, "v-"+k)
	}
	cs := openCursor(t, t.Context(), e.cursor)
	wantKey := func(resp *ktgrpcv1.OpenResponse, key string) {
		t.Helper()
		if !resp.GetOk() || string(resp.GetKey()) != key {
			t.Fatalf("response %v, want ok at %q", resp, key)
		}
	}

	// The first request opens the cursor on its db; later ones may repeat it
	// or leave it empty.
	first := op(embJump)
	first.Db = "other"
	if resp := cs.must(first); !resp.GetOk() {
		t.Fatalf("JUMP to the first record: %v", resp)
	}
	wantKey(cs.must(op(embGetKey)), "a")
	resp := cs.must(&ktgrpcv1.OpenRequest{Db: "other", Operation: embGet, Step: true})
	wantKey(resp, "a")
	if string(resp.GetValue()) != "v-a" {
		t.Fatalf("GET value = %q, want v-a", resp.GetValue())
	}
	wantKey(cs.must(op(embGetKey)), "b")
	if resp := cs.must(op(embGetValue)); string(resp.GetValue()) != "v-b" || !resp.GetOk() {
		t.Fatalf("GET_VALUE = %v, want v-b", resp)
	}
	wantKey(cs.must(&ktgrpcv1.OpenRequest{Operation: embJump, Key: []byte("bb")}), "")
	wantKey(cs.must(op(embGetKey)), "c")

	// SET_VALUE with a ttl, then step.
	if resp := cs.must(&ktgrpcv1.OpenRequest{Operation: embSetValue, Value: []byte("new-c"), Step: true,
		Expiration: &ktgrpcv1.OpenRequest_Ttl{Ttl: durationpb.New(time.Minute)}}); !resp.GetOk() {
		t.Fatalf("SET_VALUE: %v", resp)
	}
	got := e.get(t, "other", "c")
	if string(got.GetValue()) != "new-c" || !got.GetExpireTime().AsTime().Equal(e.clock.Now().Add(time.Minute)) {
		t.Fatalf("after SET_VALUE c = %v", got)
	}
	wantKey(cs.must(op(embGetKey)), "d")

	// REMOVE moves to the next record; SEIZE returns and removes.
	if resp := cs.must(op(embRemove)); !resp.GetOk() {
		t.Fatalf("REMOVE: %v", resp)
	}
	e.wantValue(t, "other", "d", nil)
	resp = cs.must(op(embSeize))
	wantKey(resp, "e")
	if string(resp.GetValue()) != "v-e" {
		t.Fatalf("SEIZE value = %q", resp.GetValue())
	}
	e.wantValue(t, "other", "e", nil)
	if resp := cs.must(op(embGet)); resp.GetOk() {
		t.Fatalf("GET past the end = %v, want ok=false", resp)
	}

	// Backward: the last record, then step back.
	if resp := cs.must(op(embJumpBack)); !resp.GetOk() {
		t.Fatalf("JUMP_BACK to the last record: %v", resp)
	}
	wantKey(cs.must(op(embGetKey)), "c")
	if resp := cs.must(op(embStepBack)); !resp.GetOk() {
		t.Fatalf("STEP_BACK: %v", resp)
	}
	wantKey(cs.must(op(embGetKey)), "b")
	if resp := cs.must(&ktgrpcv1.OpenRequest{Operation: embJumpBack, Key: []byte("bz")}); !resp.GetOk() {
		t.Fatalf("JUMP_BACK bz: %v", resp)
	}
	wantKey(cs.must(op(embGetKey)), "b")
	cs.must(op(embStep))
	if resp := cs.must(op(embStep)); resp.GetOk() {
		t.Fatalf("STEP past the last record = %v, want ok=false", resp)
	}
	if resp := cs.must(&ktgrpcv1.OpenRequest{Operation: embJump, Key: []byte("zzz")}); resp.GetOk() {
		t.Fatalf("JUMP beyond every key = %v, want ok=false", resp)
	}

	// Changing the database mid-stream ends the stream.
	_, err := cs.do(&ktgrpcv1.OpenRequest{Db: "main", Operation: embStep})
	gatewaytest.WantCode(t, err, codes.InvalidArgument, "db must stay \"other\"")

	t.Run("unspecified operation", func(t *testing.T) {
		cs := openCursor(t, t.Context(), e.cursor)
		_, err := cs.do(op(embUnspecified))
		gatewaytest.WantCode(t, err, codes.InvalidArgument, "operation must be set")
	})
	t.Run("hash database", func(t *testing.T) {
		e.set(t, "cache", "h", "v")
		cs := openCursor(t, t.Context(), e.cursor)
		req := op(embJump)
		req.Db = "cache"
		wantKey(cs.must(req), "")
		wantKey(cs.must(op(embGetKey)), "h")
		_, err := cs.do(op(embJumpBack))
		gatewaytest.WantCode(t, err, codes.Unimplemented, "hash database")
	})
	t.Run("client closes", func(t *testing.T) {
		cs := openCursor(t, t.Context(), e.cursor)
		cs.must(op(embJump))
		if err := cs.s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.s.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("Recv after CloseSend = %v, want io.EOF: the server ends the stream cleanly", err)
		}
	})
	t.Run("unknown database", func(t *testing.T) {
		cs := openCursor(t, t.Context(), e.cursor)
		req := op(embJump)
		req.Db = "nosuch"
		_, err := cs.do(req)
		gatewaytest.WantCode(t, err, codes.InvalidArgument, "nosuch")
	})
}

// embSub reads one Subscribe stream.
type embSub struct {
	t      *testing.T
	stream ktgrpcv1.Replication_SubscribeClient
}

func (e *embEnv) subscribe(t *testing.T, req *ktgrpcv1.SubscribeRequest) *embSub {
	t.Helper()
	if req.ProgressInterval == nil {
		req.ProgressInterval = durationpb.New(10 * time.Millisecond)
	}
	stream, err := e.repl.Subscribe(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return &embSub{t: t, stream: stream}
}

func (s *embSub) next() *ktgrpcv1.SubscribeResponse {
	s.t.Helper()
	m, err := s.stream.Recv()
	if err != nil {
		s.t.Fatalf("Subscribe Recv: %v", err)
	}
	return m
}

func (s *embSub) event(want ktgrpcv1.Operation, db, key string) *ktgrpcv1.Event {
	s.t.Helper()
	m := s.next()
	ev := m.GetEvent()
	if ev == nil || ev.GetOperation() != want || ev.GetDb() != db || string(ev.GetKey()) != key {
		s.t.Fatalf("got %v, want %v event for %s/%s", m, want, db, key)
	}
	return ev
}

// progress expects a progress message at pos and returns its position.
func (s *embSub) progress(pos uint64) uint64 {
	s.t.Helper()
	m := s.next()
	if m.GetProgress() == nil || m.GetProgress().GetPosition() != pos {
		s.t.Fatalf("got %v, want progress at %d", m, pos)
	}
	return m.GetProgress().GetPosition()
}

const (
	embEvSet    = ktgrpcv1.Operation_OPERATION_SET
	embEvRemove = ktgrpcv1.Operation_OPERATION_REMOVE
	embEvClear  = ktgrpcv1.Operation_OPERATION_CLEAR
)

func TestEmbeddedSubscribe(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	e.set(t, "main", "a1", "1")
	e.set(t, "other", "a2", "2")
	e.set(t, "main", "b1", "3")
	if _, err := e.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Key: []byte("a1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Clear(ctx, &ktgrpcv1.ClearRequest{Db: "other"}); err != nil {
		t.Fatal(err)
	}
	filtered := func(start *ktgrpcv1.SubscribeRequest) *ktgrpcv1.SubscribeRequest {
		start.Dbs = []string{"main"}
		start.KeyPrefix = []byte("a")
		start.Operations = []ktgrpcv1.Operation{embEvSet, embEvRemove}
		return start
	}

	// Replay of the whole log through the filters: only main's a* writes.
	sub := e.subscribe(t, filtered(&ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}}))
	set := sub.event(embEvSet, "main", "a1")
	if string(set.GetValue()) != "1" || set.GetCommand() != "set" || set.GetOriginServerId() != embedded.DefaultServerID || set.GetExpireTime() != nil {
		t.Fatalf("SET event = %v", set)
	}
	removed := sub.event(embEvRemove, "main", "a1")
	if removed.GetPosition() <= set.GetPosition() {
		t.Fatalf("positions not increasing: %d then %d", set.GetPosition(), removed.GetPosition())
	}
	// The withheld CLEAR of other is the log's end; progress tells it.
	sub.progress(e.store.LogPosition())

	// Live changes.
	if _, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("a3"), Value: []byte("x"),
		Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	a3 := sub.event(embEvSet, "main", "a3")
	if !a3.GetExpireTime().AsTime().Equal(e.clock.Now().Add(time.Minute)) {
		t.Fatalf("a3 event expire_time = %v", a3.GetExpireTime())
	}
	// A withheld change still moves the position, reported by the next tick;
	// no progress repeats a position already delivered.
	e.set(t, "main", "zz", "x")
	checkpoint := sub.progress(e.store.LogPosition())
	e.set(t, "main", "a4", "x")
	a4 := sub.event(embEvSet, "main", "a4")

	// Resuming after an event's position is exclusive: the next delivered
	// change is the one after it, with no duplicate and no gap.
	resumed := e.subscribe(t, filtered(&ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: removed.GetPosition()}}))
	if got := resumed.event(embEvSet, "main", "a3"); got.GetPosition() != a3.GetPosition() {
		t.Fatalf("resumed a3 at %d, want %d", got.GetPosition(), a3.GetPosition())
	}
	resumed.event(embEvSet, "main", "a4")
	resumed.progress(a4.GetPosition())

	// Resuming from a progress message's position.
	fromProgress := e.subscribe(t, filtered(&ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: checkpoint}}))
	if got := fromProgress.event(embEvSet, "main", "a4"); got.GetPosition() != a4.GetPosition() {
		t.Fatalf("a4 from progress checkpoint at %d, want %d", got.GetPosition(), a4.GetPosition())
	}
	fromProgress.progress(e.store.LogPosition())

	// Without filters, every operation is delivered, CLEAR included.
	everything := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}, Dbs: []string{"other"}})
	everything.event(embEvSet, "other", "a2")
	everything.event(embEvClear, "other", "")
	everything.progress(e.store.LogPosition())

	// From now: the position first, then only new changes.
	now := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}})
	now.progress(e.store.LogPosition())
	e.set(t, "other", "later", "x")
	now.event(embEvSet, "other", "later")
	resumed.progress(e.store.LogPosition())
}

// Scripts need another backend; Table calls need a table database, which
// the default tree database "main" is not (embedded_table_test.go has one).
func TestEmbeddedScriptNeedsAnotherBackendAndTableATable(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	_, err := e.script.Call(ctx, &ktgrpcv1.CallRequest{Name: "echo"})
	gatewaytest.WantCode(t, err, codes.Unimplemented, `Script.Call needs capability "scripts" (server-side scripts), which embedded does not offer`)

	for name, call := range map[string]func() error{
		"Put": func() error {
			_, err := e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("k")})
			return err
		},
		"Get": func() error {
			_, err := e.table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: []byte("k")})
			return err
		},
		"Search": func() error {
			_, err := e.table.Search(ctx, &ktgrpcv1.TableSearchRequest{})
			return err
		},
		"SetIndex": func() error {
			_, err := e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "c", Type: ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL})
			return err
		},
		"GenerateID": func() error {
			_, err := e.table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			gatewaytest.WantCode(t, call(), codes.Unimplemented, `database "main" is a tree database, not a table`)
		})
	}
}

func TestEmbeddedAdmin(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	e.set(t, "", "k1", "12345")
	e.set(t, "", "k2", "v")

	st, err := e.admin.Status(ctx, &ktgrpcv1.StatusRequest{})
	if err != nil || st.GetCount() != 2 || st.GetSize() != int64(len("k1")+len("12345")+len("k2")+len("v")) ||
		st.GetFields()["name"] != "main" || st.GetFields()["type"] != "tree" {
		t.Fatalf("Status: %v, %v", st, err)
	}
	st, err = e.admin.Status(ctx, &ktgrpcv1.StatusRequest{Db: "cache"})
	if err != nil || st.GetCount() != 0 || st.GetFields()["type"] != "hash" {
		t.Fatalf("Status of cache: %v, %v", st, err)
	}
	_, err = e.admin.Status(ctx, &ktgrpcv1.StatusRequest{Db: "nosuch"})
	gatewaytest.WantCode(t, err, codes.InvalidArgument, "nosuch")

	rep, err := e.admin.Report(ctx, &ktgrpcv1.ReportRequest{})
	if err != nil || rep.GetFields()["db_total_count"] != "2" || rep.GetFields()["db_0"] == "" {
		t.Fatalf("Report: %v, %v", rep, err)
	}

	dbs, err := e.admin.Databases(ctx, &ktgrpcv1.DatabasesRequest{})
	if err != nil || len(dbs.GetDatabases()) != 3 {
		t.Fatalf("Databases: %v, %v", dbs, err)
	}
	for i, want := range []struct{ name, kind string }{{"main", "tree"}, {"other", "tree"}, {"cache", "hash"}} {
		d := dbs.GetDatabases()[i]
		if d.GetIndex() != int32(i) || d.GetName() != want.name || d.GetKind() != want.kind || !d.GetHealthy() || d.GetBackend() != "embedded" {
			t.Fatalf("database %d = %v, want %s (%s)", i, d, want.name, want.kind)
		}
	}

	if _, err := e.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{Hard: true}); err != nil {
		t.Fatalf("Synchronize: %v", err)
	}
	_, err = e.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{Command: "backup"})
	gatewaytest.WantCode(t, err, codes.Unimplemented, "backup")

	// Vacuum purges expired records, which the log shows as REMOVEs.
	if _, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("old"), Value: []byte("v"),
		Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	before := e.store.LogPosition()
	if _, err := e.admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{}); err != nil {
		t.Fatalf("Vacuum: %v", err)
	}
	if e.store.LogPosition() == before {
		t.Fatal("Vacuum purged nothing: the log did not move")
	}
	sub := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: before}})
	if ev := sub.event(embEvRemove, "main", "old"); ev.GetCommand() != "expire" {
		t.Fatalf("vacuum event command = %q, want expire", ev.GetCommand())
	}

	if _, err := e.admin.Clear(ctx, &ktgrpcv1.ClearRequest{}); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if st, err := e.admin.Status(ctx, &ktgrpcv1.StatusRequest{}); err != nil || st.GetCount() != 0 {
		t.Fatalf("Status after Clear: %v, %v", st, err)
	}

	for name, tc := range map[string]struct {
		call    func() error
		backend string
	}{
		"Optimize": {func() error { _, err := e.admin.Optimize(ctx, &ktgrpcv1.OptimizeRequest{}); return err }, `capability "maintenance"`},
		"Copy":     {func() error { _, err := e.admin.Copy(ctx, &ktgrpcv1.CopyRequest{Path: "/tmp/x"}); return err }, `capability "maintenance"`},
		"Restore":  {func() error { _, err := e.admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "/ulog"}); return err }, `capability "maintenance"`},
		"SetMaster": {func() error {
			_, err := e.admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{Host: "m", Port: 1978})
			return err
		}, `capability "maintenance"`},
		"Misc": {func() error { _, err := e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "putlist"}); return err }, `capability "maintenance"`},
		"TuneReplication": {func() error {
			_, err := e.admin.TuneReplication(ctx, &ktgrpcv1.TuneReplicationRequest{})
			return err
		}, `capability "replication_admin"`},
		"ListUpdateLogs": {func() error {
			_, err := e.admin.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
			return err
		}, `capability "replication_admin"`},
		"RemoveUpdateLogs": {func() error {
			_, err := e.admin.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{})
			return err
		}, `capability "replication_admin"`},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			gatewaytest.WantCode(t, err, codes.Unimplemented, tc.backend)
			gatewaytest.WantCode(t, err, codes.Unimplemented, "which embedded does not offer")
		})
	}
}

func TestEmbeddedValidation(t *testing.T) {
	e := newEmbEnv(t, server.Options{MaxKeySize: 8, MaxValueSize: 16})
	ctx := t.Context()
	long := []byte("123456789")
	big := bytes.Repeat([]byte("v"), 17)

	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"Get empty key", func() error { _, err := e.kv.Get(ctx, &ktgrpcv1.GetRequest{}); return err }, "key must not be empty"},
		{"Get long key", func() error { _, err := e.kv.Get(ctx, &ktgrpcv1.GetRequest{Key: long}); return err }, "key is 9 bytes; the limit is 8 bytes"},
		{"Set big value", func() error {
			_, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Value: big})
			return err
		}, "value is 17 bytes; the limit is 16 bytes"},
		{"Set zero ttl", func() error {
			_, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(0)}})
			return err
		}, "ttl must be positive"},
		{"Add negative ttl", func() error {
			_, err := e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: []byte("k"), Expiration: &ktgrpcv1.AddRequest_Ttl{Ttl: durationpb.New(-time.Second)}})
			return err
		}, "ttl must be positive"},
		{"Set invalid expire_time", func() error {
			_, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: &timestamppb.Timestamp{Nanos: -1}}})
			return err
		}, "expire_time"},
		{"Set empty expire_time", func() error {
			_, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Expiration: &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: &timestamppb.Timestamp{}}})
			return err
		}, "expire_time 1970-01-01T00:00:00Z is not after 1970-01-01T00:00:00Z; leave expiration unset"},
		{"Add expire_time of Go's zero time", func() error {
			// The earliest valid Timestamp converts to the time that means
			// "never" inside the gateway.
			_, err := e.kv.Add(ctx, &ktgrpcv1.AddRequest{Key: []byte("k"), Expiration: &ktgrpcv1.AddRequest_ExpireTime{ExpireTime: timestamppb.New(time.Time{})}})
			return err
		}, "expire_time 0001-01-01T00:00:00Z is not after"},
		{"SetBulk entry", func() error {
			_, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Records: []*ktgrpcv1.SetBulkRequest_Entry{{Key: []byte("k")}, {}}})
			return err
		}, "records[1].key must not be empty"},
		{"SetBulk entry ttl", func() error {
			_, err := e.kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Records: []*ktgrpcv1.SetBulkRequest_Entry{
				{Key: []byte("k"), Expiration: &ktgrpcv1.SetBulkRequest_Entry_Ttl{Ttl: durationpb.New(0)}}}})
			return err
		}, "records[0].ttl must be positive"},
		{"GetBulk key", func() error {
			_, err := e.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Keys: [][]byte{[]byte("a"), long}})
			return err
		}, "keys[1] is 9 bytes"},
		{"RemoveBulk key", func() error {
			_, err := e.kv.RemoveBulk(ctx, &ktgrpcv1.RemoveBulkRequest{Keys: [][]byte{nil}})
			return err
		}, "keys[0] must not be empty"},
		{"CAS big new value", func() error {
			_, err := e.kv.CompareAndSwap(ctx, &ktgrpcv1.CompareAndSwapRequest{Key: []byte("k"), NewValue: big})
			return err
		}, "new_value is 17 bytes"},
		{"IncrementDouble NaN", func() error {
			_, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("k"), Delta: math.NaN()})
			return err
		}, "delta must be a finite number"},
		{"IncrementDouble Inf", func() error {
			_, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("k"), Delta: math.Inf(-1)})
			return err
		}, "delta must be a finite number"},
		{"Increment initial with must_exist", func() error {
			_, err := e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: []byte("k"), Delta: 1, Initial: ptr(int64(5)), MustExist: true})
			return err
		}, "initial has no effect with must_exist"},
		{"IncrementDouble initial with must_exist", func() error {
			_, err := e.kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: []byte("k"), Delta: 1, Initial: ptr(0.5), MustExist: true})
			return err
		}, "initial has no effect with must_exist"},
		{"Increment empty key", func() error { _, err := e.kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Delta: 1}); return err }, "key must not be empty"},
		{"MatchKeys no pattern", func() error { _, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{}); return err }, "pattern must be set"},
		{"MatchKeys empty regex", func() error {
			_, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{}})
			return err
		}, "regex must not be empty"},
		{"MatchKeys negative limit", func() error {
			_, err := e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: []byte("a")}, Limit: -1})
			return err
		}, "limit must not be negative"},
		{"Scan negative limit", func() error {
			_, err := scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{Limit: -5})
			return err
		}, "limit must not be negative"},
		{"Scan start after end", func() error {
			_, err := scanAll(t.Context(), e.cursor, &ktgrpcv1.ScanRequest{StartKey: []byte("m"), EndKey: []byte("c"), Reverse: true})
			return err
		}, `start_key "m" sorts after end_key "c"`},
		{"Vacuum negative steps", func() error { _, err := e.admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{Steps: -1}); return err }, "steps must not be negative"},
		{"Subscribe fast progress", func() error {
			stream, err := e.repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{ProgressInterval: durationpb.New(5 * time.Millisecond)})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, "progress_interval must be at least 10ms"},
		{"Subscribe now false", func() error {
			stream, err := e.repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: false}})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, "now must be true when set"},
		{"Subscribe unspecified operation", func() error {
			stream, err := e.repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Operations: []ktgrpcv1.Operation{embEvSet, ktgrpcv1.Operation_OPERATION_UNSPECIFIED}})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, "operations[1]"},
		{"Cursor SET_VALUE big value", func() error {
			_, err := openCursor(t, t.Context(), e.cursor).do(&ktgrpcv1.OpenRequest{Operation: embSetValue, Value: big})
			return err
		}, "value is 17 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gatewaytest.WantCode(t, tc.call(), codes.InvalidArgument, tc.want)
		})
	}
}

func TestEmbeddedReflectionListsServices(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"ktgrpc.v1.KV", "ktgrpc.v1.Cursor", "ktgrpc.v1.Script", "ktgrpc.v1.Replication", "ktgrpc.v1.Admin", "ktgrpc.v1.Table", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	// The descriptors resolve too, so that tools like grpcurl can call
	// methods by name.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "ktgrpc.v1.KV"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("file containing ktgrpc.v1.KV: %v, %v", resp, err)
	}
}

func TestEmbeddedHealth(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	ctx := t.Context()
	h := healthpb.NewHealthClient(e.conn)
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	if err := e.srv.CheckHealth(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "ktgrpc.v1.KV", "ktgrpc.v1.Replication"} {
		if got := check(s); got != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%q = %v, want SERVING", s, got)
		}
	}

	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.CheckHealth(ctx); err == nil {
		t.Fatal("CheckHealth on a closed store returned nil")
	}
	for _, s := range []string{"", "ktgrpc.v1.KV", "ktgrpc.v1.Table"} {
		if got := check(s); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("%q = %v, want NOT_SERVING", s, got)
		}
	}
	// Calls fail with Unavailable rather than hanging.
	_, err := e.kv.Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("k")})
	gatewaytest.WantCode(t, err, codes.Unavailable, "closed")
}

func TestEmbeddedStopEndsStreams(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	sub := e.subscribe(t, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}})
	sub.progress(e.store.LogPosition())
	e.set(t, "", "k", "v")
	sub.event(embEvSet, "main", "k")
	cs := openCursor(t, t.Context(), e.cursor)
	if !cs.must(op(embJump)).GetOk() {
		t.Fatal("JUMP on a store with one record found nothing")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- e.srv.Stop(ctx) }()

	// Both streams end with Unavailable; Stop completes gracefully instead
	// of running into its deadline.
	for {
		_, err := sub.stream.Recv()
		if err != nil {
			gatewaytest.WantCode(t, err, codes.Unavailable, "shutting down")
			break
		}
	}
	_, err := cs.s.Recv()
	gatewaytest.WantCode(t, err, codes.Unavailable, "shutting down")
	if err := <-stopped; err != nil {
		t.Fatalf("Stop = %v, want a graceful stop", err)
	}
}
