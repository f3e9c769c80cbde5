package goclient_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/dial"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// clientFor serves the backend at url (dial.Open's syntax) and returns a
// client over it.
func clientFor(t *testing.T, url string) *ktgrpc.Client {
	t.Helper()
	b, err := dial.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return ktgrpc.New(gatewaytest.Start(t, b))
}

func TestAtomicWrites(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()

	// CompareAndSwap: nil old means "must not exist", nil new removes.
	if ok, err := c.CompareAndSwap(ctx, "k", nil, []byte("v1")); err != nil || !ok {
		t.Fatalf("create by CAS = %v, %v", ok, err)
	}
	if ok, err := c.CompareAndSwap(ctx, "k", nil, []byte("v2")); err != nil || ok {
		t.Fatalf("CAS expecting absence of an existing record = %v, %v; want false", ok, err)
	}
	if ok, err := c.CompareAndSwap(ctx, "k", []byte("wrong"), []byte("v2")); err != nil || ok {
		t.Fatalf("CAS with a wrong old value = %v, %v; want false", ok, err)
	}
	if ok, err := c.CompareAndSwap(ctx, "k", []byte("v1"), []byte{}, ktgrpc.WithTTL(time.Hour)); err != nil || !ok {
		t.Fatalf("CAS to the empty value = %v, %v", ok, err)
	}
	if info, err := c.Check(ctx, "k"); err != nil || info.Size != 0 || info.ExpireTime.IsZero() {
		t.Fatalf("Check after CAS = %+v, %v; want an empty value with an expiry", info, err)
	}
	if ok, err := c.CompareAndSwap(ctx, "k", []byte{}, nil); err != nil || !ok {
		t.Fatalf("CAS removal = %v, %v", ok, err)
	}
	if _, err := c.Check(ctx, "k"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("Check of a removed key: %v, want ErrNotFound", err)
	}

	// Seize returns the record and removes it.
	mustSet(t, c, "s", "seized")
	if rec, err := c.Seize(ctx, "s"); err != nil || string(rec.Value) != "seized" || rec.Key != "s" {
		t.Fatalf("Seize = %+v, %v", rec, err)
	}
	if _, err := c.Seize(ctx, "s"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("second Seize: %v, want ErrNotFound", err)
	}

	// Increments, with an initial value and must-exist.
	if n, err := c.Increment(ctx, "n", 2, ktgrpc.WithInitial(40)); err != nil || n != 42 {
		t.Fatalf("Increment from 40 = %d, %v", n, err)
	}
	if _, err := c.Increment(ctx, "absent", 1, ktgrpc.WithMustExist()); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("Increment WithMustExist of a missing key: %v, want ErrNotFound", err)
	}
	if f, err := c.IncrementFloat(ctx, "f", 1.5); err != nil || f != 1.5 {
		t.Fatalf("IncrementFloat = %v, %v", f, err)
	}
	if f, err := c.IncrementFloat(ctx, "f", -0.25); err != nil || f != 1.25 {
		t.Fatalf("second IncrementFloat = %v, %v", f, err)
	}
	if _, err := c.IncrementFloat(ctx, "absent", 1, ktgrpc.WithMustExist()); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("IncrementFloat WithMustExist of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, "absent"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("WithMustExist created the record: %v", err)
	}
}

func TestMatchSimilar(t *testing.T) {
	c, _ := newClient(t)
	for _, k := range []string{"apple", "apply", "ample", "banana"} {
		mustSet(t, c, k, "x")
	}
	got, err := c.MatchSimilar(t.Context(), "apple", 1)
	if err != nil || !slices.Equal(got, []string{"apple", "ample", "apply"}) {
		t.Fatalf("MatchSimilar(apple, 1) = %q, %v", got, err)
	}
	got, err = c.MatchSimilar(t.Context(), "apple", 1, ktgrpc.WithLimit(1))
	if err != nil || !slices.Equal(got, []string{"apple"}) {
		t.Fatalf("MatchSimilar with a limit = %q, %v", got, err)
	}
}

func TestCursor(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "d"} {
		mustSet(t, c, k, "v"+k)
	}
	cur, err := c.OpenCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := cur.Jump("b"); err != nil || !ok {
		t.Fatalf("Jump(b) = %v, %v", ok, err)
	}
	var keys []string
	for {
		rec, ok, err := cur.Get(true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		keys = append(keys, rec.Key+"="+string(rec.Value))
	}
	if !slices.Equal(keys, []string{"b=vb", "c=vc", "d=vd"}) {
		t.Fatalf("walk from b: %q", keys)
	}
	if ok, err := cur.Last(); err != nil || !ok {
		t.Fatalf("Last = %v, %v", ok, err)
	}
	if k, ok, err := cur.Key(false); err != nil || !ok || k != "d" {
		t.Fatalf("Key at the last record = %q, %v, %v", k, ok, err)
	}
	if ok, err := cur.StepBack(); err != nil || !ok {
		t.Fatalf("StepBack = %v, %v", ok, err)
	}
	if ok, err := cur.SetValue([]byte("new"), false); err != nil || !ok {
		t.Fatalf("SetValue = %v, %v", ok, err)
	}
	if rec, ok, err := cur.Seize(); err != nil || !ok || rec.Key != "c" || string(rec.Value) != "new" {
		t.Fatalf("Seize = %+v, %v, %v", rec, ok, err)
	}
	if ok, err := cur.First(); err != nil || !ok {
		t.Fatalf("First = %v, %v", ok, err)
	}
	if ok, err := cur.Remove(); err != nil || !ok {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if v, ok, err := cur.Value(false); err != nil || !ok || string(v) != "vb" {
		t.Fatalf("Value after removing a = %q, %v, %v", v, ok, err)
	}
	if err := cur.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := cur.Step(); err == nil {
		t.Fatal("Step after Close succeeded")
	}
	if got := collect(t, c.Scan(ctx, ktgrpc.WithKeysOnly())); !slices.Equal(got, []string{"b=", "d="}) {
		t.Fatalf("records after the cursor's removals = %q", got)
	}

	// A backward move on a hash database is the backend's refusal.
	cur, err = c.OpenCursor(ctx, ktgrpc.WithDB("cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if _, err := cur.Last(); !errors.Is(err, ktgrpc.ErrUnsupported) {
		t.Fatalf("Last on a hash database: %v, want ErrUnsupported", err)
	}
}

func TestAdmin(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()
	mustSet(t, c, "a", "1")
	mustSet(t, c, "b", "22")
	st, err := c.Status(ctx)
	if err != nil || st.Count != 2 || st.Size <= 0 || len(st.Fields) == 0 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if rep, err := c.Report(ctx); err != nil || len(rep) == 0 {
		t.Fatalf("Report = %v, %v", rep, err)
	}
	dbs, err := c.Databases(ctx)
	if err != nil || len(dbs) != 3 || dbs[2].Name != "cache" || !dbs[0].Healthy {
		t.Fatalf("Databases = %+v, %v", dbs, err)
	}
	if err := c.Synchronize(ctx, true, ""); err != nil {
		t.Fatalf("Synchronize: %v", err)
	}
	if err := c.Vacuum(ctx, 0); err != nil {
		t.Fatalf("Vacuum: %v", err)
	}
	if err := c.Clear(ctx); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if st, err := c.Status(ctx); err != nil || st.Count != 0 {
		t.Fatalf("Status after Clear = %+v, %v", st, err)
	}
	if rs, err := c.ReplicationStatus(ctx); err != nil || rs == nil {
		t.Fatalf("ReplicationStatus = %v, %v", rs, err)
	}
	if h, err := c.Health(ctx, ""); err != nil || h != "SERVING" {
		t.Fatalf("Health = %q, %v", h, err)
	}
	name, caps, err := c.Capabilities(ctx)
	offered := map[string]bool{}
	for _, cp := range caps {
		offered[cp.Name] = cp.Offered
	}
	if err != nil || name != "embedded" || !offered["tables"] || offered["maintenance"] || len(caps) < 10 {
		t.Fatalf("Capabilities = %q, %+v, %v", name, caps, err)
	}
	// Calls the embedded store does not have are the backend's refusal,
	// naming the capability.
	if err := c.Optimize(ctx, "x"); !errors.Is(err, ktgrpc.ErrUnsupported) || ktgrpc.ReasonOf(err) == "" {
		t.Fatalf("Optimize on the embedded store: %v, want ErrUnsupported", err)
	}
	if _, _, err := c.Misc(ctx, "getlist", nil); !errors.Is(err, ktgrpc.ErrUnsupported) {
		t.Fatalf("Misc on the embedded store: %v, want ErrUnsupported", err)
	}
}

func TestScriptOnKyotoTycoon(t *testing.T) {
	kt := kttest.Start(t)
	c := clientFor(t, "kt://"+kt.Addr())
	out, ok, err := c.CallScript(t.Context(), "echo", []ktgrpc.Pair{{Key: "k", Value: []byte("v")}})
	if err != nil || !ok || len(out) != 1 || out[0].Key != "k" || string(out[0].Value) != "v" {
		t.Fatalf("echo = %+v, %v, %v", out, ok, err)
	}
	out, ok, err = c.CallScript(t.Context(), "fail", nil)
	if err != nil || ok || len(out) != 0 {
		t.Fatalf("fail = %+v, %v, %v; want a logical failure without results", out, ok, err)
	}
}

func TestTableQuery(t *testing.T) {
	tt := tttest.Start(t, tttest.WithConfig("tt-table"))
	c := clientFor(t, "tt://"+tt.Addr())
	ctx := t.Context()
	people := map[string]map[string][]byte{
		"1": {"name": []byte("ann"), "age": []byte("31")},
		"2": {"name": []byte("bob"), "age": []byte("25")},
		"3": {"name": []byte("cid"), "age": []byte("47")},
	}
	for k, cols := range people {
		if ok, err := c.TablePut(ctx, k, cols, ktgrpc.PutOverwrite); err != nil || !ok {
			t.Fatalf("TablePut %s = %v, %v", k, ok, err)
		}
	}
	if ok, err := c.TablePut(ctx, "1", map[string][]byte{"name": []byte("x")}, ktgrpc.PutKeep); err != nil || ok {
		t.Fatalf("TablePut keep on an existing row = %v, %v; want false", ok, err)
	}
	row, err := c.TableGet(ctx, "1")
	if err != nil || string(row.Columns["name"]) != "ann" {
		t.Fatalf("TableGet = %+v, %v", row, err)
	}
	if _, err := c.TableGet(ctx, "9"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("TableGet of a missing row: %v", err)
	}
	q := ktgrpc.NewQuery().Where("age", ktgrpc.NumGE, "30").OrderBy("age", ktgrpc.NumDesc)
	keys, err := c.TableSearchKeys(ctx, q)
	if err != nil || !slices.Equal(keys, []string{"3", "1"}) {
		t.Fatalf("age >= 30 by age descending = %q, %v", keys, err)
	}
	rows, err := c.TableSearch(ctx, ktgrpc.NewQuery().WhereNot("name", ktgrpc.StrBeginsWith, "a").OrderBy("", ktgrpc.StrAsc).Limit(1).Columns("name"))
	if err != nil || len(rows) != 1 || rows[0].Key != "2" || len(rows[0].Columns) != 1 || string(rows[0].Columns["name"]) != "bob" {
		t.Fatalf("first row whose name does not begin with a = %+v, %v", rows, err)
	}
	if n, err := c.TableCount(ctx, ktgrpc.NewQuery().Where("age", ktgrpc.NumBetween, "20 40")); err != nil || n != 2 {
		t.Fatalf("count of ages 20-40 = %d, %v", n, err)
	}
	if n, err := c.TableDelete(ctx, ktgrpc.NewQuery().Where("name", ktgrpc.StrEq, "bob")); err != nil || n != 1 {
		t.Fatalf("delete bob = %d, %v", n, err)
	}
	if ok, err := c.TableSetIndex(ctx, "age", ktgrpc.IndexDecimal, false); err != nil || !ok {
		t.Fatalf("TableSetIndex = %v, %v", ok, err)
	}
	if id, err := c.TableGenerateID(ctx); err != nil || id <= 0 {
		t.Fatalf("TableGenerateID = %d, %v", id, err)
	}
	if op, err := ktgrpc.ParseOperator("NUM-BETWEEN"); err != nil || op != ktgrpc.NumBetween || op.String() != "num_between" {
		t.Fatalf("ParseOperator = %v, %v", op, err)
	}
	if _, err := ktgrpc.ParseOperator("like"); err == nil {
		t.Fatal("ParseOperator accepted an unknown name")
	}
}

func TestWatchKey(t *testing.T) {
	c, _ := newClient(t)
	ctx := t.Context()
	mustSet(t, c, "k", "v0")
	mustSet(t, c, "k2", "other")
	var got []string
	for ev, err := range c.Watch(ctx, ktgrpc.WithSnapshot(), ktgrpc.WithKey("k")) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Op == ktgrpc.OpProgress {
			if len(got) == 1 {
				mustSet(t, c, "k2", "ignored")
				mustSet(t, c, "k", "v1")
			}
			continue
		}
		got = append(got, ev.Op.String()+" "+ev.Key+"="+string(ev.Value))
		if len(got) == 2 {
			break
		}
	}
	if !slices.Equal(got, []string{"record k=v0", "set k=v1"}) {
		t.Fatalf("watch of key k = %q", got)
	}
}
