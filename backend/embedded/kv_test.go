package embedded

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

var ctx = context.Background()

func TestSetGet(t *testing.T) {
	s, _ := newStore(t, Options{})
	tests := []struct {
		name, db, key, value string
	}{
		{"plain", "", "k", "v"},
		{"empty value", "", "empty", ""},
		{"empty key", "", "", "ek"},
		{"binary", "1", "\x00\xff", "\x01\x02"},
		{"db by name", "1", "n", "by-name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustSet(t, s, tt.db, tt.key, tt.value, backend.Expiry{})
			rec, found, err := s.Get(ctx, tt.db, []byte(tt.key))
			if err != nil || !found {
				t.Fatalf("Get = found %v, err %v; want found", found, err)
			}
			if string(rec.Key) != tt.key || string(rec.Value) != tt.value || !rec.ExpireTime.IsZero() {
				t.Errorf("Get = %q=%q exp %v; want %q=%q, no expiry", rec.Key, rec.Value, rec.ExpireTime, tt.key, tt.value)
			}
			if rec.Value == nil {
				t.Errorf("Get returned a nil value for %q; want non-nil", tt.value)
			}
		})
	}
	if _, found := mustGet(t, s, "0", "\x00\xff"); found {
		t.Errorf("record written to db 1 is visible in db 0")
	}
	if _, found := mustGet(t, s, "", "missing"); found {
		t.Errorf("Get(missing) found a record")
	}
}

func TestDefensiveCopies(t *testing.T) {
	s, _ := newStore(t, Options{})
	key, value := []byte("k"), []byte("value")
	if err := s.Set(ctx, "", key, value, backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	key[0], value[0] = 'x', 'x'
	rec, found, _ := s.Get(ctx, "", []byte("k"))
	if !found || string(rec.Value) != "value" {
		t.Fatalf("after changing the caller's slices: found %v value %q; want the stored copy \"value\"", found, rec.Value)
	}
	rec.Value[0] = 'y'
	if v, _ := mustGet(t, s, "", "k"); v != "value" {
		t.Fatalf("changing a returned value changed the store: %q", v)
	}
	evs := events(t, s, 0)
	evs[0].Value[0] = 'z'
	if again := events(t, s, 0); string(again[0].Value) != "value" {
		t.Fatalf("changing a delivered event changed the log: %q", again[0].Value)
	}
}

func TestUnknownDatabase(t *testing.T) {
	s, _ := newStore(t, Options{})
	for _, db := range []string{"2", "x", "-1", "+1"} {
		_, _, err := s.Get(ctx, db, []byte("k"))
		if !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Get(db %q) err = %v; want ErrInvalid", db, err)
			continue
		}
		want := `unknown database "` + db + `" (have: 0, 1)`
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Get(db %q) err = %q; want it to contain %q", db, err, want)
		}
	}
}

func TestDatabaseAddressing(t *testing.T) {
	s, _ := newStore(t, Options{Databases: []DBConfig{{Name: "users"}, {Name: "cache", Kind: Hash}, {}}})
	mustSet(t, s, "", "a", "0", backend.Expiry{})
	mustSet(t, s, "cache", "a", "1", backend.Expiry{})
	mustSet(t, s, "2", "a", "2", backend.Expiry{})
	for db, want := range map[string]string{"": "0", "0": "0", "users": "0", "1": "1", "cache": "1", "2": "2"} {
		if v, _ := mustGet(t, s, db, "a"); v != want {
			t.Errorf("db %q: got %q, want %q", db, v, want)
		}
	}
	infos, err := s.Databases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []backend.DatabaseInfo{
		{Index: 0, Name: "users", Backend: "embedded", Kind: "tree", Healthy: true},
		{Index: 1, Name: "cache", Backend: "embedded", Kind: "hash", Healthy: true},
		{Index: 2, Name: "2", Backend: "embedded", Kind: "tree", Healthy: true},
	}
	if !slices.Equal(infos, want) {
		t.Errorf("Databases = %+v; want %+v", infos, want)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"duplicate name", Options{Databases: []DBConfig{{Name: "a"}, {Name: "a"}}}},
		{"number naming another index", Options{Databases: []DBConfig{{Name: "1"}, {Name: "x"}}}},
		{"bad kind", Options{Databases: []DBConfig{{Name: "a", Kind: Kind(7)}}}},
		{"negative log capacity", Options{LogCapacity: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded; want an error")
			}
			if !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("err = %v; want ErrInvalid", err)
			}
		})
	}
}

func TestAddReplace(t *testing.T) {
	s, _ := newStore(t, Options{})
	tests := []struct {
		op      string
		key     string
		value   string
		applied bool
		after   string // value after the call; "" = missing
	}{
		{"replace", "k", "r0", false, ""},
		{"add", "k", "a1", true, "a1"},
		{"add", "k", "a2", false, "a1"},
		{"replace", "k", "r1", true, "r1"},
	}
	for _, tt := range tests {
		var applied bool
		var err error
		if tt.op == "add" {
			applied, err = s.Add(ctx, "", []byte(tt.key), []byte(tt.value), backend.Expiry{})
		} else {
			applied, err = s.Replace(ctx, "", []byte(tt.key), []byte(tt.value), backend.Expiry{})
		}
		if err != nil || applied != tt.applied {
			t.Errorf("%s(%q) = %v, %v; want %v", tt.op, tt.value, applied, err, tt.applied)
		}
		got, found := mustGet(t, s, "", tt.key)
		if (tt.after == "") == found || got != tt.after {
			t.Errorf("after %s(%q): %q (found %v); want %q", tt.op, tt.value, got, found, tt.after)
		}
	}
	// Only the applied writes are logged.
	if got, want := opsOf(events(t, s, 0)), []string{"SET k", "SET k"}; !slices.Equal(got, want) {
		t.Errorf("log = %q; want %q", got, want)
	}
}

func TestAppend(t *testing.T) {
	s, _ := newStore(t, Options{})
	tests := []struct {
		value    string
		keepLast int
		want     string
	}{
		// A new record keeps the whole value whatever keepLast says, as
		// Tokyo Tyrant's putshl does.
		{"abcdefgh", 2, "abcdefgh"},
		{"", 3, "fgh"},
		{"abc", 0, "fghabc"},
		{"def", 0, "fghabcdef"},
		{"gh", 4, "efgh"},
		{"123456", 3, "456"},
		{"x", 10, "456x"},
	}
	for _, tt := range tests {
		if err := s.Append(ctx, "", []byte("k"), []byte(tt.value), backend.Expiry{}, tt.keepLast); err != nil {
			t.Fatalf("Append(%q, %d): %v", tt.value, tt.keepLast, err)
		}
		if got, _ := mustGet(t, s, "", "k"); got != tt.want {
			t.Errorf("Append(%q, %d) -> %q; want %q", tt.value, tt.keepLast, got, tt.want)
		}
	}
	evs := events(t, s, 0)
	if last := evs[len(evs)-1]; last.Op != backend.OpSet || string(last.Value) != "456x" || last.Command != "append" {
		t.Errorf("last event = %v %q %q; want SET with the whole value \"456x\", command append", last.Op, last.Value, last.Command)
	}
	if err := s.Append(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, -1); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("Append(keepLast -1) err = %v; want ErrInvalid", err)
	}
}

func TestRemoveAndBulk(t *testing.T) {
	// By default only real removals are logged; with LogMissingRemoves,
	// like Kyoto Tycoon, every key removed is logged, missing or not.
	t.Run("default", func(t *testing.T) {
		testRemoveAndBulk(t, false, []string{"SET a", "SET b", "SET c", "SET d", "REMOVE a",
			"SET b", "REMOVE b", "SET b", "REMOVE b"})
	})
	t.Run("LogMissingRemoves", func(t *testing.T) {
		testRemoveAndBulk(t, true, []string{"SET a", "SET b", "SET c", "SET d", "REMOVE a", "REMOVE a",
			"SET b", "REMOVE b", "REMOVE nope", "SET b", "REMOVE b", "REMOVE nope"})
	})
}

func testRemoveAndBulk(t *testing.T, logMissing bool, want []string) {
	s, _ := newStore(t, Options{LogMissingRemoves: logMissing})
	n, err := s.SetBulk(ctx, "", []backend.Entry{
		{Key: []byte("a"), Value: []byte("1")},
		{Key: []byte("b"), Value: []byte("2")},
		{Key: []byte("c"), Value: []byte("3")},
	}, backend.WriteOptions{Atomic: true})
	if err != nil || n != 3 {
		t.Fatalf("SetBulk = %d, %v; want 3", n, err)
	}
	n, err = s.SetBulk(ctx, "", []backend.Entry{{Key: []byte("d"), Value: []byte("4")}}, backend.WriteOptions{})
	if err != nil || n != 1 {
		t.Fatalf("SetBulk(non-atomic) = %d, %v; want 1", n, err)
	}
	recs, err := s.GetBulk(ctx, "", [][]byte{[]byte("c"), []byte("zz"), []byte("a")}, false)
	if err != nil || len(recs) != 2 || string(recs[0].Key) != "c" || string(recs[1].Value) != "1" {
		t.Fatalf("GetBulk = %+v, %v; want c=3, a=1 in request order", recs, err)
	}
	removed, err := s.Remove(ctx, "", []byte("a"))
	if err != nil || !removed {
		t.Fatalf("Remove(a) = %v, %v; want true", removed, err)
	}
	removed, err = s.Remove(ctx, "", []byte("a"))
	if err != nil || removed {
		t.Fatalf("Remove(a) again = %v, %v; want false", removed, err)
	}
	for _, atomic := range []bool{true, false} {
		mustSet(t, s, "", "b", "2", backend.Expiry{})
		count, err := s.RemoveBulk(ctx, "", [][]byte{[]byte("b"), []byte("nope")}, atomic)
		if err != nil || count != 1 {
			t.Errorf("RemoveBulk(atomic %v) = %d, %v; want 1 (missing keys not counted)", atomic, count, err)
		}
	}
	if got := opsOf(events(t, s, 0)); !slices.Equal(got, want) {
		t.Errorf("log = %q\nwant  %q", got, want)
	}
}

func TestCheckSeize(t *testing.T) {
	s, clock := newStore(t, Options{})
	mustSet(t, s, "", "k", "hello", ttl(time.Minute))
	info, found, err := s.Check(ctx, "", []byte("k"))
	if err != nil || !found || info.ValueSize != 5 || !info.ExpireTime.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("Check = %+v, %v, %v; want size 5, expiring in 1m", info, found, err)
	}
	if _, found, _ := s.Check(ctx, "", []byte("nope")); found {
		t.Errorf("Check(missing) found")
	}
	rec, found, err := s.Seize(ctx, "", []byte("k"))
	if err != nil || !found || string(rec.Value) != "hello" || rec.ExpireTime.IsZero() {
		t.Fatalf("Seize = %+v, %v, %v; want hello with expiry", rec, found, err)
	}
	if _, found := mustGet(t, s, "", "k"); found {
		t.Errorf("record still there after Seize")
	}
	if _, found, _ := s.Seize(ctx, "", []byte("k")); found {
		t.Errorf("Seize of a missing record found one")
	}
	if got, want := opsOf(events(t, s, 0)), []string{"SET k", "REMOVE k"}; !slices.Equal(got, want) {
		t.Errorf("log = %q; want %q (a failed seize logs nothing)", got, want)
	}
}

func TestCompareAndSwap(t *testing.T) {
	s, _ := newStore(t, Options{})
	tests := []struct {
		name     string
		old, new []byte
		swapped  bool
		after    string // "" = missing
	}{
		{"must not exist, missing", nil, []byte("created"), true, "created"},
		{"must not exist, exists", nil, []byte("again"), false, "created"},
		{"wrong old value", []byte("other"), []byte("new"), false, "created"},
		{"right old value", []byte("created"), []byte("new"), true, "new"},
		{"empty old value is not absent", []byte{}, []byte("x"), false, "new"},
		{"remove on mismatch", []byte("x"), nil, false, "new"},
		{"remove on match", []byte("new"), nil, true, ""},
		{"old value on missing record", []byte("new"), []byte("w"), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			swapped, err := s.CompareAndSwap(ctx, "", []byte("k"), tt.old, tt.new, backend.Expiry{})
			if err != nil || swapped != tt.swapped {
				t.Fatalf("CompareAndSwap = %v, %v; want %v", swapped, err, tt.swapped)
			}
			got, found := mustGet(t, s, "", "k")
			if (tt.after == "") == found || got != tt.after {
				t.Errorf("after: %q (found %v); want %q", got, found, tt.after)
			}
		})
	}
	want := []string{"SET k", "SET k", "REMOVE k"}
	if got := opsOf(events(t, s, 0)); !slices.Equal(got, want) {
		t.Errorf("log = %q; want %q (mismatches log nothing)", got, want)
	}
}

func TestStatusReportClear(t *testing.T) {
	s, _ := newStore(t, Options{Databases: []DBConfig{{Name: "t"}, {Name: "h", Kind: Hash}}})
	mustSet(t, s, "t", "ab", "cde", backend.Expiry{})
	mustSet(t, s, "t", "x", "", backend.Expiry{})
	mustSet(t, s, "h", "k", "v", backend.Expiry{})
	st, err := s.Status(ctx, "t")
	if err != nil || st.Count != 2 || st.Size != 6 {
		t.Fatalf("Status(t) = %+v, %v; want count 2 size 6", st, err)
	}
	for k, v := range map[string]string{"count": "2", "size": "6", "type": "tree", "name": "t"} {
		if st.Fields[k] != v {
			t.Errorf("Status field %s = %q; want %q", k, st.Fields[k], v)
		}
	}
	if st, _ := s.Status(ctx, "h"); st.Fields["type"] != "hash" {
		t.Errorf("Status(h) type = %q; want hash", st.Fields["type"])
	}
	rep, err := s.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"db_0": "count=2 size=6 name=t", "db_1": "count=1 size=2 name=h",
		"db_total_count": "3", "db_total_size": "8", "serv_current_time": "1704067200.000000",
	} {
		if rep[k] != v {
			t.Errorf("Report %s = %q; want %q", k, rep[k], v)
		}
	}
	if err := s.Clear(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(ctx, "t"); st.Count != 0 || st.Size != 0 {
		t.Errorf("after Clear: %+v; want empty", st)
	}
	if _, found := mustGet(t, s, "h", "k"); !found {
		t.Errorf("Clear(t) cleared h too")
	}
	evs := events(t, s, 0)
	if last := evs[len(evs)-1]; last.Op != backend.OpClear || last.DB != "t" || last.Key != nil {
		t.Errorf("last event = %+v; want CLEAR of t without key", last)
	}
}

func TestSynchronizePingClose(t *testing.T) {
	s, _ := newStore(t, Options{})
	if err := s.Synchronize(ctx, "", true, ""); err != nil {
		t.Errorf("Synchronize = %v", err)
	}
	if err := s.Synchronize(ctx, "", false, "backup"); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("Synchronize(command) = %v; want ErrUnsupported", err)
	}
	if err := s.Synchronize(ctx, "9", false, ""); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("Synchronize(db 9) = %v; want ErrInvalid", err)
	}
	if s.Name() != "embedded" {
		t.Errorf("Name = %q", s.Name())
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Ping after Close = %v; want ErrUnavailable", err)
	}
	if err := s.Set(ctx, "", []byte("k"), nil, backend.Expiry{}, backend.WriteOptions{}); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Set after Close = %v; want ErrUnavailable", err)
	}
}

func TestCancelledContext(t *testing.T) {
	s, _ := newStore(t, Options{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Set(cctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context = %v; want context.Canceled", err)
	}
	if _, found := mustGet(t, s, "", "k"); found {
		t.Errorf("a cancelled Set wrote the record")
	}
}

func TestQuoteKey(t *testing.T) {
	long := bytes.Repeat([]byte("k"), 100)
	if got, want := quoteKey(long), `"`+string(long[:64])+`"...`; got != want {
		t.Errorf("quoteKey(100 bytes) = %s; want %s", got, want)
	}
	if got := quoteKey([]byte("a\x00")); got != `"a\x00"` {
		t.Errorf("quoteKey = %s", got)
	}
}
