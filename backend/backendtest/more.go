package backendtest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend"
)

func testScan(e *env) {
	want := []string{"a", "b", "b\x00", "b\xff", "c", "d"}
	for _, k := range want {
		e.set(e.key(k), []byte("v:"+k))
	}
	var all []string
	err := e.b.Scan(e.ctx, e.db, backend.ScanOptions{Prefix: e.key("")}, func(batch []backend.Record) error {
		for _, r := range batch {
			if string(r.Value) != "v:"+strings.TrimPrefix(string(r.Key), e.ns) {
				e.t.Errorf("Scan value of %q = %q", r.Key, r.Value)
			}
			all = append(all, strings.TrimPrefix(string(r.Key), e.ns))
		}
		return nil
	})
	e.must(err)
	sorted := slices.Sorted(slices.Values(all))
	if !slices.Equal(sorted, want) {
		e.t.Errorf("Scan(prefix) = %q, want %q in some order", all, want)
	}
	if e.caps.Ordered && !slices.Equal(all, want) {
		e.t.Errorf("Scan on an ordered database = %q, want key order %q", all, want)
	}
	ranged := scanKeys(e, backend.ScanOptions{Start: e.key("b"), End: e.key("c"), Prefix: e.key("")})
	slices.Sort(ranged)
	if !slices.Equal(ranged, []string{e.ns + "b", e.ns + "b\x00", e.ns + "b\xff"}) {
		e.t.Errorf("Scan [b, c) = %q", ranged)
	}
	rev := backend.ScanOptions{Prefix: e.key(""), Reverse: true}
	switch {
	case !e.caps.Ordered && e.caps.Family == KT:
		err := e.b.Scan(e.ctx, e.db, rev, func([]backend.Record) error { return nil })
		e.wantErr("reverse scan of an unordered database", err, backend.ErrUnsupported)
	case e.caps.Ordered:
		got := scanKeys(e, rev)
		exp := slices.Clone(want)
		slices.Reverse(exp)
		for i := range exp {
			exp[i] = e.ns + exp[i]
		}
		if !slices.Equal(got, exp) {
			e.t.Errorf("reverse Scan = %q, want %q", got, exp)
		}
	}
	// The callback's error stops the scan and comes back unchanged.
	stop := errors.New("stop here")
	calls := 0
	err = e.b.Scan(e.ctx, e.db, backend.ScanOptions{Prefix: e.key(""), BatchSize: 1}, func([]backend.Record) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		e.t.Errorf("Scan whose callback fails: err=%v after %d calls; want the callback's error after 1", err, calls)
	}
}

func testCursor(e *env) {
	t := e.t
	for _, k := range []string{"a", "b", "c"} {
		e.set(e.key(k), []byte("v"+k))
	}
	c, err := e.b.OpenCursor(e.ctx, e.db)
	e.must(err)
	defer func() { e.must(c.Close()) }()
	ok, err := c.Jump(e.ctx, e.key("b"))
	e.wantBool("Jump(b)", ok, err, true)
	k, ok, err := c.GetKey(e.ctx, false)
	if err != nil || !ok || string(k) != e.ns+"b" {
		e.t.Errorf("GetKey after Jump(b) = %q, %v, %v", k, ok, err)
	}
	r, ok, err := c.Get(e.ctx, true)
	if err != nil || !ok || string(r.Value) != "vb" {
		e.t.Errorf("Get(step) = %+v, %v, %v", r, ok, err)
	}
	v, ok, err := c.GetValue(e.ctx, false)
	if err != nil || !ok || string(v) != "vc" {
		e.t.Errorf("GetValue after the step = %q, %v, %v", v, ok, err)
	}
	ok, err = c.SetValue(e.ctx, []byte("new\x00c"), backend.Expiry{}, false)
	e.wantBool("SetValue", ok, err, true)
	e.wantValue(e.key("c"), []byte("new\x00c"))
	ok, err = c.Step(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if ok {
		// Past c only other tests' keys could follow, and the database
		// was cleared.
		k, _, _ := c.GetKey(e.ctx, false)
		e.t.Errorf("Step past the last record found %q", k)
	}
	_, ok, err = c.GetKey(e.ctx, false)
	e.wantBool("GetKey past the end", ok, err, false)
	ok, err = c.Jump(e.ctx, nil)
	e.wantBool("Jump(first)", ok, err, true)
	ok, err = c.Remove(e.ctx)
	e.wantBool("Remove at the first record", ok, err, true)
	e.wantValue(e.key("a"), nil)
	if e.caps.Family == KT {
		rec, ok, err := c.Seize(e.ctx)
		if err != nil || !ok || string(rec.Value) != "vb" {
			e.t.Errorf("Seize = %+v, %v, %v", rec, ok, err)
		}
		e.wantValue(e.key("b"), nil)
	}
	if !e.caps.Ordered {
		_, err := c.JumpBack(e.ctx, nil)
		e.wantErr("JumpBack on an unordered database", err, backend.ErrUnsupported)
		return
	}
	ok, err = c.JumpBack(e.ctx, nil)
	if errors.Is(err, backend.ErrUnsupported) && e.caps.Family == TT {
		return // Tokyo Tyrant's range lookup only goes forward.
	}
	e.wantBool("JumpBack(last)", ok, err, true)
	k, _, _ = c.GetKey(e.ctx, false)
	if string(k) != e.ns+"c" {
		e.t.Errorf("JumpBack(last) is at %q, want c", k)
	}
	// a was removed and b seized: nothing is left before c.
	ok, err = c.StepBack(e.ctx)
	e.wantBool("StepBack from the first record", ok, err, false)

	// A tree cursor keeps the direction of its last move: after JumpBack,
	// the step of Get and the move after Remove go backward.
	for _, k := range []string{"a", "b"} {
		e.set(e.key(k), []byte("v"+k))
	}
	ok, err = c.JumpBack(e.ctx, nil)
	e.wantBool("JumpBack(last)", ok, err, true)
	r, ok, err = c.Get(e.ctx, true)
	if err != nil || !ok || string(r.Key) != e.ns+"c" {
		t.Errorf("Get(step) after JumpBack = %q, %v, %v; want c", r.Key, ok, err)
	}
	if k, _, _ := c.GetKey(e.ctx, false); string(k) != e.ns+"b" {
		t.Errorf("Get(step) after JumpBack moved to %q, want the previous record b", k)
	}
	ok, err = c.Remove(e.ctx)
	e.wantBool("Remove of b", ok, err, true)
	if k, _, _ := c.GetKey(e.ctx, false); string(k) != e.ns+"a" {
		t.Errorf("Remove after JumpBack moved to %q, want the previous record a", k)
	}
	ok, err = c.Step(e.ctx)
	e.wantBool("Step from a (forward again)", ok, err, true)
	if k, _, _ := c.GetKey(e.ctx, false); string(k) != e.ns+"c" {
		t.Errorf("Step from a moved to %q, want c", k)
	}
}

func testSubscribe(e *env) {
	k := e.key("sub")
	e.set(k, []byte("logged"))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	found := errors.New("found")
	err := e.b.Subscribe(ctx, backend.SubscribeOptions{Filter: backend.Filter{KeyPrefix: e.key("")}}, func(u backend.Update) error {
		if u.Event != nil && bytes.Equal(u.Event.Key, k) && u.Event.Op == backend.OpSet {
			if !bytes.Equal(u.Event.Value, []byte("logged")) {
				e.t.Errorf("logged value %q, want %q", u.Event.Value, "logged")
			}
			return found
		}
		return nil
	})
	if !errors.Is(err, found) {
		e.t.Errorf("Subscribe from the start of the log ended with %v before the write was seen", err)
	}
}

func testAdmin(e *env) {
	st, err := e.b.Status(e.ctx, e.db)
	e.must(err)
	if st.Count != 0 {
		e.t.Errorf("Status after Clear counts %d records", st.Count)
	}
	if !e.caps.Table {
		e.set(e.key("x"), []byte("y"))
		if st, _ := e.b.Status(e.ctx, e.db); st.Count != 1 {
			e.t.Errorf("Status after one Set counts %d", st.Count)
		}
	}
	rep, err := e.b.Report(e.ctx)
	e.must(err)
	if len(rep) == 0 {
		e.t.Error("Report is empty")
	}
	dbs, err := e.b.Databases(e.ctx)
	e.must(err)
	if len(dbs) == 0 || !dbs[0].Healthy {
		e.t.Errorf("Databases = %+v, want at least one healthy database", dbs)
	}
	e.must(e.b.Synchronize(e.ctx, e.db, false, ""))
	e.must(e.b.Vacuum(e.ctx, e.db, 0))
	e.must(e.b.Clear(e.ctx, e.db))
	if st, _ := e.b.Status(e.ctx, e.db); st.Count != 0 {
		e.t.Errorf("Status after Clear counts %d", st.Count)
	}
}

func testScript(e *env) {
	s, ok := feature[backend.Scripter](e.b, backend.CapScripts)
	if !ok {
		e.t.Fatalf("%T has an echo script configured but does not list backend.CapScripts", e.b)
	}
	args := []backend.Pair{{Key: []byte("k"), Value: []byte("v\x00\xff\t\n")}}
	res, ok, err := s.CallScript(e.ctx, e.caps.EchoScript, args, backend.LockNone)
	if err != nil || !ok {
		e.t.Fatalf("CallScript(%s) = %v, %v", e.caps.EchoScript, ok, err)
	}
	if e.caps.Family == KT && (len(res) != 1 || string(res[0].Value) != string(args[0].Value)) {
		e.t.Errorf("echo returned %q, want the argument back", res)
	}
	_, ok, err = s.CallScript(e.ctx, "no-such-procedure", nil, backend.LockNone)
	if err == nil && ok {
		e.t.Error("calling a missing procedure succeeded")
	}
	// A lock is held where the backend lists CapScriptLocks and refused
	// elsewhere, never silently dropped.
	_, ok, err = s.CallScript(e.ctx, e.caps.EchoScript, args, backend.LockRecord)
	if backend.Has(e.b, backend.CapScriptLocks) {
		if err != nil || !ok {
			e.t.Errorf("CallScript(%s) with a record lock = %v, %v", e.caps.EchoScript, ok, err)
		}
	} else {
		e.wantErr("CallScript with a record lock on a backend without script locks", err, backend.ErrUnsupported)
	}
}

func testNoTable(e *env) {
	tb, ok := feature[backend.Tabler](e.b, backend.CapTables)
	if !ok {
		return
	}
	_, err := tb.TablePut(e.ctx, e.db, e.key("r"), map[string][]byte{"a": []byte("1")}, backend.PutOverwrite)
	e.wantErr("TablePut on a database that is not a table", err, backend.ErrUnsupported)
}

func testTable(e *env) {
	tb := e.b.(backend.Tabler)
	put := func(key string, mode backend.PutMode, cols map[string][]byte) bool {
		e.t.Helper()
		ok, err := tb.TablePut(e.ctx, e.db, []byte(key), cols, mode)
		e.must(err)
		return ok
	}
	if !put("r1", backend.PutOverwrite, map[string][]byte{"name": []byte("alice"), "age": []byte("30"), "bin": []byte("\xff\t\n")}) {
		e.t.Fatal("TablePut overwrite not applied")
	}
	put("r2", backend.PutOverwrite, map[string][]byte{"name": []byte("bob"), "age": []byte("25")})
	if put("r1", backend.PutKeep, map[string][]byte{"name": []byte("x")}) {
		e.t.Error("TablePut keep on an existing row was applied")
	}
	put("r2", backend.PutConcat, map[string][]byte{"city": []byte("paris"), "name": []byte("ignored")})
	cols, found, err := tb.TableGet(e.ctx, e.db, []byte("r2"))
	e.must(err)
	if !found || string(cols["city"]) != "paris" || string(cols["name"]) != "bob" {
		e.t.Errorf("row after putcat = %q (found %v)", cols, found)
	}
	cols, _, _ = tb.TableGet(e.ctx, e.db, []byte("r1"))
	if string(cols["bin"]) != "\xff\t\n" {
		e.t.Errorf("binary column = %q", cols["bin"])
	}
	_, found, err = tb.TableGet(e.ctx, e.db, []byte("missing"))
	e.wantBool("TableGet of a missing row", found, err, false)

	res, err := tb.TableSearch(e.ctx, e.db, backend.Query{
		Conditions: []backend.Condition{{Column: "age", Op: backend.CondNumGE, Expr: "26"}},
	})
	e.must(err)
	if len(res.Keys) != 1 || string(res.Keys[0]) != "r1" {
		e.t.Errorf("search age >= 26 = %q", res.Keys)
	}
	res, err = tb.TableSearch(e.ctx, e.db, backend.Query{HasOrder: true, OrderColumn: "name", Order: backend.OrderStrDesc, Action: backend.SearchGet, Columns: []string{"name"}})
	e.must(err)
	if len(res.Rows) != 2 || string(res.Rows[0].Key) != "r2" || string(res.Rows[0].Columns["name"]) != "bob" || res.Rows[0].Columns["age"] != nil {
		e.t.Errorf("search get ordered by name desc = %+v", res.Rows)
	}
	res, err = tb.TableSearch(e.ctx, e.db, backend.Query{Action: backend.SearchCount})
	e.must(err)
	if res.Count != 2 {
		e.t.Errorf("search count = %d", res.Count)
	}
	ok, err := tb.TableSetIndex(e.ctx, e.db, "name", backend.IndexLexical, false)
	e.wantBool("SetIndex lexical", ok, err, true)
	ok, err = tb.TableSetIndex(e.ctx, e.db, "name", backend.IndexLexical, true)
	e.wantBool("SetIndex keep on an existing index", ok, err, false)
	ok, err = tb.TableSetIndex(e.ctx, e.db, "nothing", backend.IndexVoid, false)
	e.wantBool("SetIndex void on a column without an index", ok, err, false)
	ok, err = tb.TableSetIndex(e.ctx, e.db, "name", backend.IndexVoid, false)
	e.wantBool("SetIndex void", ok, err, true)
	res, err = tb.TableSearch(e.ctx, e.db, backend.Query{
		Conditions: []backend.Condition{{Column: "name", Op: backend.CondStrEq, Expr: "bob"}},
		Action:     backend.SearchDelete,
	})
	e.must(err)
	if res.Count != 1 {
		e.t.Errorf("search delete removed %d", res.Count)
	}
	id1, err := tb.TableGenerateID(e.ctx, e.db)
	e.must(err)
	id2, err := tb.TableGenerateID(e.ctx, e.db)
	e.must(err)
	if id2 != id1+1 {
		e.t.Errorf("GenerateID gave %d then %d", id1, id2)
	}
}
