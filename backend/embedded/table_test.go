package embedded

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

// newTableStore opens a store with a tree "kv" and a table "t".
func newTableStore(t *testing.T) *Store {
	t.Helper()
	s, _ := newStore(t, Options{Databases: []DBConfig{{Name: "kv"}, {Name: "t", Kind: Table}}})
	return s
}

func mustPutRow(t *testing.T, s *Store, key string, cols map[string]string, mode backend.PutMode) bool {
	t.Helper()
	c := map[string][]byte{}
	for k, v := range cols {
		c[k] = []byte(v)
	}
	ok, err := s.TablePut(ctx, "t", []byte(key), c, mode)
	if err != nil {
		t.Fatalf("TablePut(%s): %v", key, err)
	}
	return ok
}

func TestTableRowsAreSerialisedRecords(t *testing.T) {
	s := newTableStore(t)
	mustPutRow(t, s, "r1", map[string]string{"name": "alice", "age": "30"}, backend.PutOverwrite)
	// Key/value reads see Tokyo Tyrant's serialised form, columns in name
	// order.
	if got, _ := mustGet(t, s, "t", "r1"); got != "age\x0030\x00name\x00alice" {
		t.Errorf("Get of a row = %q", got)
	}
	// A key/value write is read as a serialised row, as TT's put on a
	// table: a repeated name keeps its first place with the last value, an
	// unpaired last piece is dropped.
	if err := s.Set(ctx, "t", []byte("r2"), []byte("b\x001\x00a\x002\x00b\x003\x00tail"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustGet(t, s, "t", "r2"); got != "b\x003\x00a\x002" {
		t.Errorf("Get after Set = %q", got)
	}
	cols, found, err := s.TableGet(ctx, "t", []byte("r2"))
	if err != nil || !found || !maps.EqualFunc(cols, map[string][]byte{"a": []byte("2"), "b": []byte("3")}, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("TableGet after Set = %q, %v, %v", cols, found, err)
	}
	// The update log carries the rows.
	evs := events(t, s, 0)
	if len(evs) != 2 || evs[0].DB != "t" || evs[0].Command != "table_put" || string(evs[1].Value) != "b\x003\x00a\x002" {
		t.Errorf("events = %+v", evs)
	}
}

func TestTableKVWrites(t *testing.T) {
	s := newTableStore(t)
	for name, err := range map[string]error{
		"Set with a column named \"\"": s.Set(ctx, "t", []byte("k"), []byte("\x00v"), backend.Expiry{}, backend.WriteOptions{}),
		"Set with an empty key":        s.Set(ctx, "t", nil, []byte("a\x001"), backend.Expiry{}, backend.WriteOptions{}),
	} {
		if !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("%s: %v; want ErrInvalid", name, err)
		}
	}
	for name, err := range map[string]error{
		"Set with an expiration": s.Set(ctx, "t", []byte("k"), []byte("a\x001"), ttl(1), backend.WriteOptions{}),
		"Append":                 s.Append(ctx, "t", []byte("k"), []byte("a\x001"), backend.Expiry{}, 0),
	} {
		if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), `table "t"`) {
			t.Errorf("%s: %v; want ErrUnsupported naming the table", name, err)
		}
	}
	if _, _, err := s.Increment(ctx, "t", []byte("k"), 1, backend.IncrementOptions{}); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("Increment: %v; want ErrUnsupported", err)
	}
	if _, _, err := s.IncrementDouble(ctx, "t", []byte("k"), 1, backend.IncrementDoubleOptions{}); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("IncrementDouble: %v; want ErrUnsupported", err)
	}
	if st, _ := s.Status(ctx, "t"); st.Count != 0 {
		t.Errorf("refused writes stored %d rows", st.Count)
	}
	// Removal works as on any database.
	mustPutRow(t, s, "r", map[string]string{"a": "1"}, backend.PutOverwrite)
	if removed, err := s.Remove(ctx, "t", []byte("r")); err != nil || !removed {
		t.Errorf("Remove of a row = %v, %v", removed, err)
	}
}

func TestTableOnOtherKinds(t *testing.T) {
	s := newTableStore(t)
	_, err := s.TablePut(ctx, "kv", []byte("r"), map[string][]byte{"a": []byte("1")}, backend.PutOverwrite)
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), `"kv" is a tree database`) {
		t.Errorf("TablePut on a tree: %v", err)
	}
	if _, err := s.TableGenerateID(ctx, "kv"); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("TableGenerateID on a tree: %v", err)
	}
	// Key/value writes on the tree are untouched by the row rules.
	if err := s.Set(ctx, "kv", []byte("k"), []byte("\x00v"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Errorf("Set on a tree: %v", err)
	}
}

func TestTableSearch(t *testing.T) {
	s := newTableStore(t)
	rows := map[string]map[string]string{
		"1": {"name": "alice", "age": "30", "tags": "a b"},
		"2": {"name": "bob", "age": "25"},
		"3": {"name": "carol", "age": "41", "tags": "b,c"},
		"4": {"name": "Dave"},
	}
	for k, r := range rows {
		mustPutRow(t, s, k, r, backend.PutOverwrite)
	}
	keys := func(q backend.Query) []string {
		t.Helper()
		res, err := s.TableSearch(ctx, "t", q)
		if err != nil {
			t.Fatalf("TableSearch(%+v): %v", q, err)
		}
		out := []string{}
		for _, k := range res.Keys {
			out = append(out, string(k))
		}
		return out
	}
	c := func(col string, op backend.CondOp, expr string) backend.Condition {
		return backend.Condition{Column: col, Op: op, Expr: expr}
	}
	for _, tc := range []struct {
		name string
		q    backend.Query
		want []string
	}{
		{"all", backend.Query{}, []string{"1", "2", "3", "4"}},
		{"negated on a missing column", backend.Query{Conditions: []backend.Condition{{Column: "tags", Op: backend.CondStrInclude, Expr: "b", Negate: true}}}, []string{"2", "4"}},
		{"token and", backend.Query{Conditions: []backend.Condition{c("tags", backend.CondStrAnd, "b c")}}, []string{"3"}},
		{"token or", backend.Query{Conditions: []backend.Condition{c("tags", backend.CondStrOr, "a,c")}}, []string{"1", "3"}},
		{"primary key", backend.Query{Conditions: []backend.Condition{c("", backend.CondStrOrEq, "2 4")}}, []string{"2", "4"}},
		{"case-insensitive regex", backend.Query{Conditions: []backend.Condition{c("name", backend.CondStrRegex, "*^d")}}, []string{"4"}},
		{"bad regex matches nothing", backend.Query{Conditions: []backend.Condition{c("name", backend.CondStrRegex, "(")}}, []string{}},
		{"full text", backend.Query{Conditions: []backend.Condition{c("name", backend.CondFTSExpression, "A || dave !! x")}}, []string{"1", "3", "4"}},
		{"number order with limit", backend.Query{HasOrder: true, OrderColumn: "age", Order: backend.OrderNumDesc, Limit: 2}, []string{"3", "1"}},
		{"offset", backend.Query{HasOrder: true, OrderColumn: "age", Order: backend.OrderNumAsc, Offset: 2}, []string{"3", "4"}},
	} {
		if got := keys(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: keys %q; want %q", tc.name, got, tc.want)
		}
	}
	res, err := s.TableSearch(ctx, "t", backend.Query{Conditions: []backend.Condition{c("", backend.CondStrEq, "1")}, Action: backend.SearchGet, Columns: []string{"", "name", "nothing"}})
	if err != nil || len(res.Rows) != 1 || string(res.Rows[0].Key) != "1" || len(res.Rows[0].Columns) != 1 || string(res.Rows[0].Columns["name"]) != "alice" {
		t.Errorf("search get projected = %+v, %v", res.Rows, err)
	}
	res, err = s.TableSearch(ctx, "t", backend.Query{Conditions: []backend.Condition{c("age", backend.CondNumLT, "35")}, Action: backend.SearchDelete})
	if err != nil || res.Count != 2 {
		t.Errorf("search delete = %+v, %v; want 2 removed", res, err)
	}
	if got := keys(backend.Query{}); !slices.Equal(got, []string{"3", "4"}) {
		t.Errorf("after delete: %q", got)
	}
	for name, q := range map[string]backend.Query{
		"operator": {Conditions: []backend.Condition{{Op: 99}}},
		"order":    {HasOrder: true, Order: 9},
		"action":   {Action: 9},
		"limit":    {Limit: -1},
	} {
		if _, err := s.TableSearch(ctx, "t", q); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("unknown %s: %v; want ErrInvalid", name, err)
		}
	}
}

func TestTablePutModesAndIDs(t *testing.T) {
	s := newTableStore(t)
	if !mustPutRow(t, s, "r", map[string]string{"b": "1"}, backend.PutKeep) {
		t.Error("keep on a new row not applied")
	}
	if mustPutRow(t, s, "r", map[string]string{"b": "2"}, backend.PutKeep) {
		t.Error("keep on an existing row applied")
	}
	mustPutRow(t, s, "r", map[string]string{"a": "x", "b": "3"}, backend.PutConcat)
	if got, _ := mustGet(t, s, "t", "r"); got != "b\x001\x00a\x00x" {
		t.Errorf("after concat: %q; want the new column after the kept one", got)
	}
	if _, err := s.TablePut(ctx, "t", nil, map[string][]byte{"a": nil}, backend.PutOverwrite); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("empty key: %v", err)
	}
	if _, err := s.TablePut(ctx, "t", []byte("r"), map[string][]byte{"a": []byte("x\x00y")}, backend.PutOverwrite); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("NUL in a value: %v", err)
	}
	for want := int64(1); want <= 2; want++ {
		if id, err := s.TableGenerateID(ctx, "t"); err != nil || id != want {
			t.Errorf("GenerateID = %d, %v; want %d", id, err, want)
		}
	}
	if _, err := s.TableSetIndex(ctx, "t", "a", backend.IndexLexical, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.TableGenerateID(ctx, "t"); id != 1 {
		t.Errorf("GenerateID after Clear = %d; want 1", id)
	}
	if ok, _ := s.TableSetIndex(ctx, "t", "a", backend.IndexOptimize, false); !ok {
		t.Error("Clear dropped the index")
	}
}
