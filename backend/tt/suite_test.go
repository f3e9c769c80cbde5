package tt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// The suite runs against the TT test server, and against real servers
// when their addresses are in the environment:
//
//	TT_ADDR        a ttserver on a hash database (casket.tch)
//	TT_BTREE_ADDR  a ttserver on a B+ tree database (casket.tcb)
//	TT_TABLE_ADDR  a ttserver on a table database (casket.tct)
//
// Each must be disposable (the suite clears it) and run like the golden
// configurations: -ulog ulog -sid 1 -ext tt-golden.lua (functions echo,
// fail, put and get).

// fixture is one server the suite runs against.
type fixture struct {
	addr string
	// srv is the test server; nil for a real server.
	srv *tttest.Server
}

// fixtures returns the test server of config and, when env is set, the
// real server it names.
func fixtures(t *testing.T, config, env string, opts ...tttest.Option) map[string]fixture {
	t.Helper()
	srv := tttest.Start(t, append([]tttest.Option{tttest.WithConfig(config), tttest.WithReplInterval(20 * time.Millisecond)}, opts...)...)
	out := map[string]fixture{"tttest": {addr: srv.Addr(), srv: srv}}
	if addr := os.Getenv(env); addr != "" {
		out["real"] = fixture{addr: addr}
	}
	return out
}

// open returns an adapter for f; query holds extra URL options.
func (f fixture) open(t *testing.T, query string) *tt.Backend {
	t.Helper()
	u, err := url.Parse("tt://" + f.addr + "?repl_backoff=20ms&" + query)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tt.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st := b.PoolStats()
		if st.Open != st.Idle {
			t.Errorf("%d connections still in use at the end", st.Open-st.Idle)
		}
		_ = b.Close()
		if st := b.PoolStats(); st.Open != 0 {
			t.Errorf("%d connections open after Close", st.Open)
		}
	})
	if f.srv == nil {
		mustOK(t, b.Clear(ctxT(t), ""))
	}
	return b
}

// eachFixture runs fn against the test server, then against the real
// server named by env, or skips that run with a message saying how to
// enable it.
func eachFixture(t *testing.T, config, env string, fn func(t *testing.T, f fixture)) {
	fs := fixtures(t, config, env)
	for _, name := range []string{"tttest", "real"} {
		t.Run(name, func(t *testing.T) {
			f, ok := fs[name]
			if !ok {
				t.Skipf("%s is not set: set it to host:port of a disposable ttserver (%s configuration: -ulog ulog -sid 1 -ext tt-golden.lua) to run this test against a real server too", env, config)
			}
			fn(t, f)
		})
	}
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func eqStrs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func scanAll(t *testing.T, b *tt.Backend, o backend.ScanOptions) (keys []string, batches int) {
	t.Helper()
	err := b.Scan(ctxT(t), "", o, func(batch []backend.Record) error {
		batches++
		if o.BatchSize > 0 && len(batch) > o.BatchSize {
			t.Fatalf("batch of %d > %d", len(batch), o.BatchSize)
		}
		for _, r := range batch {
			if o.KeysOnly && r.Value != nil {
				t.Fatalf("keys-only scan returned a value for %q", r.Key)
			}
			if !o.KeysOnly && !bytes.Equal(r.Value, []byte("v:"+string(r.Key))) {
				t.Fatalf("scan value of %q = %q", r.Key, r.Value)
			}
			keys = append(keys, string(r.Key))
		}
		return nil
	})
	mustOK(t, err)
	return keys, batches
}

// kvSuite covers the key/value operations on a hash or B+ tree database.
func kvSuite(t *testing.T, b *tt.Backend, ordered bool) {
	ctx := ctxT(t)
	never := backend.Expiry{}
	set := func(k, v string) {
		t.Helper()
		mustOK(t, b.Set(ctx, "", []byte(k), []byte(v), never, backend.WriteOptions{}))
	}

	t.Run("binary-unsafe", func(t *testing.T) {
		keys := [][]byte{{0}, {0xff, 0xfe}, []byte("a\r\nb"), []byte("tab\there"), bytes.Repeat([]byte{0, 1, 2}, 100)}
		big := make([]byte, 200_000)
		for i := range big {
			big[i] = byte(i * 7)
		}
		for i, k := range keys {
			v := append([]byte{0, 0xff}, k...)
			if i == 0 {
				v = big
			}
			mustOK(t, b.Set(ctx, "", k, v, never, backend.WriteOptions{}))
			rec, found, err := b.Get(ctx, "", k)
			if err != nil || !found || !bytes.Equal(rec.Value, v) || !bytes.Equal(rec.Key, k) {
				t.Fatalf("key %x: found=%v err=%v", k, found, err)
			}
		}
		recs, err := b.GetBulk(ctx, "", keys, false)
		if err != nil || len(recs) != len(keys) || !bytes.Equal(recs[0].Value, big) {
			t.Fatalf("mget of binary keys: %d records, %v", len(recs), err)
		}
		n, err := b.RemoveBulk(ctx, "", append(keys, []byte("missing")), false)
		if err != nil || n != int64(len(keys)) {
			t.Fatalf("remove bulk: %d %v", n, err)
		}
	})

	t.Run("writes", func(t *testing.T) {
		if ok, err := b.Add(ctx, "", []byte("w"), []byte("1"), never); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := b.Add(ctx, "", []byte("w"), []byte("2"), never); ok || err != nil {
			t.Fatal(ok, err)
		}
		mustOK(t, b.Append(ctx, "", []byte("w"), []byte("23456"), never, 0))
		mustOK(t, b.Append(ctx, "", []byte("w"), []byte("78"), never, 4))
		rec, found, err := b.Get(ctx, "", []byte("w"))
		wantValue(t, rec, found, err, "5678")
		if info, found, err := b.Check(ctx, "", []byte("w")); info.ValueSize != 4 || !found || err != nil {
			t.Fatal(info, found, err)
		}
		mustOK(t, b.Set(ctx, "", []byte("nr"), []byte("x"), never, backend.WriteOptions{NoReply: true}))
		// A reply-less write is followed by a read on the same pooled
		// connection: the server has run it by the time it answers.
		rec, found, err = b.Get(ctx, "", []byte("nr"))
		wantValue(t, rec, found, err, "x")
		entries := []backend.Entry{{Key: []byte("b1"), Value: []byte("1")}, {Key: []byte("b2"), Value: []byte("2")}}
		if n, err := b.SetBulk(ctx, "", entries, backend.WriteOptions{}); n != 2 || err != nil {
			t.Fatal(n, err)
		}
		if n, err := b.SetBulk(ctx, "", []backend.Entry{{Key: []byte("b3"), Value: []byte("3")}}, backend.WriteOptions{NoReply: true}); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		recs, err := b.GetBulk(ctx, "", [][]byte{[]byte("b3"), []byte("b1"), []byte("zz")}, true)
		if err != nil || len(recs) != 2 || string(recs[0].Value) != "3" || string(recs[1].Value) != "1" {
			t.Fatalf("mget %v %v", recs, err)
		}
		if ok, err := b.Remove(ctx, "", []byte("w")); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := b.Remove(ctx, "", []byte("w")); ok || err != nil {
			t.Fatal(ok, err)
		}
		if n, err := b.RemoveBulk(ctx, "", [][]byte{[]byte("b1"), []byte("b2"), []byte("b3"), []byte("nr"), []byte("b1")}, false); n != 4 || err != nil {
			t.Fatal(n, err)
		}
	})

	t.Run("numbers", func(t *testing.T) {
		v, applied, err := b.Increment(ctx, "", []byte("cnt"), 5, backend.IncrementOptions{})
		if v != 5 || !applied || err != nil {
			t.Fatal(v, applied, err)
		}
		v, _, err = b.Increment(ctx, "", []byte("cnt"), -7, backend.IncrementOptions{Initial: new(int64)})
		if v != -2 || err != nil {
			t.Fatal(v, err)
		}
		rec, _, _ := b.Get(ctx, "", []byte("cnt"))
		if !bytes.Equal(rec.Value, []byte{0xfe, 0xff, 0xff, 0xff}) {
			t.Fatalf("stored int %x", rec.Value)
		}
		d, _, err := b.IncrementDouble(ctx, "", []byte("dbl"), 1.25, backend.IncrementDoubleOptions{})
		if d != 1.25 || err != nil {
			t.Fatal(d, err)
		}
		d, _, err = b.IncrementDouble(ctx, "", []byte("dbl"), -0.5, backend.IncrementDoubleOptions{})
		if d != 0.75 || err != nil {
			t.Fatal(d, err)
		}
		if _, _, err := b.Increment(ctx, "", []byte("dbl"), 1, backend.IncrementOptions{}); !errors.Is(err, backend.ErrIncompatible) {
			t.Fatalf("addint on a double: %v", err)
		}
		_, _ = b.RemoveBulk(ctx, "", [][]byte{[]byte("cnt"), []byte("dbl")}, false)
	})

	t.Run("keys-and-scans", func(t *testing.T) {
		all := []string{"a", "b/1", "b/2", "b/3", "b/4", "b/5", "b\xff", "c", "d"}
		for _, k := range slices.Backward(all) {
			set(k, "v:"+k)
		}
		keys, err := b.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("b/")}, 0)
		mustOK(t, err)
		eqStrs(t, "match b/", strs(keys), "b/1", "b/2", "b/3", "b/4", "b/5")
		keys, err = b.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("b")}, 2)
		mustOK(t, err)
		eqStrs(t, "match b limit 2", strs(keys), "b/1", "b/2")

		got, batches := scanAll(t, b, backend.ScanOptions{BatchSize: 2})
		eqStrs(t, "scan all", got, all...)
		if batches != 5 {
			t.Errorf("%d batches of 2 for 9 records", batches)
		}
		got, _ = scanAll(t, b, backend.ScanOptions{Prefix: []byte("b/"), Start: []byte("b/2"), End: []byte("b/5"), BatchSize: 1})
		eqStrs(t, "scan range", got, "b/2", "b/3", "b/4")
		got, _ = scanAll(t, b, backend.ScanOptions{Prefix: []byte("b"), Limit: 3, KeysOnly: true})
		eqStrs(t, "scan prefix limit", got, "b/1", "b/2", "b/3")
		got, _ = scanAll(t, b, backend.ScanOptions{Reverse: true, End: []byte("c"), Limit: 4})
		eqStrs(t, "scan reverse", got, "b\xff", "b/5", "b/4", "b/3")
		got, _ = scanAll(t, b, backend.ScanOptions{Start: []byte("c"), End: []byte("c")})
		eqStrs(t, "empty range", got)
		got, _ = scanAll(t, b, backend.ScanOptions{Prefix: []byte{0xff}})
		eqStrs(t, "no match", got)
		stop := errors.New("stop")
		if err := b.Scan(ctx, "", backend.ScanOptions{BatchSize: 1}, func([]backend.Record) error { return stop }); err != stop {
			t.Fatalf("scan stops at fn's error: %v", err)
		}
		mustOK(t, b.Clear(ctx, ""))
	})

	t.Run("cursor", func(t *testing.T) {
		for _, k := range []string{"k1", "k2", "k3", "k4"} {
			set(k, "v:"+k)
		}
		defer func() { mustOK(t, b.Clear(ctx, "")) }()
		c, err := b.OpenCursor(ctx, "")
		if !ordered {
			if !errors.Is(err, backend.ErrUnsupported) {
				t.Fatalf("cursor on a hash database: %v", err)
			}
			return
		}
		mustOK(t, err)
		defer c.Close()
		if ok, err := c.Jump(ctx, []byte("k2")); !ok || err != nil {
			t.Fatal(ok, err)
		}
		rec, ok, err := c.Get(ctx, true)
		if !ok || err != nil || string(rec.Key) != "k2" || string(rec.Value) != "v:k2" {
			t.Fatal(rec, ok, err)
		}
		if k, ok, err := c.GetKey(ctx, false); string(k) != "k3" || !ok || err != nil {
			t.Fatal(string(k), ok, err)
		}
		if ok, err := c.SetValue(ctx, []byte("new"), backend.Expiry{}, true); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if v, ok, err := c.GetValue(ctx, false); string(v) != "v:k4" || !ok || err != nil {
			t.Fatal(string(v), ok, err)
		}
		if ok, err := c.Step(ctx); ok || err != nil {
			t.Fatal("step past the end", ok, err)
		}
		if _, ok, err := c.Get(ctx, false); ok || err != nil {
			t.Fatal("get past the end", ok, err)
		}
		if ok, err := c.Jump(ctx, nil); !ok || err != nil {
			t.Fatal(ok, err)
		}
		// Someone else removes the current record: reads move on.
		if ok, err := b.Remove(ctx, "", []byte("k1")); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if k, ok, _ := c.GetKey(ctx, false); string(k) != "k2" || !ok {
			t.Fatalf("after removal: %q", k)
		}
		if ok, err := c.Remove(ctx); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if k, ok, _ := c.GetKey(ctx, false); string(k) != "k3" || !ok {
			t.Fatalf("after cursor remove: %q", k)
		}
		rec, _, _ = b.Get(ctx, "", []byte("k3"))
		if string(rec.Value) != "new" {
			t.Fatalf("set_value wrote %q", rec.Value)
		}
		if ok, err := c.Jump(ctx, []byte("zz")); ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, err := c.JumpBack(ctx, nil); !errors.Is(err, backend.ErrUnsupported) {
			t.Fatal(err)
		}
		if _, err := c.StepBack(ctx); !errors.Is(err, backend.ErrUnsupported) {
			t.Fatal(err)
		}
		if _, _, err := c.Seize(ctx); !errors.Is(err, backend.ErrUnsupported) {
			t.Fatal(err)
		}
		mustOK(t, c.Close())
		if _, err := c.Jump(ctx, nil); !errors.Is(err, backend.ErrInvalid) {
			t.Fatalf("jump after close: %v", err)
		}
	})

	t.Run("admin", func(t *testing.T) {
		set("s1", "x")
		set("s2", "y")
		st, err := b.Status(ctx, "")
		if err != nil || st.Count != 2 || st.Size <= 0 || st.Fields["rnum"] != "2" || st.Fields["type"] == "" {
			t.Fatalf("status %+v %v", st, err)
		}
		rep, err := b.Report(ctx)
		if err != nil || rep["version"] == "" {
			t.Fatalf("report %v %v", rep, err)
		}
		dbs, err := b.Databases(ctx)
		want := "hash"
		if ordered {
			want = "B+ tree"
		}
		if err != nil || len(dbs) != 1 || !dbs[0].Healthy || dbs[0].Kind != want || dbs[0].Name != "0" {
			t.Fatalf("databases %+v %v", dbs, err)
		}
		mustOK(t, b.Ping(ctx))
		mustOK(t, b.Synchronize(ctx, "0", true, ""))
		mustOK(t, b.Vacuum(ctx, "", 0))
		mustOK(t, b.Vacuum(ctx, "", 10))
		mustOK(t, b.Optimize(ctx, "", ""))
		res, ok, err := b.Misc(ctx, "", "getlist", [][]byte{[]byte("s1"), []byte("nope"), []byte("s2")}, true)
		eqStrs(t, "getlist", strs(res), "s1", "x", "s2", "y")
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		mustOK(t, b.Clear(ctx, ""))
		if st, err := b.Status(ctx, ""); st.Count != 0 || err != nil {
			t.Fatal(st.Count, err)
		}
	})
}

func TestTTSuiteHash(t *testing.T) {
	eachFixture(t, "tt-hash", "TT_ADDR", func(t *testing.T, f fixture) {
		kvSuite(t, f.open(t, ""), false)
		scriptSuite(t, f.open(t, "kind=hash"))
	})
}

func TestTTSuiteBTree(t *testing.T) {
	eachFixture(t, "tt-btree", "TT_BTREE_ADDR", func(t *testing.T, f fixture) {
		b := f.open(t, "")
		kvSuite(t, b, true)
		ctx := ctxT(t)
		// putdup has no typed call; misc reaches it.
		for _, v := range []string{"1", "2"} {
			if _, ok, err := b.Misc(ctx, "", "putdup", [][]byte{[]byte("dup"), []byte(v)}, false); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		res, ok, err := b.Misc(ctx, "", "get", [][]byte{[]byte("dup")}, true)
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		eqStrs(t, "duplicates", strs(res), "1", "2")
		// Scans return every duplicate, even when a batch ends inside a run
		// of them.
		for _, v := range []string{"3", "4", "5"} {
			if _, ok, err := b.Misc(ctx, "", "putdup", [][]byte{[]byte("dup"), []byte(v)}, false); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		mustOK(t, b.Set(ctx, "", []byte("dup0"), []byte("x"), backend.Expiry{}, backend.WriteOptions{}))
		mustOK(t, b.Set(ctx, "", []byte("dua"), []byte("y"), backend.Expiry{}, backend.WriteOptions{}))
		for _, size := range []int{1, 2, 3, 10} {
			var got []string
			err := b.Scan(ctx, "", backend.ScanOptions{Prefix: []byte("du"), BatchSize: size}, func(batch []backend.Record) error {
				for _, r := range batch {
					got = append(got, string(r.Key)+"="+string(r.Value))
				}
				return nil
			})
			mustOK(t, err)
			eqStrs(t, fmt.Sprint("scan with duplicates, batch ", size), got, "dua=y", "dup=1", "dup=2", "dup=3", "dup=4", "dup=5", "dup0=x")
		}
		var got []string
		err = b.Scan(ctx, "", backend.ScanOptions{Start: []byte("dup"), Limit: 3, BatchSize: 2}, func(batch []backend.Record) error {
			for _, r := range batch {
				got = append(got, string(r.Value))
			}
			return nil
		})
		mustOK(t, err)
		eqStrs(t, "limit inside a run", got, "1", "2", "3")
	})
}

// scriptSuite calls the golden configuration's functions with each lock
// mode.
func scriptSuite(t *testing.T, b *tt.Backend) {
	ctx := ctxT(t)
	for _, lock := range []backend.LockMode{backend.LockNone, backend.LockRecord, backend.LockGlobal} {
		t.Run(fmt.Sprint("lock", lock), func(t *testing.T) {
			key := []byte(fmt.Sprint("lk", lock))
			res, ok, err := b.CallScript(ctx, "put", []backend.Pair{{Key: key, Value: []byte("v\x00")}}, lock)
			if !ok || err != nil || len(res) != 1 || string(res[0].Value) != "ok" {
				t.Fatalf("put: %q %v %v", res, ok, err)
			}
			res, ok, err = b.CallScript(ctx, "get", []backend.Pair{{Key: key}}, lock)
			if !ok || err != nil || string(res[0].Value) != "v\x00" {
				t.Fatalf("get: %q %v %v", res, ok, err)
			}
			res, ok, err = b.CallScript(ctx, "fail", []backend.Pair{{Key: key}}, lock)
			if ok || err != nil || res != nil {
				t.Fatalf("fail: %q %v %v", res, ok, err)
			}
			if _, ok, err := b.CallScript(ctx, "no_such_function", nil, lock); ok || err != nil {
				t.Fatalf("missing function: %v %v", ok, err)
			}
		})
	}
}

func TestTTSuiteTable(t *testing.T) {
	eachFixture(t, "tt-table", "TT_TABLE_ADDR", func(t *testing.T, f fixture) {
		tableSuite(t, f.open(t, ""))
	})
}

func row(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func tableSuite(t *testing.T, b *tt.Backend) {
	ctx := ctxT(t)
	people := map[string]map[string][]byte{
		"u1": row("name", "alice", "age", "30", "city", "tokyo", "tags", "a b"),
		"u2": row("name", "bob", "age", "25", "city", "osaka", "tags", "b c"),
		"u3": row("name", "carol", "age", "41", "city", "tokyo", "tags", "c"),
		"u4": row("name", "dave", "age", "19", "city", "kyoto\xff", "tags", "a"),
	}
	for k, cols := range people {
		if ok, err := b.TablePut(ctx, "", []byte(k), cols, backend.PutOverwrite); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	cols, found, err := b.TableGet(ctx, "", []byte("u4"))
	if !found || err != nil || string(cols["city"]) != "kyoto\xff" || len(cols) != 4 {
		t.Fatalf("get %q %v %v", cols, found, err)
	}
	if ok, err := b.TablePut(ctx, "", []byte("u4"), row("name", "x"), backend.PutKeep); ok || err != nil {
		t.Fatal("putkeep on an existing row", ok, err)
	}
	if ok, err := b.TablePut(ctx, "", []byte("u4"), row("zip", "600"), backend.PutConcat); !ok || err != nil {
		t.Fatal(ok, err)
	}
	cols, _, _ = b.TableGet(ctx, "", []byte("u4"))
	if string(cols["zip"]) != "600" || string(cols["name"]) != "dave" {
		t.Fatalf("putcat merged %q", cols)
	}
	if _, found, err := b.TableGet(ctx, "", []byte("nobody")); found || err != nil {
		t.Fatal(found, err)
	}
	// The plain commands see the serialised row.
	rec, found, err := b.Get(ctx, "", []byte("u2"))
	if !found || err != nil || !bytes.Contains(rec.Value, []byte("name\x00bob")) {
		t.Fatalf("plain get %q", rec.Value)
	}

	search := func(q backend.Query) backend.SearchResult {
		t.Helper()
		res, err := b.TableSearch(ctx, "", q)
		mustOK(t, err)
		return res
	}
	tokyoOrOsaka := backend.Condition{Column: "city", Op: backend.CondStrOrEq, Expr: "tokyo,osaka"}
	adult := backend.Condition{Column: "age", Op: backend.CondNumGE, Expr: "20"}
	notBob := backend.Condition{Column: "name", Op: backend.CondStrEq, Expr: "bob", Negate: true, NoIndex: true}
	q := backend.Query{
		Conditions: []backend.Condition{tokyoOrOsaka, adult, notBob},
		HasOrder:   true, OrderColumn: "age", Order: backend.OrderNumDesc,
	}
	eqStrs(t, "keys", strs(search(q).Keys), "u3", "u1")
	q.Conditions = q.Conditions[:2]
	q.Limit, q.Offset = 2, 1
	eqStrs(t, "keys limit 2 skip 1", strs(search(q).Keys), "u1", "u2")

	q.Action, q.Columns = backend.SearchGet, []string{"name"}
	rows := search(q).Rows
	if len(rows) != 2 || string(rows[0].Key) != "u1" || len(rows[0].Columns) != 1 || string(rows[1].Columns["name"]) != "bob" {
		t.Fatalf("get rows %+v", rows)
	}
	q.Columns = nil
	rows = search(q).Rows
	if len(rows) != 2 || len(rows[0].Columns) != 4 || string(rows[0].Columns["tags"]) != "a b" {
		t.Fatalf("get all columns %+v", rows)
	}
	q.Action, q.Limit, q.Offset = backend.SearchCount, 0, 0
	if n := search(q).Count; n != 3 {
		t.Fatalf("count %d", n)
	}

	// Every operator, each once.
	ops := []struct {
		c    backend.Condition
		want []string
	}{
		{backend.Condition{Column: "name", Op: backend.CondStrEq, Expr: "bob"}, []string{"u2"}},
		{backend.Condition{Column: "name", Op: backend.CondStrInclude, Expr: "aro"}, []string{"u3"}},
		{backend.Condition{Column: "name", Op: backend.CondStrBeginsWith, Expr: "da"}, []string{"u4"}},
		{backend.Condition{Column: "name", Op: backend.CondStrEndsWith, Expr: "ce"}, []string{"u1"}},
		{backend.Condition{Column: "tags", Op: backend.CondStrAnd, Expr: "a b"}, []string{"u1"}},
		{backend.Condition{Column: "tags", Op: backend.CondStrOr, Expr: "a,c"}, []string{"u1", "u2", "u3", "u4"}},
		{backend.Condition{Column: "city", Op: backend.CondStrOrEq, Expr: "osaka tokyo"}, []string{"u1", "u2", "u3"}},
		{backend.Condition{Column: "name", Op: backend.CondStrRegex, Expr: "^[ab]"}, []string{"u1", "u2"}},
		{backend.Condition{Column: "age", Op: backend.CondNumEq, Expr: "25"}, []string{"u2"}},
		{backend.Condition{Column: "age", Op: backend.CondNumGT, Expr: "30"}, []string{"u3"}},
		{backend.Condition{Column: "age", Op: backend.CondNumGE, Expr: "30"}, []string{"u1", "u3"}},
		{backend.Condition{Column: "age", Op: backend.CondNumLT, Expr: "25"}, []string{"u4"}},
		{backend.Condition{Column: "age", Op: backend.CondNumLE, Expr: "25"}, []string{"u2", "u4"}},
		{backend.Condition{Column: "age", Op: backend.CondNumBetween, Expr: "20 30"}, []string{"u1", "u2"}},
		{backend.Condition{Column: "age", Op: backend.CondNumOrEq, Expr: "19,41"}, []string{"u3", "u4"}},
		{backend.Condition{Column: "tags", Op: backend.CondFTSPhrase, Expr: "b c"}, []string{"u2"}},
		{backend.Condition{Column: "tags", Op: backend.CondFTSAnd, Expr: "a b"}, []string{"u1"}},
		{backend.Condition{Column: "tags", Op: backend.CondFTSOr, Expr: "a c"}, []string{"u1", "u2", "u3", "u4"}},
		{backend.Condition{Column: "tags", Op: backend.CondFTSExpression, Expr: "a && b"}, []string{"u1"}},
		{backend.Condition{Column: "", Op: backend.CondStrEq, Expr: "u3", Negate: true}, []string{"u1", "u2", "u4"}},
	}
	for _, o := range ops {
		res := search(backend.Query{Conditions: []backend.Condition{o.c}, HasOrder: true, Order: backend.OrderStrAsc})
		eqStrs(t, fmt.Sprintf("operator %d %q", o.c.Op, o.c.Expr), strs(res.Keys), o.want...)
	}
	for _, typ := range []backend.IndexType{backend.IndexLexical, backend.IndexDecimal, backend.IndexToken, backend.IndexQGram} {
		if ok, err := b.TableSetIndex(ctx, "", "tags", typ, false); !ok || err != nil {
			t.Fatalf("setindex %d: %v %v", typ, ok, err)
		}
	}
	if ok, err := b.TableSetIndex(ctx, "", "tags", backend.IndexOptimize, false); !ok || err != nil {
		t.Fatalf("optimize index: %v %v", ok, err)
	}
	if ok, err := b.TableSetIndex(ctx, "", "tags", backend.IndexVoid, false); !ok || err != nil {
		t.Fatalf("drop index: %v %v", ok, err)
	}
	if ok, err := b.TableSetIndex(ctx, "", "tags", backend.IndexVoid, false); ok || err != nil {
		t.Fatalf("drop a missing index: %v %v", ok, err)
	}
	// keep creates a missing index and refuses to rebuild an existing one.
	if ok, err := b.TableSetIndex(ctx, "", "age", backend.IndexDecimal, true); !ok || err != nil {
		t.Fatalf("keep on a new index: %v %v", ok, err)
	}
	if ok, err := b.TableSetIndex(ctx, "", "age", backend.IndexLexical, true); ok || err != nil {
		t.Fatalf("keep on an existing index: %v %v", ok, err)
	}
	id1, err := b.TableGenerateID(ctx, "")
	mustOK(t, err)
	id2, err := b.TableGenerateID(ctx, "")
	if err != nil || id2 <= id1 {
		t.Fatalf("genuid %d then %d (%v)", id1, id2, err)
	}

	res := search(backend.Query{Conditions: []backend.Condition{{Column: "age", Op: backend.CondNumLT, Expr: "26"}}, Action: backend.SearchDelete})
	if res.Count != 2 {
		t.Fatalf("delete count %d", res.Count)
	}
	eqStrs(t, "after delete", strs(search(backend.Query{HasOrder: true, Order: backend.OrderStrAsc}).Keys), "u1", "u3")
	if _, err := b.OpenCursor(ctx, ""); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("cursor on a table: %v", err)
	}
	if n, _, err := b.Increment(ctx, "", []byte("counter"), 3, backend.IncrementOptions{}); n != 3 || err != nil {
		t.Fatalf("addint on a table: %d %v", n, err)
	}
	cols, _, _ = b.TableGet(ctx, "", []byte("counter"))
	if string(cols["_num"]) != "3" {
		t.Fatalf("table addint column %q", cols)
	}
}

// On an on-memory tree misc "range" walks the iterator that every client
// shares, so scans must not use it there, and cursors need iterator=shared.
// The test server's B+ tree stands in for one: the adapter is told the type.
func TestTTMemoryTreeAvoidsSharedIterator(t *testing.T) {
	srv := tttest.Start(t, tttest.WithConfig("tt-btree"))
	b := fixture{addr: srv.Addr(), srv: srv}.open(t, "kind=memory-tree")
	ctx := ctxT(t)
	for _, k := range []string{"c", "a", "b"} {
		mustOK(t, b.Set(ctx, "", []byte(k), []byte("v:"+k), backend.Expiry{}, backend.WriteOptions{}))
	}
	got, _ := scanAll(t, b, backend.ScanOptions{BatchSize: 2})
	eqStrs(t, "scan", got, "a", "b", "c")
	if _, err := b.OpenCursor(ctx, ""); !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "iterator=shared") {
		t.Fatalf("cursor on an on-memory tree: %v", err)
	}
	rep, err := b.Report(ctx)
	mustOK(t, err)
	if rep["cnt_misc"] != "0" || rep["cnt_fwmkeys"] != "1" {
		t.Fatalf("scan used misc %s times and fwmkeys %s times, want 0 and 1", rep["cnt_misc"], rep["cnt_fwmkeys"])
	}
}
