package tt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

// These tests drive the adapter through exchanges recorded from a real
// ttserver 1.1.41: the adapter must send the recorded bytes and understand
// the recorded replies.

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantValue(t *testing.T, rec backend.Record, found bool, err error, want string) {
	t.Helper()
	if err != nil || !found || string(rec.Value) != want {
		t.Fatalf("got %q found=%v err=%v, want %q", rec.Value, found, err, want)
	}
}

func TestTTGoldenPutGet(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/put/basic", 0, 1, 2, 3),
		g(t, "tt-bin/put/empty-and-binary", 2, 3),
		g(t, "tt-bin/get/miss", 0),
	)...)
	ctx := ctxT(t)
	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
	rec, found, err := b.Get(ctx, "0", []byte("k"))
	wantValue(t, rec, found, err, "v")
	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("value2"), backend.Expiry{}, backend.WriteOptions{}))
	rec, found, err = b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "value2")
	bin := []byte{0x00, 0xff, '\r', '\n'}
	mustOK(t, b.Set(ctx, "", bin, []byte{0, 1, 0xfe, 0xff}, backend.Expiry{}, backend.WriteOptions{}))
	rec, found, err = b.Get(ctx, "", bin)
	wantValue(t, rec, found, err, "\x00\x01\xfe\xff")
	if _, found, err := b.Get(ctx, "", []byte("nope")); found || err != nil {
		t.Fatalf("missing key: found=%v err=%v", found, err)
	}
}

func TestTTGoldenWrites(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/putkeep", 0, 1, 2),
		g(t, "tt-bin/putcat", 0, 1, 2),
		g(t, "tt-bin/putshl", 0, 1, 2, 3, 4),
		g(t, "tt-bin/putnr", 0, 1),
		g(t, "tt-bin/out", 0, 1, 2, 3),
		g(t, "tt-bin/vsiz", 0, 1, 2),
	)...)
	ctx := ctxT(t)
	never := backend.Expiry{}
	if ok, err := b.Add(ctx, "", []byte("k"), []byte("first"), never); !ok || err != nil {
		t.Fatalf("putkeep new: %v %v", ok, err)
	}
	if ok, err := b.Add(ctx, "", []byte("k"), []byte("second"), never); ok || err != nil {
		t.Fatalf("putkeep existing: %v %v", ok, err)
	}
	rec, found, err := b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "first")

	mustOK(t, b.Append(ctx, "", []byte("k"), []byte("abc"), never, 0))
	mustOK(t, b.Append(ctx, "", []byte("k"), []byte("def"), never, 0))
	rec, found, err = b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "abcdef")

	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("abcdef"), never, backend.WriteOptions{}))
	mustOK(t, b.Append(ctx, "", []byte("k"), []byte("gh"), never, 4))
	rec, found, err = b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "efgh")
	// A missing record is stored whole, not cut to keep_last.
	mustOK(t, b.Append(ctx, "", []byte("n"), []byte("12345"), never, 3))
	rec, found, err = b.Get(ctx, "", []byte("n"))
	wantValue(t, rec, found, err, "12345")

	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("v"), never, backend.WriteOptions{NoReply: true}))
	rec, found, err = b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "v")

	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("v"), never, backend.WriteOptions{}))
	if ok, err := b.Remove(ctx, "", []byte("k")); !ok || err != nil {
		t.Fatalf("out: %v %v", ok, err)
	}
	if ok, err := b.Remove(ctx, "", []byte("k")); ok || err != nil {
		t.Fatalf("out missing: %v %v", ok, err)
	}
	if _, found, err := b.Get(ctx, "", []byte("k")); found || err != nil {
		t.Fatalf("after out: %v %v", found, err)
	}

	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("12345"), never, backend.WriteOptions{}))
	if info, found, err := b.Check(ctx, "", []byte("k")); !found || err != nil || info.ValueSize != 5 {
		t.Fatalf("vsiz: %+v %v %v", info, found, err)
	}
	if _, found, err := b.Check(ctx, "", []byte("none")); found || err != nil {
		t.Fatalf("vsiz missing: %v %v", found, err)
	}
}

func TestTTGoldenBulkAndKeys(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/mget", 0, 1, 2, 3),
		g(t, "tt-bin/fwmkeys/hash", 0, 1, 2, 3),
	)...)
	ctx := ctxT(t)
	never := backend.Expiry{}
	mustOK(t, b.Set(ctx, "", []byte("a"), []byte("1"), never, backend.WriteOptions{}))
	mustOK(t, b.Set(ctx, "", []byte("b"), []byte("22"), never, backend.WriteOptions{}))
	recs, err := b.GetBulk(ctx, "", [][]byte{[]byte("b"), []byte("x"), []byte("a"), []byte("b")}, false)
	mustOK(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Key)+"="+string(r.Value))
	}
	if len(got) != 3 || got[0] != "b=22" || got[1] != "a=1" || got[2] != "b=22" {
		t.Fatalf("mget = %q", got)
	}
	recs, err = b.GetBulk(ctx, "", [][]byte{[]byte("x"), []byte("y")}, true)
	if err != nil || len(recs) != 0 {
		t.Fatalf("mget none: %v %v", recs, err)
	}
	if recs, err := b.GetBulk(ctx, "", nil, false); err != nil || len(recs) != 0 {
		t.Fatalf("mget of no keys: %v %v", recs, err)
	}

	mustOK(t, b.Set(ctx, "", []byte("apple"), []byte("1"), never, backend.WriteOptions{}))
	mustOK(t, b.Set(ctx, "", []byte("banana"), []byte("2"), never, backend.WriteOptions{}))
	keys, err := b.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("app")}, 0)
	if err != nil || len(keys) != 1 || string(keys[0]) != "apple" {
		t.Fatalf("fwmkeys: %q %v", keys, err)
	}
	keys, err = b.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("zz")}, 5)
	if err != nil || len(keys) != 0 {
		t.Fatalf("fwmkeys none: %q %v", keys, err)
	}
}

func TestTTGoldenNumbers(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/addint", 0, 1, 2, 3),
		g(t, "tt-bin/addint/incompatible", 0, 1, 2, 3),
		g(t, "tt-bin/adddouble", 0, 1, 2, 3),
		g(t, "tt-bin/adddouble/incompatible", 0, 1),
	)...)
	ctx := ctxT(t)
	never := backend.Expiry{}
	inc := func(key string, d int64) (int64, error) {
		v, applied, err := b.Increment(ctx, "", []byte(key), d, backend.IncrementOptions{})
		if err == nil && !applied {
			t.Fatalf("addint %s not applied", key)
		}
		return v, err
	}
	if v, err := inc("n", 3); v != 3 || err != nil {
		t.Fatalf("addint: %d %v", v, err)
	}
	if v, err := inc("n", -5); v != -2 || err != nil {
		t.Fatalf("addint: %d %v", v, err)
	}
	rec, found, err := b.Get(ctx, "", []byte("n"))
	if err != nil || !found || int32(binary.LittleEndian.Uint32(rec.Value)) != -2 {
		t.Fatalf("stored form %x", rec.Value)
	}
	if v, err := inc("n", 0); v != -2 || err != nil {
		t.Fatalf("addint 0: %d %v", v, err)
	}
	mustOK(t, b.Set(ctx, "", []byte("s"), []byte("abc"), never, backend.WriteOptions{}))
	if _, err := inc("s", 1); !errors.Is(err, backend.ErrIncompatible) {
		t.Fatalf("addint on 3 bytes: %v", err)
	}
	mustOK(t, b.Set(ctx, "", []byte("f"), []byte("abcd"), never, backend.WriteOptions{}))
	if v, err := inc("f", 1); v != 0x64636262 || err != nil {
		t.Fatalf("addint on 'abcd': %x %v", v, err)
	}

	incd := func(d float64) (float64, error) {
		v, _, err := b.IncrementDouble(ctx, "", []byte("d"), d, backend.IncrementDoubleOptions{})
		return v, err
	}
	if v, err := incd(2.5); v != 2.5 || err != nil {
		t.Fatalf("adddouble: %v %v", v, err)
	}
	if v, err := incd(-0.25); v != 2.25 || err != nil {
		t.Fatalf("adddouble: %v %v", v, err)
	}
	rec, _, _ = b.Get(ctx, "", []byte("d"))
	if math.Float64frombits(binary.LittleEndian.Uint64(rec.Value)) != 2.25 {
		t.Fatalf("stored double %x", rec.Value)
	}
	if v, err := incd(-3.75); v != -1.5 || err != nil {
		t.Fatalf("adddouble: %v %v", v, err)
	}
	mustOK(t, b.Set(ctx, "", []byte("s"), []byte("abc"), never, backend.WriteOptions{}))
	if _, _, err := b.IncrementDouble(ctx, "", []byte("s"), 1, backend.IncrementDoubleOptions{}); !errors.Is(err, backend.ErrIncompatible) {
		t.Fatalf("adddouble on 3 bytes: %v", err)
	}
}

func TestTTGoldenExt(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/ext/echo", 0, 1),
		g(t, "tt-bin/ext/failures", 0, 1, 2, 3),
		g(t, "tt-bin/ext/put-get-locks", 0, 1, 2, 3),
	)...)
	ctx := ctxT(t)
	call := func(name string, args []backend.Pair, lock backend.LockMode, want string, wantOK bool) {
		t.Helper()
		res, ok, err := b.CallScript(ctx, name, args, lock)
		if err != nil || ok != wantOK {
			t.Fatalf("ext %s: ok=%v err=%v", name, ok, err)
		}
		if ok && (len(res) != 1 || string(res[0].Value) != want) {
			t.Fatalf("ext %s: %q", name, res)
		}
		if !ok && res != nil {
			t.Fatalf("ext %s failed with results %q", name, res)
		}
	}
	call("echo", []backend.Pair{{Key: []byte("foo"), Value: []byte("bar")}}, backend.LockNone, "foobar", true)
	call("echo", nil, backend.LockNone, "", true)
	kv := []backend.Pair{{Key: []byte("k"), Value: []byte("v")}}
	call("fail", kv, backend.LockNone, "", false)
	call("nosuchfunc", kv, backend.LockNone, "", false)
	call("_put", kv, backend.LockNone, "", false)
	if _, found, _ := b.Get(ctx, "", []byte("k")); found {
		t.Fatal("_put ran")
	}
	call("put", []backend.Pair{{Key: []byte("lk"), Value: []byte("lv")}}, backend.LockRecord, "ok", true)
	call("get", []backend.Pair{{Key: []byte("lk")}}, backend.LockGlobal, "lv", true)
	call("get", []backend.Pair{{Key: []byte("none")}}, backend.LockNone, "", false)
	rec, found, err := b.Get(ctx, "", []byte("lk"))
	wantValue(t, rec, found, err, "lv")
}

func TestTTGoldenAdmin(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/sync-optimize-vanish", 0, 1, 2, 3, 4, 5, 6, 7, 8),
		g(t, "tt-bin/copy", 0, 1, 2),
		g(t, "tt-bin/restore", 0, 1),
		restoreTS(g(t, "tt-bin/restore", 2), maxRestoreTS),
		g(t, "tt-bin/restore", 3),
		g(t, "tt-bin/setmst", 0),
		g(t, "tt-bin/stat", 0, 1),
	)...)
	ctx := ctxT(t)
	never := backend.Expiry{}
	mustOK(t, b.Set(ctx, "", []byte("a"), []byte("1"), never, backend.WriteOptions{}))
	mustOK(t, b.Set(ctx, "", []byte("b"), []byte("2"), never, backend.WriteOptions{}))
	mustOK(t, b.Synchronize(ctx, "", true, ""))
	mustOK(t, b.Optimize(ctx, "", ""))
	mustOK(t, b.Optimize(ctx, "", "bnum=1000"))
	mustOK(t, b.Ping(ctx)) // rnum
	mustOK(t, b.Clear(ctx, ""))
	mustOK(t, b.Ping(ctx))
	if _, found, err := b.Get(ctx, "", []byte("a")); found || err != nil {
		t.Fatal("after vanish")
	}

	mustOK(t, b.Set(ctx, "", []byte("a"), []byte("1"), never, backend.WriteOptions{}))
	mustOK(t, b.Copy(ctx, "", "backup.tch"))
	if err := b.Copy(ctx, "", "/nonexistent-dir/x.tch"); !errors.Is(err, backend.ErrFailed) {
		t.Fatalf("copy to a bad path: %v", err)
	}

	// Positions are ts*1000 + index: the recording's ts 1 is position
	// 1000..1999.
	if err := b.Restore(ctx, "", "nonexistent", 1999, false); !errors.Is(err, backend.ErrFailed) {
		t.Fatalf("restore from a missing directory: %v", err)
	}
	mustOK(t, b.Set(ctx, "", []byte("a"), []byte("1"), never, backend.WriteOptions{}))
	mustOK(t, b.Restore(ctx, "", "ulog", math.MaxUint64, false))
	rec, found, err := b.Get(ctx, "", []byte("a"))
	wantValue(t, rec, found, err, "1")

	mustOK(t, b.SetMaster(ctx, "", 0, 0, false))

	mustOK(t, b.Set(ctx, "", []byte("a"), []byte("1"), never, backend.WriteOptions{}))
	rep, err := b.Report(ctx)
	mustOK(t, err)
	if rep["version"] != "1.1.41" || rep["type"] != "hash" || rep["rnum"] != "1" || rep["sid"] != "1" {
		t.Fatalf("stat = %v", rep)
	}
}

// maxRestoreTS is the timestamp of the largest position, math.MaxUint64.
const maxRestoreTS = math.MaxUint64 / 1000

// restoreTS rewrites the ts of recorded restore requests. The recording
// asks for ts 1<<62 µs, "later than every record", which no position
// reaches (positions are ts*1000 + index); the largest position's ts is
// as far in the future and, like it, replays nothing.
func restoreTS(exs []exchange, ts uint64) []exchange {
	for i := range exs {
		s := bytes.Clone(exs[i].send)
		binary.BigEndian.PutUint64(s[6:14], ts) // C8 74, psiz:4, then ts
		exs[i].send = s
	}
	return exs
}

func TestTTGoldenMisc(t *testing.T) {
	b, _ := scripted(t, "hash", cat(
		g(t, "tt-bin/misc/hash-lists", 0),
		noLog(g(t, "tt-bin/misc/hash-lists", 1)), // a read: always kept out of the log
		g(t, "tt-bin/misc/failures", 0),
		g(t, "tt-bin/misc/no-ulog-option", 0, 1),
	)...)
	ctx := ctxT(t)
	args := func(s ...string) [][]byte {
		var out [][]byte
		for _, a := range s {
			out = append(out, []byte(a))
		}
		return out
	}
	res, ok, err := b.Misc(ctx, "", "putlist", args("a", "1", "b", "2", "c", "3"), false)
	if err != nil || !ok || len(res) != 0 {
		t.Fatalf("putlist: %q %v %v", res, ok, err)
	}
	res, ok, err = b.Misc(ctx, "", "getlist", args("c", "x", "a"), false)
	if err != nil || !ok || len(res) != 4 || string(res[0]) != "c" || string(res[3]) != "1" {
		t.Fatalf("getlist: %q %v %v", res, ok, err)
	}
	if res, ok, err := b.Misc(ctx, "", "nosuchfunc", nil, false); ok || err != nil || res != nil {
		t.Fatalf("unknown function: %q %v %v", res, ok, err)
	}
	if _, ok, err := b.Misc(ctx, "", "put", args("k", "v"), true); !ok || err != nil {
		t.Fatalf("put: %v %v", ok, err)
	}
	res, ok, err = b.Misc(ctx, "", "get", args("k"), true)
	if err != nil || !ok || len(res) != 1 || string(res[0]) != "v" {
		t.Fatalf("get: %q %v %v", res, ok, err)
	}
}

func TestTTGoldenBTreeRange(t *testing.T) {
	b, _ := scripted(t, "btree", cat(
		g(t, "tt-bin/btree/misc-range", 0),
		noLog(g(t, "tt-bin/btree/misc-range", 2)),
	)...)
	ctx := ctxT(t)
	args := [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2"), []byte("c"), []byte("3"), []byte("d"), []byte("4"), []byte("e"), []byte("5")}
	if _, ok, err := b.Misc(ctx, "", "putlist", args, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// From "b", at most 2: one range call with begin "b" and max 2.
	var got []string
	err := b.Scan(ctx, "", backend.ScanOptions{Start: []byte("b"), Limit: 2}, func(batch []backend.Record) error {
		for _, r := range batch {
			got = append(got, string(r.Key)+"="+string(r.Value))
		}
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != "b=2" || got[1] != "c=3" {
		t.Fatalf("scan = %q, %v", got, err)
	}
}

func TestTTGoldenTable(t *testing.T) {
	search := "tt-bin/table/search-cond-order-limit"
	b, _ := scripted(t, "table", cat(
		g(t, "tt-bin/table/plain-put-get", 0, 1),
		g(t, "tt-bin/table/misc-put-get-out", 3),
		noLog(g(t, "tt-bin/table/misc-put-get-out", 4)),
		g(t, "tt-bin/table/misc-put-get-out", 2),
		noLog(g(t, "tt-bin/table/misc-put-get-out", 7)),
		noLog(g(t, search, 4, 5, 6, 9, 10)),
		noLog(g(t, "tt-bin/table/search-get-count-out", 4, 6)),
		g(t, "tt-bin/table/genuid", 0, 1),
		emptyValueCheck(t, "name"),
		g(t, "tt-bin/table/setindex", 4),
		emptyValueCheck(t, "age"),
		g(t, "tt-bin/table/setindex", 5, 6, 7),
	)...)
	ctx := ctxT(t)
	mustOK(t, b.Set(ctx, "", []byte("p1"), []byte("name\x00alice\x00age\x0030"), backend.Expiry{}, backend.WriteOptions{}))
	rec, found, err := b.Get(ctx, "", []byte("p1"))
	wantValue(t, rec, found, err, "name\x00alice\x00age\x0030")

	if ok, err := b.TablePut(ctx, "", []byte("u1"), map[string][]byte{"city": []byte("tokyo")}, backend.PutConcat); !ok || err != nil {
		t.Fatalf("putcat: %v %v", ok, err)
	}
	cols, found, err := b.TableGet(ctx, "", []byte("u1"))
	if err != nil || !found || len(cols) != 3 || string(cols["name"]) != "alice" || string(cols["city"]) != "tokyo" {
		t.Fatalf("table get: %q %v %v", cols, found, err)
	}
	if ok, err := b.TablePut(ctx, "", []byte("u1"), map[string][]byte{"name": []byte("x")}, backend.PutKeep); ok || err != nil {
		t.Fatalf("putkeep existing: %v %v", ok, err)
	}
	if _, found, err := b.TableGet(ctx, "", []byte("u1")); found || err != nil {
		t.Fatalf("get missing: %v %v", found, err)
	}

	keys := func(q backend.Query) []string {
		t.Helper()
		res, err := b.TableSearch(ctx, "", q)
		mustOK(t, err)
		var out []string
		for _, k := range res.Keys {
			out = append(out, string(k))
		}
		return out
	}
	eq := func(got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
	eq(keys(backend.Query{
		Conditions: []backend.Condition{{Column: "age", Op: backend.CondNumGE, Expr: "25"}},
		HasOrder:   true, OrderColumn: "age", Order: backend.OrderNumAsc,
	}), "u2", "u1", "u3")
	eq(keys(backend.Query{
		Conditions: []backend.Condition{{Column: "city", Op: backend.CondStrEq, Expr: "tokyo"}},
		HasOrder:   true, OrderColumn: "name", Order: backend.OrderStrDesc,
	}), "u3", "u1")
	eq(keys(backend.Query{
		Conditions: []backend.Condition{{Column: "age", Op: backend.CondNumGT, Expr: "18"}},
		HasOrder:   true, OrderColumn: "age", Order: backend.OrderNumDesc, Limit: 2, Offset: 1,
	}), "u1", "u2")
	eq(keys(backend.Query{Conditions: []backend.Condition{{Column: "", Op: backend.CondStrBeginsWith, Expr: "u"}}}), "u1", "u2", "u3", "u4")
	eq(keys(backend.Query{}), "u1", "u2", "u3", "u4")

	res, err := b.TableSearch(ctx, "", backend.Query{
		Conditions: []backend.Condition{{Column: "city", Op: backend.CondStrEq, Expr: "tokyo"}},
		HasOrder:   true, OrderColumn: "", Order: backend.OrderStrAsc, Action: backend.SearchGet,
	})
	mustOK(t, err)
	if len(res.Rows) != 2 || string(res.Rows[0].Key) != "u1" || string(res.Rows[1].Columns["name"]) != "carol" || len(res.Rows[1].Columns) != 3 {
		t.Fatalf("search get: %+v", res.Rows)
	}
	res, err = b.TableSearch(ctx, "", backend.Query{
		Conditions: []backend.Condition{{Column: "city", Op: backend.CondStrEq, Expr: "tokyo"}},
		Action:     backend.SearchCount,
	})
	if err != nil || res.Count != 2 {
		t.Fatalf("count: %+v %v", res, err)
	}

	for want := int64(1); want <= 2; want++ {
		if id, err := b.TableGenerateID(ctx, ""); id != want || err != nil {
			t.Fatalf("genuid: %d %v", id, err)
		}
	}
	for _, tc := range []struct {
		col  string
		typ  backend.IndexType
		want bool
	}{{"name", backend.IndexLexical, true}, {"age", backend.IndexDecimal, true}, {"name", backend.IndexVoid, true}, {"name", backend.IndexVoid, false}} {
		if ok, err := b.TableSetIndex(ctx, "", tc.col, tc.typ, false); ok != tc.want || err != nil {
			t.Fatalf("setindex %s %d: %v %v", tc.col, tc.typ, ok, err)
		}
	}
	// An index type the server does not know is refused before sending.
	if _, err := b.TableSetIndex(ctx, "", "x", backend.IndexType(12345), false); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("bad index type: %v", err)
	}
}
