package ttstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

// ttNew opens a one-database store on a fixed clock and its TT view.
func ttNew(t *testing.T, typ Type) (*embedded.Store, *DB) {
	t.Helper()
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := embedded.New(embedded.Options{Databases: []embedded.DBConfig{{Name: "0", Kind: typ.Kind()}}, Now: clock, SweepInterval: -1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := Open(s, "0", Options{Type: typ, Now: clock})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, db
}

func ttPut(t *testing.T, db *DB, mode PutMode, key, value string, width int32) bool {
	t.Helper()
	ok, err := db.Put(context.Background(), mode, []byte(key), []byte(value), width)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return ok
}

func ttGet(t *testing.T, db *DB, key string) (string, bool) {
	t.Helper()
	v, found, err := db.Get(context.Background(), []byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v), found
}

func ttMisc(t *testing.T, db *DB, name string, args ...string) ([]string, bool) {
	t.Helper()
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	res, ok, err := db.Misc(context.Background(), name, bargs, false)
	if err != nil {
		t.Fatalf("Misc(%s): %v", name, err)
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = string(r)
	}
	return out, ok
}

func ttRecords(t *testing.T, db *DB) []LogRecord {
	t.Helper()
	recs, err := db.ReadLog(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	return recs
}

func TestTTPutFamily(t *testing.T) {
	_, db := ttNew(t, Hash)
	if !ttPut(t, db, PutKeep, "k", "first", 0) || ttPut(t, db, PutKeep, "k", "second", 0) {
		t.Fatal("putkeep: want success on a new key, failure on an existing one")
	}
	ttPut(t, db, PutCat, "k", "+", 0)
	ttPut(t, db, PutCat, "new", "abc", 0)
	ttPut(t, db, PutShl, "k", "XY", 4)
	ttPut(t, db, PutShl, "whole", "12345", 2)
	for key, want := range map[string]string{"k": "t+XY", "new": "abc", "whole": "12345"} {
		if got, _ := ttGet(t, db, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if ttPut(t, db, PutShl, "k", "x", -1) {
		t.Error("putshl with a negative width succeeded")
	}
	var failed []bool
	for _, r := range ttRecords(t, db) {
		failed = append(failed, r.Failed)
	}
	want := []bool{false, true, false, false, false, false, true}
	if !slices.Equal(failed, want) {
		t.Errorf("logged results %v, want %v (failures are logged too)", failed, want)
	}
}

func TestTTAddIntNativeOrder(t *testing.T) {
	s, db := ttNew(t, Hash)
	ctx := context.Background()
	if sum, ok, _ := db.AddInt(ctx, []byte("n"), 3); !ok || sum != 3 {
		t.Fatalf("addint on a missing key = %d, %v; want 3, true", sum, ok)
	}
	if sum, _, _ := db.AddInt(ctx, []byte("n"), -5); sum != -2 {
		t.Fatalf("sum = %d, want -2", sum)
	}
	rec, _, _ := s.Get(ctx, "0", []byte("n"))
	if !bytes.Equal(rec.Value, []byte{0xFE, 0xFF, 0xFF, 0xFF}) {
		t.Errorf("stored %x, want little-endian fe ff ff ff", rec.Value)
	}
	db.AddInt(ctx, []byte("n"), 0)
	ttPut(t, db, PutOver, "s", "abc", 0)
	if _, ok, _ := db.AddInt(ctx, []byte("s"), 1); ok {
		t.Error("addint on a 3-byte value succeeded")
	}
	if d, ok, _ := db.AddDouble(ctx, []byte("d"), 2.5); !ok || d != 2.5 {
		t.Fatalf("adddouble = %v, %v", d, ok)
	}
	rec, _, _ = s.Get(ctx, "0", []byte("d"))
	if got := math.Float64frombits(binary.LittleEndian.Uint64(rec.Value)); got != 2.5 {
		t.Errorf("stored double %x, want 2.5 little-endian", rec.Value)
	}
	var ops []Op
	for _, r := range ttRecords(t, db) {
		ops = append(ops, r.Op)
	}
	want := []Op{OpAddInt, OpAddInt, OpPut, OpAddInt, OpAddDouble}
	if !slices.Equal(ops, want) {
		t.Errorf("logged %v, want %v (adding 0 is not logged)", ops, want)
	}
}

func TestBTreeDuplicates(t *testing.T) {
	s, db := ttNew(t, BTree)
	ctx := context.Background()
	ttMisc(t, db, "put", "k", "v1")
	ttMisc(t, db, "putdup", "k", "v2")
	ttMisc(t, db, "putdupback", "k", "v0")
	ttMisc(t, db, "putlist", "a", "1", "a", "2")
	if got, _ := ttMisc(t, db, "get", "k"); !slices.Equal(got, []string{"v0", "v1", "v2"}) {
		t.Errorf("get k = %q, want v0 v1 v2", got)
	}
	if v, _ := ttGet(t, db, "k"); v != "v0" {
		t.Errorf("plain get = %q, want the first value v0", v)
	}
	if n, _ := db.RNum(ctx); n != 5 {
		t.Errorf("rnum = %d, want 5 (duplicates count)", n)
	}
	var iter []string
	db.IterInit(ctx)
	for {
		k, v, ok, err := db.IterNext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		iter = append(iter, string(k)+"="+string(v))
	}
	if want := []string{"a=1", "a=2", "k=v0", "k=v1", "k=v2"}; !slices.Equal(iter, want) {
		t.Errorf("iteration %q, want %q", iter, want)
	}
	if ok, _ := db.Out(ctx, []byte("k")); !ok {
		t.Fatal("out failed")
	}
	if got, _ := ttMisc(t, db, "getlist", "k", "a"); !slices.Equal(got, []string{"k", "v1", "k", "v2", "a", "1", "a", "2"}) {
		t.Errorf("after out: getlist = %q (out removes only the first value)", got)
	}
	ttMisc(t, db, "outlist", "a")
	if got, _ := ttMisc(t, db, "getlist", "a"); len(got) != 0 {
		t.Errorf("after outlist: %q", got)
	}
	// A write through the Store's own API replaces the key wholesale.
	if err := s.Set(ctx, "0", []byte("k"), []byte("plain"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ttMisc(t, db, "get", "k"); !slices.Equal(got, []string{"plain"}) {
		t.Errorf("after Store.Set: get = %q, want only the new value", got)
	}
}

func TestTTRangeRegexGetPart(t *testing.T) {
	_, db := ttNew(t, BTree)
	ttMisc(t, db, "putlist", "a", "1", "b", "2", "c", "3", "d", "4", "apple", "red")
	cases := []struct {
		name string
		args []string
		want []string
		ok   bool
	}{
		{"range", []string{"b", "0", "d"}, []string{"b", "2", "c", "3"}, true},
		{"range", []string{"b", "1"}, []string{"b", "2"}, true},
		{"range", nil, []string{"a", "1", "apple", "red", "b", "2", "c", "3", "d", "4"}, true},
		{"regex", []string{"*^A"}, []string{"a", "1", "apple", "red"}, true},
		{"regex", []string{"^a", "1"}, []string{"a", "1"}, true},
		{"getpart", []string{"apple", "1", "1"}, []string{"e"}, true},
		{"getpart", []string{"apple", "3"}, nil, false},
		{"nosuch", nil, nil, false},
	}
	for _, c := range cases {
		got, ok := ttMisc(t, db, c.name, c.args...)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("%s %q = %q, %v; want %q, %v", c.name, c.args, got, ok, c.want, c.ok)
		}
	}
	_, hash := ttNew(t, Hash)
	if _, ok := ttMisc(t, hash, "range"); ok {
		t.Error("range on a hash database succeeded")
	}
}

func TestTableRows(t *testing.T) {
	_, db := ttNew(t, Table)
	ctx := context.Background()
	ttPut(t, db, PutOver, "p1", "name\x00alice\x00age\x0030\x00dangling", 0)
	if v, _ := ttGet(t, db, "p1"); v != "name\x00alice\x00age\x0030" {
		t.Errorf("get = %q: the unpaired name should be dropped", v)
	}
	if n, _, _ := db.VSiz(ctx, []byte("p1")); n != 18 {
		t.Errorf("vsiz = %d, want 18 (Tokyo Cabinet's row size)", n)
	}
	ttPut(t, db, PutCat, "p1", "age\x0099\x00city\x00tokyo", 0)
	if got, _ := ttMisc(t, db, "get", "p1"); !slices.Equal(got, []string{"name", "alice", "age", "30", "city", "tokyo"}) {
		t.Errorf("after putcat: %q (existing columns stay)", got)
	}
	ttPut(t, db, PutOver, "", "a\x00b", 0)
	db.AddInt(ctx, nil, 4)
	keys, _ := db.FwmKeys(ctx, nil, -1)
	if want := [][]byte{[]byte("1"), []byte("2"), []byte("p1")}; !slices.EqualFunc(keys, want, bytes.Equal) {
		t.Errorf("keys %q, want generated 1 and 2", keys)
	}
	if v, _ := ttGet(t, db, "2"); v != "_num\x004" {
		t.Errorf("addint row = %q", v)
	}
	if got, _ := ttMisc(t, db, "genuid"); !slices.Equal(got, []string{"3"}) {
		t.Errorf("genuid = %q, want 3", got)
	}
	if _, ok := ttMisc(t, db, "put", "", "a", "b"); ok {
		t.Error("misc put with an empty primary key succeeded")
	}
}

func TestTTSetIndex(t *testing.T) {
	_, db := ttNew(t, Table)
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"name", "LEX"}, true},
		{[]string{"age", "1"}, true},
		{[]string{"name", "+DEC"}, false}, // keep: the index exists
		{[]string{"city", "+LEX"}, true},
		{[]string{"name", "9998"}, true},
		{[]string{"name", "VOID"}, true},
		{[]string{"name", "9999"}, false},
		{[]string{"x", "12345"}, false},
		{[]string{"x"}, false},
	} {
		if _, ok := ttMisc(t, db, "setindex", c.args...); ok != c.ok {
			t.Errorf("setindex %q = %v, want %v", c.args, ok, c.ok)
		}
	}
}

// ttSearchDB is a table with four users.
func ttSearchDB(t *testing.T) *DB {
	_, db := ttNew(t, Table)
	for _, r := range [][]string{
		{"u1", "name", "alice", "age", "30", "city", "tokyo", "tags", "a b,c"},
		{"u2", "name", "bob", "age", "25", "city", "osaka"},
		{"u3", "name", "carol", "age", "41", "city", "tokyo"},
		{"u4", "name", "dave", "age", "19", "tags", "b"},
	} {
		if _, ok := ttMisc(t, db, "put", r...); !ok {
			t.Fatalf("put %q failed", r)
		}
	}
	return db
}

func ttQ(ttTokens ...string) string { return strings.Join(ttTokens, "\x00") }

func TestTTSearchConditions(t *testing.T) {
	db := ttSearchDB(t)
	cases := []struct {
		op, col, expr string
		want          string
	}{
		{"STREQ", "city", "tokyo", "u1 u3"},
		{"0", "city", "tokyo", "u1 u3"},
		{"STRINC", "name", "o", "u2 u3"},
		{"STRBW", "name", "c", "u3"},
		{"STREW", "name", "e", "u1 u4"},
		{"STRAND", "tags", "b a", "u1"},
		{"STROR", "tags", "c x", "u1"},
		{"STROREQ", "city", "osaka,kyoto", "u2"},
		{"STRRX", "name", "^[ab]", "u1 u2"},
		{"NUMEQ", "age", "30", "u1"},
		{">", "age", "30", "u3"},
		{"NUMGE", "age", "30", "u1 u3"},
		{"<", "age", "25", "u4"},
		{"NUMLE", "age", "25", "u2 u4"},
		{"NUMBT", "age", "30 20", "u1 u2"},
		{"NUMOREQ", "age", "19,41", "u3 u4"},
		{"FTS", "name", "AR", "u3"},
		{"FTSAND", "name", "a e", "u1 u4"},
		{"FTSOR", "name", "bo da", "u2 u4"},
		{"FTSEX", "name", "al || bo", "u1 u2"},
		{"~STREQ", "city", "tokyo", "u2 u4"},
		{"!+STREQ", "city", "tokyo", "u2 u4"},
		{fmt.Sprint(16777216 + 0), "city", "tokyo", "u2 u4"},
		{fmt.Sprint(33554432 + 2), "name", "a", "u1"},
		{"STRBW", "", "u", "u1 u2 u3 u4"},
		{"bogus", "city", "tokyo", "u1 u2 u3 u4"},
	}
	for _, c := range cases {
		got, ok := ttMisc(t, db, "search", ttQ("addcond", c.col, c.op, c.expr))
		if !ok || strings.Join(got, " ") != c.want {
			t.Errorf("%s %s %q: %q, %v; want %s", c.col, c.op, c.expr, got, ok, c.want)
		}
	}
}

func TestTTSearchActions(t *testing.T) {
	db := ttSearchDB(t)
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	got, _ := ttMisc(t, db, "search", ttQ("setorder", "age", "NUMDESC"), ttQ("setlimit", "2", "1"))
	check("order and limit", got, "u1", "u2")
	got, _ = ttMisc(t, db, "search", ttQ("addcond", "city", "STREQ", "tokyo"), ttQ("get", "name", ""))
	check("get columns", got, "name\x00alice\x00\x00u1", "name\x00carol\x00\x00u3")
	got, _ = ttMisc(t, db, "search", ttQ("addcond", "name", "STREQ", "bob"), "get")
	check("get all", got, "\x00u2\x00name\x00bob\x00age\x0025\x00city\x00osaka")
	got, _ = ttMisc(t, db, "search", "count", ttQ("addcond", "age", "<", "40"), "hint")
	check("count with hint", got, "3", "\x00\x00[[HINT]]\nscanning the whole table\nresult set size: 3\nleaving the natural order\n")
	got, _ = ttMisc(t, db, "metasearch", ttQ("addcond", "city", "STREQ", "osaka"), "next", ttQ("addcond", "age", "<", "20"), ttQ("mstype", "OR"))
	check("union", got, "u2", "u4")
	got, _ = ttMisc(t, db, "metasearch", ttQ("addcond", "age", ">", "20"), "next", ttQ("addcond", "city", "STREQ", "tokyo"), ttQ("mstype", "DIFF"))
	check("difference", got, "u2")
	got, _ = ttMisc(t, db, "search", ttQ("addcond", "age", "<", "26"), "out", "get")
	check("out with get", got, "\x00u2\x00name\x00bob\x00age\x0025\x00city\x00osaka", "\x00u4\x00name\x00dave\x00age\x0019\x00tags\x00b")
	got, _ = ttMisc(t, db, "search", "count")
	check("count after out", got, "2")
}

func TestTTIterator(t *testing.T) {
	_, db := ttNew(t, Hash)
	ctx := context.Background()
	if _, _, ok, _ := db.IterNext(ctx); ok {
		t.Error("iternext on an empty database succeeded")
	}
	for _, k := range []string{"b", "a", "c"} {
		ttPut(t, db, PutOver, k, k+k, 0)
	}
	db.IterInitAt(ctx, []byte("b"))
	k, v, _, _ := db.IterNext(ctx)
	if string(k) != "b" || string(v) != "bb" {
		t.Errorf("first after iterinit b = %q %q", k, v)
	}
	// Another caller continues the same iteration.
	if got, _ := ttMisc(t, db, "iternext"); !slices.Equal(got, []string{"c", "cc"}) {
		t.Errorf("misc iternext = %q, want c cc", got)
	}
	if _, ok := ttMisc(t, db, "iternext"); ok {
		t.Error("iteration did not end")
	}
	if keys, _ := db.FwmKeys(ctx, nil, 0); len(keys) != 0 {
		t.Errorf("fwmkeys max 0 = %q", keys)
	}
}

func TestTTLogAndRedo(t *testing.T) {
	_, db := ttNew(t, Hash)
	ctx := context.Background()
	seq := db.LogSeq()
	wait := db.WaitLog(seq)
	ttMisc(t, db, "putlist", "k", "v")
	select {
	case <-wait:
	default:
		t.Fatal("WaitLog did not fire on a new record")
	}
	db.Misc(ctx, "get", [][]byte{[]byte("k")}, true)
	ttMisc(t, db, "nosuch")
	ttPut(t, db, PutKeep, "k", "w", 0)
	recs := ttRecords(t, db)
	if len(recs) != 3 || recs[0].Name != "putlist" || !recs[1].Failed || recs[1].Name != "nosuch" || !recs[2].Failed {
		t.Fatalf("log %+v: want putlist, failed nosuch, failed putkeep (the no-log get left out)", recs)
	}
	if recs[0].OriginSID != embedded.DefaultServerID || recs[0].TS == 0 {
		t.Errorf("record origin %d ts %d", recs[0].OriginSID, recs[0].TS)
	}
	// Replaying the failed putkeep fails again: consistent.
	if ok, err := db.Redo(ctx, recs[2], 7); err != nil || !ok {
		t.Errorf("redo of a failed putkeep: consistent=%v err=%v", ok, err)
	}
	ttPut(t, db, PutOver, "gone", "x", 0)
	db.Out(ctx, []byte("gone"))
	recs = ttRecords(t, db)
	out := recs[len(recs)-1]
	if ok, _ := db.Redo(ctx, out, 7); ok {
		t.Error("redo of a successful out on a missing key reported consistent")
	}
	last := ttRecords(t, db)
	if r := last[len(last)-1]; r.MasterSID != 7 || r.Op != OpOut || !r.Failed {
		t.Errorf("redo logged %+v, want a failed out from master 7", r)
	}
	if tail, _ := db.ReadLog(ctx, last[len(last)-2].Seq, 10); len(tail) != 1 {
		t.Errorf("ReadLog after the second-last record returned %d records", len(tail))
	}
}

func TestTTLogCapacity(t *testing.T) {
	s, err := embedded.New(embedded.Options{Databases: []embedded.DBConfig{{Name: "0", Kind: embedded.Hash}}, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := Open(s, "0", Options{LogCapacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		ttPut(t, db, PutOver, fmt.Sprint(i), "v", 0)
	}
	recs := ttRecords(t, db)
	if len(recs) != 2 || recs[0].Seq != 4 || string(recs[1].Key) != "4" {
		t.Errorf("retained %+v, want the newest two", recs)
	}
	if _, err := Open(s, "nosuch", Options{}); err == nil {
		t.Error("Open of an unknown database succeeded")
	}
	if _, err := Open(s, "0", Options{Type: 42}); err == nil {
		t.Error("Open with an unknown type succeeded")
	}
	if _, err := Open(s, "0", Options{Type: Table}); err == nil {
		t.Error("Open of a hash database as a table succeeded")
	}
}

// An empty value meeting a lexical or decimal index aborts Tokyo Cabinet,
// in either order; from then on nothing answers.
func TestTableAbort(t *testing.T) {
	ctx := context.Background()
	for _, order := range []string{"index first", "row first"} {
		t.Run(order, func(t *testing.T) {
			_, db := ttNew(t, Table)
			ttPut(t, db, PutOver, "1", "age\x00", 0)
			if _, ok := ttMisc(t, db, "setindex", "text", "0"); !ok {
				t.Fatal("setindex text lexical failed")
			}
			// A token index takes an empty value.
			if _, ok := ttMisc(t, db, "setindex", "age", "2"); !ok {
				t.Fatal("setindex age token failed")
			}
			var err error
			if order == "index first" {
				_, err = db.Put(ctx, PutOver, []byte("24"), []byte("text\x00"), 0)
			} else {
				_, _, err = db.Misc(ctx, "setindex", [][]byte{[]byte("age"), []byte("1")}, false)
			}
			if !errors.Is(err, ErrAborted) || !errors.Is(err, backend.ErrUnavailable) {
				t.Fatalf("the write that trips the assertion: %v, want ErrAborted", err)
			}
			if db.Aborted() == "" {
				t.Error("Aborted() does not say why")
			}
			if _, _, err := db.Get(ctx, []byte("1")); !errors.Is(err, ErrAborted) {
				t.Errorf("a read after the abort: %v, want ErrAborted", err)
			}
		})
	}
}

// Tokyo Cabinet refuses a column named "" in put, putkeep and putcat.
func TestTableEmptyColumnName(t *testing.T) {
	_, db := ttNew(t, Table)
	for _, mode := range []PutMode{PutOver, PutKeep, PutCat} {
		if ok, err := db.Put(context.Background(), mode, []byte("k"), []byte("\x00v\x00a\x001"), 0); ok || err != nil {
			t.Errorf("put mode %d with a column named \"\": %v, %v; want refused", mode, ok, err)
		}
	}
	if _, ok := ttMisc(t, db, "put", "k", "", "v"); ok {
		t.Error(`misc put with a column named "" succeeded`)
	}
	if _, found := ttGet(t, db, "k"); found {
		t.Error("the row was stored")
	}
}

// A table's rows are the Store's: what TT's put writes, the Store's table
// calls read and search, and the other way round.
func TestTTTableIsTheStoresTable(t *testing.T) {
	s, db := ttNew(t, Table)
	ctx := context.Background()
	ttPut(t, db, PutOver, "u1", "name\x00alice\x00age\x0030", 0)
	cols, found, err := s.TableGet(ctx, "0", []byte("u1"))
	if err != nil || !found || string(cols["name"]) != "alice" || string(cols["age"]) != "30" {
		t.Errorf("Store.TableGet of a TT row = %q, %v, %v", cols, found, err)
	}
	if _, err := s.TablePut(ctx, "0", []byte("u2"), map[string][]byte{"name": []byte("bob")}, backend.PutOverwrite); err != nil {
		t.Fatal(err)
	}
	if got, _ := ttMisc(t, db, "search", ttQ("addcond", "name", "STRBW", "b")); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("TT search for a Store row = %q", got)
	}
	if got, _ := ttMisc(t, db, "genuid"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("genuid = %q", got)
	}
	if id, err := s.TableGenerateID(ctx, "0"); err != nil || id != 2 {
		t.Errorf("Store.TableGenerateID after genuid = %d, %v; want 2: one counter", id, err)
	}
}
