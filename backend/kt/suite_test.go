package kt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// The adapter suite runs twice: against the kttest server (always) and
// against a real ktserver when KT_ADDR names one. The real server keeps its
// state between runs, so every test works under its own key prefix and
// never assumes an empty database, except where it clears one itself.

// target is the server a suite run talks to.
type target struct {
	addr string
	// kt is the test server, nil for a real one.
	kt *kttest.Server
}

func TestSuiteKTTest(t *testing.T) {
	srv := kttest.Start(t)
	runSuite(t, target{addr: srv.Addr(), kt: srv})
}

func TestSuiteRealKT(t *testing.T) {
	addr := os.Getenv("KT_ADDR")
	if addr == "" {
		t.Skip("KT_ADDR is not set; to run the adapter suite against a real server start " +
			"`ktserver -ulog ulog -sid 1 -rts rts -scr kt-golden.lua '*' '%'` (the golden Lua procedures) " +
			"and set KT_ADDR=host:port")
	}
	runSuite(t, target{addr: addr})
}

type suiteEnv struct {
	t   *testing.T
	tg  target
	b   *Backend
	ns  string // key prefix of this test
	ctx context.Context
}

func runSuite(t *testing.T, tg target) {
	tests := []struct {
		name string
		fn   func(e *suiteEnv)
	}{
		{"BinaryUnsafeData", testBinaryUnsafe},
		{"LargeValue", testLargeValue},
		{"Expiration", testExpiration},
		{"ConditionalWrites", testConditional},
		{"Numbers", testNumbers},
		{"MatchKeys", testMatch},
		{"CursorTree", testCursorTree},
		{"CursorHash", testCursorHash},
		{"Scan", testScan},
		{"ScanHashParks", testScanHashParks},
		{"ScanHashParkedPlaceChanged", testScanHashParkedPlaceChanged},
		{"ScanHashParkedRead", testScanHashParkedRead},
		{"Script", testScript},
		{"Databases", testDatabases},
		{"Replication", testReplication},
		{"ReplicationResumesAfterBreak", testReplicationBreak},
		{"KilledMidRequest", testKilledMidRequest},
		{"StaleConnectionRetry", testStaleRetry},
		{"CancelMidReply", testCancelMidReply},
		{"LateReplyKeepsConnection", testLateReplyKeepsConnection},
		{"CursorLateMoveMustJump", testLateStep},
		{"CursorLateReadKeepsPosition", testLateRead},
		{"CursorLateReplyLost", testLateDrainFails},
		{"CursorLateWaitCancelled", testLateWaitCancelled},
		{"CursorLateCloseKeepsConnection", testLateClose},
		{"CursorLateCloseGivesUp", testLateCloseGivesUp},
		{"BinaryErrorReply", testBinaryErrorReply},
		{"PoolBounded", testPoolBounded},
		{"PoolWaitBounded", testPoolWaitBounded},
		{"Maintenance", testMaintenance},
	}
	run := time.Now().UnixNano()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t.Cleanup(cancel)
			e := &suiteEnv{t: t, tg: tg, ctx: ctx, ns: fmt.Sprintf("kt-suite/%d/%s/", run, tc.name)}
			e.b = e.open(tg.addr, "")
			tc.fn(e)
			if s := e.b.PoolStats(); s.InUse != 0 {
				t.Errorf("connections still in use after the test: %+v", s)
			}
			if tg.kt != nil {
				// Closed cursors and scans delete their server cursors.
				if err := tg.kt.WaitCursorCount(ctx, 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// open returns a backend for addr with extra URL options.
func (e *suiteEnv) open(addr, query string) *Backend {
	e.t.Helper()
	u, err := url.Parse("kt://" + addr + "?" + query)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := Open(e.ctx, u)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { b.Close() })
	return b
}

func (e *suiteEnv) key(s string) []byte { return []byte(e.ns + s) }

func (e *suiteEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *suiteEnv) set(db, key, value string, exp backend.Expiry) {
	e.t.Helper()
	e.must(e.b.Set(e.ctx, db, e.key(key), []byte(value), exp, backend.WriteOptions{}))
}

func (e *suiteEnv) get(db string, key []byte) (backend.Record, bool) {
	e.t.Helper()
	rec, ok, err := e.b.Get(e.ctx, db, key)
	e.must(err)
	return rec, ok
}

func wantErr(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: err = %v, want %v", what, err, sentinel)
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func testBinaryUnsafe(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	keys := [][]byte{e.key("nul\x00key"), e.key("tab\tkey"), e.key("nl\nkey\r"), e.key("\xff\xfe not utf-8"), e.key("")}
	value := allBytes()
	for _, db := range []string{"", "%"} {
		for i, k := range keys {
			v := append([]byte{byte(i)}, value...)
			e.must(b.Set(ctx, db, k, v, backend.Expiry{}, backend.WriteOptions{}))
			rec, ok := e.get(db, k)
			if !ok || !bytes.Equal(rec.Value, v) || !rec.ExpireTime.IsZero() {
				t.Fatalf("db %q key %q: got %q ok=%v xt=%v", db, k, rec.Value, ok, rec.ExpireTime)
			}
		}
		// Bulk reads keep request order and duplicates and skip misses.
		recs, err := b.GetBulk(ctx, db, [][]byte{keys[2], e.key("missing"), keys[0], keys[2]}, false)
		e.must(err)
		if len(recs) != 3 || !bytes.Equal(recs[0].Key, keys[2]) || !bytes.Equal(recs[1].Key, keys[0]) || !bytes.Equal(recs[2].Key, keys[2]) || recs[1].Value[0] != 0 {
			t.Errorf("db %q GetBulk = %q", db, recs)
		}
		// The RPC paths carry the same bytes (Base64 columns).
		replaced, err := b.Replace(ctx, db, keys[1], []byte("\x00\t\n\r"), backend.Expiry{})
		e.must(err)
		if rec, _ := e.get(db, keys[1]); !replaced || string(rec.Value) != "\x00\t\n\r" {
			t.Errorf("db %q Replace: applied=%v value %q", db, replaced, rec.Value)
		}
		info, found, err := b.Check(ctx, db, keys[3])
		e.must(err)
		if !found || info.ValueSize != 257 {
			t.Errorf("db %q Check = %+v, %v", db, info, found)
		}
		seized, found, err := b.Seize(ctx, db, keys[0])
		e.must(err)
		if !found || !bytes.Equal(seized.Value, append([]byte{0}, value...)) {
			t.Errorf("db %q Seize = %q, %v", db, seized.Value, found)
		}
		if _, ok := e.get(db, keys[0]); ok {
			t.Errorf("db %q: seized record still there", db)
		}
		atomicRecs, err := b.GetBulk(ctx, db, [][]byte{keys[1], keys[0], keys[3]}, true)
		e.must(err)
		if len(atomicRecs) != 2 || !bytes.Equal(atomicRecs[0].Key, keys[1]) || !bytes.Equal(atomicRecs[1].Key, keys[3]) {
			t.Errorf("db %q atomic GetBulk = %q", db, atomicRecs)
		}
		n, err := b.RemoveBulk(ctx, db, [][]byte{keys[1], keys[0], e.key("missing")}, false)
		e.must(err)
		if n != 1 {
			t.Errorf("db %q RemoveBulk removed %d, want 1", db, n)
		}
		n, err = b.RemoveBulk(ctx, db, [][]byte{keys[2], keys[3]}, true)
		e.must(err)
		if n != 2 {
			t.Errorf("db %q atomic RemoveBulk removed %d, want 2", db, n)
		}
		removed, err := b.Remove(ctx, db, keys[4])
		e.must(err)
		again, err := b.Remove(ctx, db, keys[4])
		e.must(err)
		if !removed || again {
			t.Errorf("db %q Remove: first %v, second %v", db, removed, again)
		}
	}
	n, err := b.SetBulk(ctx, "1", []backend.Entry{{Key: e.key("a\x00"), Value: []byte("1")}, {Key: e.key("b\n"), Value: []byte("2")}}, backend.WriteOptions{Atomic: true})
	e.must(err)
	if n != 2 {
		t.Errorf("atomic SetBulk stored %d", n)
	}
	if rec, ok := e.get("1", e.key("b\n")); !ok || string(rec.Value) != "2" {
		t.Errorf("after atomic SetBulk: %q %v", rec.Value, ok)
	}
}

func testLargeValue(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	big := bytes.Repeat(allBytes(), 8<<20/256+1) // 8 MiB + 256 bytes, every byte value
	e.must(b.Set(ctx, "", e.key("big"), big, backend.Expiry{}, backend.WriteOptions{}))
	if rec, ok := e.get("", e.key("big")); !ok || !bytes.Equal(rec.Value, big) {
		t.Fatalf("binary round trip of %d bytes: got %d bytes, ok=%v", len(big), len(rec.Value), ok)
	}
	// The RPC path: the value travels Base64-encoded both ways.
	big[0] = 'X'
	ok, err := b.Replace(ctx, "", e.key("big"), big, backend.Expiry{})
	e.must(err)
	seized, found, err := b.Seize(ctx, "", e.key("big"))
	e.must(err)
	if !ok || !found || !bytes.Equal(seized.Value, big) {
		t.Fatalf("RPC round trip: replaced=%v found=%v, %d bytes back", ok, found, len(seized.Value))
	}
	// Beyond the binary protocol's 2^28 bytes the server would only answer
	// 0xBF; the adapter says why instead. (Untouched zero pages cost no
	// memory.)
	huge := make([]byte, 1<<28+1)
	err = b.Set(ctx, "", e.key("huge"), huge, backend.Expiry{}, backend.WriteOptions{})
	wantErr(t, "Set of a value above 2^28 bytes", err, backend.ErrInvalid)
	_, _, err = b.Get(ctx, "", huge)
	wantErr(t, "Get of a key above 2^28 bytes", err, backend.ErrInvalid)
	if s := b.PoolStats(); s.Discards != 0 {
		t.Errorf("refused requests cost connections: %+v", s)
	}
}

func testExpiration(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	at := time.Unix(4102444800, 0) // 2100-01-01
	for _, db := range []string{"", "1"} {
		e.set(db, "never", "v", backend.Expiry{})
		e.set(db, "at", "v", backend.Expiry{At: at})
		before := time.Now()
		e.set(db, "ttl", "v", backend.Expiry{TTL: time.Hour})
		e.set(db, "past", "v", backend.Expiry{At: time.Unix(1000000000, 0)})

		if rec, ok := e.get(db, e.key("never")); !ok || !rec.ExpireTime.IsZero() {
			t.Errorf("db %q never: %v %v", db, rec.ExpireTime, ok)
		}
		if rec, ok := e.get(db, e.key("at")); !ok || !rec.ExpireTime.Equal(at) {
			t.Errorf("db %q at: %v %v", db, rec.ExpireTime, ok)
		}
		rec, ok := e.get(db, e.key("ttl"))
		// The server adds the TTL to its own clock, in whole seconds.
		if lo, hi := before.Add(time.Hour-5*time.Second), before.Add(time.Hour+5*time.Second); !ok || rec.ExpireTime.Before(lo) || rec.ExpireTime.After(hi) {
			t.Errorf("db %q ttl: expires %v, want about %v", db, rec.ExpireTime, before.Add(time.Hour))
		}
		if _, ok := e.get(db, e.key("past")); ok {
			t.Errorf("db %q: a record stored with a past expiration is visible", db)
		}
		// RPC reads report the same expirations; never is an absent xt.
		info, _, err := b.Check(ctx, db, e.key("at"))
		e.must(err)
		if !info.ExpireTime.Equal(at) {
			t.Errorf("db %q Check at: %v", db, info.ExpireTime)
		}
		info, _, err = b.Check(ctx, db, e.key("never"))
		e.must(err)
		if !info.ExpireTime.IsZero() {
			t.Errorf("db %q Check never: %v", db, info.ExpireTime)
		}
		added, err := b.Add(ctx, db, e.key("added"), []byte("v"), backend.Expiry{At: at.Add(time.Hour)})
		e.must(err)
		seized, _, err := b.Seize(ctx, db, e.key("added"))
		e.must(err)
		if !added || !seized.ExpireTime.Equal(at.Add(time.Hour)) {
			t.Errorf("db %q Add+Seize: added %v expires %v", db, added, seized.ExpireTime)
		}
		// Every record of a binary bulk write carries its own expiration.
		_, err = b.SetBulk(ctx, db, []backend.Entry{
			{Key: e.key("b1"), Value: []byte("1"), Expiry: backend.Expiry{At: at}},
			{Key: e.key("b2"), Value: []byte("2")},
		}, backend.WriteOptions{})
		e.must(err)
		recs, err := b.GetBulk(ctx, db, [][]byte{e.key("b1"), e.key("b2")}, false)
		e.must(err)
		if len(recs) != 2 || !recs[0].ExpireTime.Equal(at) || !recs[1].ExpireTime.IsZero() {
			t.Errorf("db %q bulk expirations: %+v", db, recs)
		}
	}
	_, err := b.SetBulk(ctx, "", []backend.Entry{
		{Key: e.key("x"), Value: []byte("1"), Expiry: backend.Expiry{At: at}},
		{Key: e.key("y"), Value: []byte("2")},
	}, backend.WriteOptions{Atomic: true})
	wantErr(t, "atomic SetBulk with two expirations", err, backend.ErrInvalid)
	n, err := b.SetBulk(ctx, "", []backend.Entry{
		{Key: e.key("x"), Value: []byte("1"), Expiry: backend.Expiry{At: at}},
		{Key: e.key("y"), Value: []byte("2"), Expiry: backend.Expiry{At: at}},
	}, backend.WriteOptions{Atomic: true})
	e.must(err)
	if rec, _ := e.get("", e.key("y")); n != 2 || !rec.ExpireTime.Equal(at) {
		t.Errorf("atomic SetBulk with one expiration: n=%d expires %v", n, rec.ExpireTime)
	}
}

func testConditional(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	k := e.key("k")
	check := func(what string, got, want bool, err error) {
		t.Helper()
		e.must(err)
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	ok, err := b.Replace(ctx, "", k, []byte("r"), backend.Expiry{})
	check("Replace missing", ok, false, err)
	ok, err = b.Add(ctx, "", k, []byte("a"), backend.Expiry{})
	check("Add new", ok, true, err)
	ok, err = b.Add(ctx, "", k, []byte("b"), backend.Expiry{})
	check("Add existing", ok, false, err)
	ok, err = b.Replace(ctx, "", k, []byte("r"), backend.Expiry{})
	check("Replace existing", ok, true, err)
	ok, err = b.CompareAndSwap(ctx, "", k, []byte("wrong"), []byte("x"), backend.Expiry{})
	check("CAS mismatch", ok, false, err)
	ok, err = b.CompareAndSwap(ctx, "", k, []byte("r"), []byte("c"), backend.Expiry{})
	check("CAS match", ok, true, err)
	ok, err = b.CompareAndSwap(ctx, "", k, nil, []byte("n"), backend.Expiry{})
	check("CAS must-not-exist on existing", ok, false, err)
	ok, err = b.CompareAndSwap(ctx, "", k, []byte("c"), nil, backend.Expiry{})
	check("CAS remove", ok, true, err)
	if _, found := e.get("", k); found {
		t.Error("CAS with no new value left the record")
	}
	ok, err = b.CompareAndSwap(ctx, "", k, nil, []byte("n"), backend.Expiry{})
	check("CAS must-not-exist on missing", ok, true, err)
	if rec, _ := e.get("", k); string(rec.Value) != "n" {
		t.Errorf("after CAS: %q", rec.Value)
	}
	e.must(b.Append(ctx, "", e.key("app"), []byte("ab"), backend.Expiry{}, 0))
	e.must(b.Append(ctx, "", e.key("app"), []byte("\x00c"), backend.Expiry{}, 0))
	if rec, _ := e.get("", e.key("app")); string(rec.Value) != "ab\x00c" {
		t.Errorf("Append: %q", rec.Value)
	}
	wantErr(t, "Append keep_last", b.Append(ctx, "", e.key("app"), []byte("x"), backend.Expiry{}, 2), backend.ErrUnsupported)
}

func testNumbers(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	n, ok, err := b.Increment(ctx, "", e.key("n"), 5, backend.IncrementOptions{})
	e.must(err)
	if n != 5 || !ok {
		t.Errorf("Increment new = %d, %v", n, ok)
	}
	n, _, err = b.Increment(ctx, "", e.key("n"), -7, backend.IncrementOptions{})
	e.must(err)
	if n != -2 {
		t.Errorf("Increment = %d, want -2", n)
	}
	if rec, _ := e.get("", e.key("n")); !bytes.Equal(rec.Value, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}) {
		t.Errorf("stored counter %x, want 8 big-endian bytes", rec.Value)
	}
	initial := int64(10)
	n, _, err = b.Increment(ctx, "", e.key("m"), 1, backend.IncrementOptions{Initial: &initial})
	e.must(err)
	if n != 11 {
		t.Errorf("Increment with initial = %d, want 11", n)
	}
	_, ok, err = b.Increment(ctx, "", e.key("missing"), 1, backend.IncrementOptions{MustExist: true})
	e.must(err)
	if ok {
		t.Error("Increment MustExist of a missing record applied")
	}
	n, ok, err = b.Increment(ctx, "", e.key("m"), 1, backend.IncrementOptions{MustExist: true})
	e.must(err)
	if !ok || n != 12 {
		t.Errorf("Increment MustExist of an existing record = %d, %v", n, ok)
	}
	e.set("", "text", "abc", backend.Expiry{})
	_, _, err = b.Increment(ctx, "", e.key("text"), 1, backend.IncrementOptions{})
	wantErr(t, "Increment of text", err, backend.ErrIncompatible)

	f, ok, err := b.IncrementDouble(ctx, "", e.key("d"), 1.5, backend.IncrementDoubleOptions{})
	e.must(err)
	if f != 1.5 || !ok {
		t.Errorf("IncrementDouble = %v, %v", f, ok)
	}
	f, _, err = b.IncrementDouble(ctx, "", e.key("d"), -0.25, backend.IncrementDoubleOptions{})
	e.must(err)
	if f != 1.25 {
		t.Errorf("IncrementDouble = %v, want 1.25", f)
	}
	_, ok, err = b.IncrementDouble(ctx, "", e.key("nod"), 1, backend.IncrementDoubleOptions{MustExist: true})
	e.must(err)
	if ok {
		t.Error("IncrementDouble MustExist of a missing record applied")
	}
	_, _, err = b.IncrementDouble(ctx, "", e.key("text"), 1, backend.IncrementDoubleOptions{})
	wantErr(t, "IncrementDouble of text", err, backend.ErrIncompatible)
	// KT answers a missing record and a value of the wrong size alike when
	// the record must exist; only the former is "not applied".
	_, _, err = b.Increment(ctx, "", e.key("text"), 1, backend.IncrementOptions{MustExist: true})
	wantErr(t, "Increment MustExist of text", err, backend.ErrIncompatible)
	_, _, err = b.IncrementDouble(ctx, "", e.key("text"), 1, backend.IncrementDoubleOptions{MustExist: true})
	wantErr(t, "IncrementDouble MustExist of text", err, backend.ErrIncompatible)
	_, _, err = b.IncrementDouble(ctx, "", e.key("n"), 1, backend.IncrementDoubleOptions{MustExist: true})
	wantErr(t, "IncrementDouble MustExist of an integer", err, backend.ErrIncompatible)
	f, ok, err = b.IncrementDouble(ctx, "", e.key("d"), 1, backend.IncrementDoubleOptions{MustExist: true})
	e.must(err)
	if !ok || f != 2.25 {
		t.Errorf("IncrementDouble MustExist of an existing record = %v, %v", f, ok)
	}
}

func testMatch(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	for _, k := range []string{"apple", "applet", "apricot", "banana", "tab\tkey"} {
		e.set("%", k, "1", backend.Expiry{})
	}
	keys, err := b.MatchKeys(ctx, "%", backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("ap")}, 0)
	e.must(err)
	if got := strings.Join(trim(e, keys), ","); got != "apple,applet,apricot" {
		t.Errorf("prefix match on the tree = %s", got)
	}
	keys, err = b.MatchKeys(ctx, "%", backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("ap")}, 2)
	e.must(err)
	if len(keys) != 2 {
		t.Errorf("prefix match with limit 2 = %q", keys)
	}
	keys, err = b.MatchKeys(ctx, "%", backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("tab\t")}, 0)
	e.must(err)
	if got := strings.Join(trim(e, keys), ","); got != "tab\tkey" {
		t.Errorf("prefix match with a tab = %q", got)
	}
	keys, err = b.MatchKeys(ctx, "%", backend.Match{Kind: backend.MatchRegex, Regex: "^" + e.ns + "a.*t$"}, 0)
	e.must(err)
	if got := strings.Join(trim(e, keys), ","); got != "applet,apricot" {
		t.Errorf("regex match = %s", got)
	}
	_, err = b.MatchKeys(ctx, "%", backend.Match{Kind: backend.MatchRegex, Regex: "["}, 0)
	wantErr(t, "bad regex", err, backend.ErrInvalid)
	keys, err = b.MatchKeys(ctx, "%", backend.Match{Kind: backend.MatchSimilar, Origin: e.key("applee"), MaxDistance: 1}, 0)
	e.must(err)
	if got := strings.Join(trim(e, keys), ","); got != "apple,applet" {
		t.Errorf("similar match = %s", got)
	}
}

// trim removes the test's prefix from keys.
func trim(e *suiteEnv, keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(string(k), e.ns)
	}
	return out
}

func testCursorTree(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		e.set("%", k, "v"+k, backend.Expiry{})
	}
	cur, err := b.OpenCursor(ctx, "%") // by name
	e.must(err)
	defer cur.Close()
	ok, err := cur.Jump(ctx, e.key(""))
	e.must(err)
	if !ok {
		t.Fatal("Jump to the prefix found nothing")
	}
	var walked []string
	for range 5 {
		rec, ok, err := cur.Get(ctx, true)
		e.must(err)
		if !ok {
			break
		}
		walked = append(walked, strings.TrimPrefix(string(rec.Key), e.ns)+"="+string(rec.Value))
	}
	if got := strings.Join(walked, ","); got != "a=va,b=vb,c=vc,d=vd,e=ve" {
		t.Errorf("forward walk = %s", got)
	}
	// Backwards from e, with set_value, remove and seize on the way.
	ok, err = cur.JumpBack(ctx, e.key("e"))
	e.must(err)
	key, _, err := cur.GetKey(ctx, false)
	e.must(err)
	if !ok || string(key) != e.ns+"e" {
		t.Fatalf("JumpBack(e) at %q, ok=%v", key, ok)
	}
	at := time.Unix(4102444800, 0)
	ok, err = cur.StepBack(ctx)
	e.must(err)
	if !ok {
		t.Fatal("StepBack from e failed")
	}
	ok, err = cur.SetValue(ctx, []byte("new\x00d"), backend.Expiry{At: at}, false)
	e.must(err)
	rec, _, err := cur.Get(ctx, false)
	e.must(err)
	if !ok || string(rec.Key) != e.ns+"d" || string(rec.Value) != "new\x00d" || !rec.ExpireTime.Equal(at) {
		t.Errorf("after SetValue: %q=%q expires %v", rec.Key, rec.Value, rec.ExpireTime)
	}
	ok, err = cur.JumpBack(ctx, e.key("bb")) // between b and c: lands on b
	e.must(err)
	value, _, err := cur.GetValue(ctx, false)
	e.must(err)
	if !ok || string(value) != "vb" {
		t.Errorf("JumpBack(bb) value %q", value)
	}
	// A tree cursor keeps the direction of its last move: after JumpBack,
	// Remove moves to the previous record.
	ok, err = cur.Remove(ctx) // removes b, moves back to a
	e.must(err)
	if !ok {
		t.Error("Remove failed")
	}
	key, _, err = cur.GetKey(ctx, false)
	e.must(err)
	if string(key) != e.ns+"a" {
		t.Errorf("after Remove following JumpBack the cursor is at %q, want a", key)
	}
	ok, err = cur.Step(ctx) // forward again: c follows a now
	e.must(err)
	if !ok {
		t.Error("Step from a failed")
	}
	seized, ok, err := cur.Seize(ctx) // seizes c, moves on to d
	e.must(err)
	if !ok || string(seized.Key) != e.ns+"c" || string(seized.Value) != "vc" {
		t.Errorf("Seize = %q=%q ok=%v", seized.Key, seized.Value, ok)
	}
	key, _, err = cur.GetKey(ctx, false)
	e.must(err)
	if string(key) != e.ns+"d" {
		t.Errorf("after Seize the cursor is at %q, want d", key)
	}
	ok, err = cur.StepBack(ctx)
	e.must(err)
	key, _, err = cur.GetKey(ctx, false)
	e.must(err)
	if !ok || string(key) != e.ns+"a" {
		t.Errorf("StepBack from d at %q (b and c are gone)", key)
	}
	recs, err := b.GetBulk(ctx, "%", [][]byte{e.key("a"), e.key("b"), e.key("c"), e.key("d"), e.key("e")}, false)
	e.must(err)
	if len(recs) != 3 {
		t.Errorf("records left: %q", recs)
	}
	ok, err = cur.Jump(ctx, e.key("zz"))
	e.must(err)
	if ok {
		// Only a real server can hold later keys of other tests.
		key, _, _ := cur.GetKey(ctx, false)
		if bytes.HasPrefix(key, []byte(e.ns)) {
			t.Errorf("Jump past the prefix landed on %q", key)
		}
	}
	e.must(cur.Close())
	_, _, err = cur.Get(ctx, false)
	wantErr(t, "Get after Close", err, backend.ErrInvalid)
}

func testCursorHash(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	e.set("", "h", "1", backend.Expiry{})
	cur, err := b.OpenCursor(ctx, "*")
	e.must(err)
	defer cur.Close()
	_, err = cur.JumpBack(ctx, nil)
	wantErr(t, "JumpBack on a hash database", err, backend.ErrUnsupported)
	ok, err := cur.Jump(ctx, nil)
	e.must(err)
	if !ok {
		t.Fatal("Jump on a non-empty hash database found nothing")
	}
	_, err = cur.StepBack(ctx)
	wantErr(t, "StepBack on a hash database", err, backend.ErrUnsupported)
	// A hash database finds a key only by its hash: a jump to a missing
	// key fails and leaves the cursor unpositioned, rather than landing on
	// a neighbour (a parked scan's re-entry relies on it).
	if ok, err := cur.Jump(ctx, e.key("missing")); err != nil || ok {
		t.Errorf("Jump to a missing key on a hash database = %v, %v; want false", ok, err)
	}
	if k, ok, err := cur.GetKey(ctx, false); err != nil || ok {
		t.Errorf("GetKey after a failed Jump = %q, %v, %v; want no record", k, ok, err)
	}
	if ok, err := cur.Jump(ctx, e.key("h")); err != nil || !ok {
		t.Fatalf("Jump to a present key on a hash database = %v, %v; want true", ok, err)
	}
	// The cursor survives the refusals.
	if _, ok, err := cur.GetKey(ctx, false); err != nil || !ok {
		t.Errorf("GetKey after the refusals: %v %v", ok, err)
	}
}

func testScan(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	letters := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, k := range letters {
		e.set("%", "p/"+k, k, backend.Expiry{})
		e.set("", "p/"+k, k, backend.Expiry{})
	}
	e.set("%", "q", "q", backend.Expiry{})
	scan := func(db string, opts backend.ScanOptions) (keys string, batches []int, err error) {
		var got []string
		err = b.Scan(ctx, db, opts, func(recs []backend.Record) error {
			batches = append(batches, len(recs))
			for _, r := range recs {
				if opts.KeysOnly && r.Value != nil {
					return fmt.Errorf("keys-only scan returned value %q", r.Value)
				}
				if !opts.KeysOnly && string(r.Value) != strings.TrimPrefix(string(r.Key), e.ns+"p/") {
					return fmt.Errorf("record %q has value %q", r.Key, r.Value)
				}
				got = append(got, strings.TrimPrefix(string(r.Key), e.ns+"p/"))
			}
			return nil
		})
		return strings.Join(got, ""), batches, err
	}
	prefix := e.key("p/")
	for _, tc := range []struct {
		name    string
		opts    backend.ScanOptions
		want    string
		batches []int
	}{
		{"prefix", backend.ScanOptions{Prefix: prefix}, "abcdefg", []int{7}},
		{"batches", backend.ScanOptions{Prefix: prefix, BatchSize: 3}, "abcdefg", []int{3, 3, 1}},
		{"range", backend.ScanOptions{Start: e.key("p/b"), End: e.key("p/e")}, "bcd", nil},
		{"range and prefix", backend.ScanOptions{Start: e.key("p/c"), Prefix: prefix}, "cdefg", nil},
		{"limit", backend.ScanOptions{Prefix: prefix, Limit: 2, KeysOnly: true}, "ab", nil},
		{"reverse", backend.ScanOptions{Prefix: prefix, Reverse: true, BatchSize: 4}, "gfedcba", []int{4, 3}},
		{"reverse range", backend.ScanOptions{Start: e.key("p/b"), End: e.key("p/e"), Reverse: true}, "dcb", nil},
		{"reverse limit", backend.ScanOptions{Prefix: prefix, Reverse: true, Limit: 3, KeysOnly: true}, "gfe", nil},
		{"empty", backend.ScanOptions{Prefix: e.key("p/zz")}, "", nil},
	} {
		got, batches, err := scan("%", tc.opts)
		e.must(err)
		if got != tc.want || tc.batches != nil && !slices.Equal(batches, tc.batches) {
			t.Errorf("%s: keys %q in batches %v, want %q in %v", tc.name, got, batches, tc.want, tc.batches)
		}
	}
	// On the hash database the order is the server's; the filter still
	// applies.
	got, _, err := scan("", backend.ScanOptions{Prefix: prefix, Start: e.key("p/b"), End: e.key("p/g")})
	e.must(err)
	sorted := []byte(got)
	slices.Sort(sorted)
	if string(sorted) != "bcdef" {
		t.Errorf("hash scan = %q, want b..f in any order", got)
	}
	_, _, err = scan("", backend.ScanOptions{Reverse: true})
	wantErr(t, "reverse scan of a hash database", err, backend.ErrUnsupported)
	stop := errors.New("stop")
	err = b.Scan(ctx, "%", backend.ScanOptions{Prefix: prefix, BatchSize: 1}, func([]backend.Record) error { return stop })
	if err != stop {
		t.Errorf("Scan returned %v, want the callback's error", err)
	}

	// An ordered scan holds no connection while its caller takes a batch:
	// on pool=1 the caller can make calls of its own meanwhile, and changes
	// made between batches are seen as a new scan from the last key would.
	one := e.open(e.tg.addr, "pool=1&timeout=5s")
	for _, reverse := range []bool{false, true} {
		var got []string
		first := true
		added := "p/bx" // forward: after b, the last of the first batch
		if reverse {
			added = "p/ex" // reverse: before f
		}
		err := one.Scan(ctx, "%", backend.ScanOptions{Prefix: prefix, BatchSize: 2, Reverse: reverse}, func(recs []backend.Record) error {
			if st := one.PoolStats(); st.InUse != 0 {
				return fmt.Errorf("the scan holds a connection while its caller takes a batch: %+v", st)
			}
			for _, r := range recs {
				got = append(got, strings.TrimPrefix(string(r.Key), e.ns+"p/"))
			}
			if first {
				first = false
				// Remove the last key handed over, and add one that the
				// rest of the walk passes.
				if _, err := one.Remove(ctx, "%", recs[len(recs)-1].Key); err != nil {
					return err
				}
				if err := one.Set(ctx, "%", e.key(added), []byte("x"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		e.must(err)
		want := "a b bx c d e f g"
		if reverse {
			want = "g f ex e d c b a"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("reverse=%v: scan across changes = %q, want %q", reverse, strings.Join(got, " "), want)
		}
		// Restore the records for the next pass.
		if reverse {
			e.must(one.Set(ctx, "%", e.key("p/f"), []byte("f"), backend.Expiry{}, backend.WriteOptions{}))
			_, err = one.Remove(ctx, "%", e.key("p/ex"))
		} else {
			e.must(one.Set(ctx, "%", e.key("p/b"), []byte("b"), backend.Expiry{}, backend.WriteOptions{}))
			_, err = one.Remove(ctx, "%", e.key("p/bx"))
		}
		e.must(err)
	}
}

func testScript(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	args := []backend.Pair{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("a\x00\t"), Value: []byte("\xff\n")}}
	out, ok, err := b.CallScript(ctx, "echo", args, backend.LockNone)
	e.must(err)
	if !ok || len(out) != 2 || string(out[0].Key) != "a\x00\t" || string(out[0].Value) != "\xff\n" || string(out[1].Key) != "b" {
		t.Errorf("echo = %q, %v", out, ok)
	}
	_, ok, err = b.CallScript(ctx, "fail", nil, backend.LockNone)
	e.must(err)
	if ok {
		t.Error("fail succeeded")
	}
	_, _, err = b.CallScript(ctx, "invalid", nil, backend.LockNone)
	wantErr(t, "invalid", err, backend.ErrInvalid)
	_, _, err = b.CallScript(ctx, "internal", nil, backend.LockNone)
	wantErr(t, "internal", err, backend.ErrFailed)
	_, _, err = b.CallScript(ctx, "nosuch", nil, backend.LockNone)
	wantErr(t, "unknown procedure", err, backend.ErrNotFound)
	_, _, err = b.CallScript(ctx, "", nil, backend.LockNone)
	wantErr(t, "empty name", err, backend.ErrInvalid)
	// Names RPC refuses go through the binary protocol, which keeps the
	// connection after a failure.
	before := b.PoolStats()
	_, _, err = b.CallScript(ctx, "no_such.proc", nil, backend.LockNone)
	wantErr(t, "binary unknown procedure", err, backend.ErrFailed)
	if err != nil && !strings.Contains(err.Error(), "no_such.proc") {
		t.Errorf("the binary failure does not name the procedure: %v", err)
	}
	if after := b.PoolStats(); after.Discards != before.Discards {
		t.Errorf("a script failure discarded the connection: %+v -> %+v", before, after)
	}
	_, ok, err = b.CallScript(ctx, "put", []backend.Pair{{Key: []byte("key"), Value: e.key("via-lua")}, {Key: []byte("value"), Value: []byte("lua")}}, backend.LockNone)
	e.must(err)
	if rec, found := e.get("", e.key("via-lua")); !ok || !found || string(rec.Value) != "lua" {
		t.Errorf("put: ok=%v stored %q", ok, rec.Value)
	}
}

func testDatabases(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	dbs, err := b.Databases(ctx)
	e.must(err)
	if len(dbs) < 2 || dbs[0].Name != "*" || dbs[0].Kind != "hash" || dbs[1].Name != "%" || dbs[1].Kind != "tree" || !dbs[1].Healthy || dbs[1].Backend != b.Name() {
		t.Errorf("Databases = %+v", dbs)
	}
	e.set("%", "s", "1", backend.Expiry{})
	byName, err := b.Status(ctx, "%")
	e.must(err)
	byIndex, err := b.Status(ctx, "1")
	e.must(err)
	if byName.Count < 1 || byName.Fields["path"] != "%" || byIndex.Fields["path"] != "%" {
		t.Errorf("Status: %+v / %+v", byName, byIndex)
	}
	_, err = b.Status(ctx, "nope")
	wantErr(t, "unknown database name", err, backend.ErrInvalid)
	_, _, err = b.Get(ctx, "9", []byte("k"))
	wantErr(t, "database index out of range", err, backend.ErrInvalid)
	report, err := b.Report(ctx)
	e.must(err)
	if !strings.Contains(report["db_1"], "path=%") {
		t.Errorf("report db_1 = %q", report["db_1"])
	}
	e.must(b.Ping(ctx))
}

// collector gathers a subscription's updates for a test.
type collector struct {
	updates chan backend.Update
}

func subscribe(e *suiteEnv, b *Backend, opts backend.SubscribeOptions) (*collector, func() error) {
	ctx, cancel := context.WithCancel(e.ctx)
	c := &collector{updates: make(chan backend.Update, 1024)}
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, opts, func(u backend.Update) error {
			select {
			case c.updates <- u:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	e.t.Cleanup(func() { _ = stop() })
	return c, stop
}

// ready waits for the first update, which proves the stream is open.
func (c *collector) ready(e *suiteEnv) backend.Update {
	e.t.Helper()
	select {
	case u := <-c.updates:
		return u
	case <-e.ctx.Done():
		e.t.Fatal("no update from the subscription")
	}
	return backend.Update{}
}

// events waits for n events, checking that positions never go back.
func (c *collector) events(e *suiteEnv, n int, last *uint64) []*backend.Event {
	e.t.Helper()
	var evs []*backend.Event
	for len(evs) < n {
		select {
		case u := <-c.updates:
			if u.Position < *last {
				e.t.Errorf("position went back from %d to %d", *last, u.Position)
			}
			*last = u.Position
			if u.Event != nil {
				if u.Event.Position != u.Position {
					e.t.Errorf("event at %d delivered with position %d", u.Event.Position, u.Position)
				}
				evs = append(evs, u.Event)
			}
		case <-e.ctx.Done():
			e.t.Fatalf("got %d of %d events", len(evs), n)
		}
	}
	return evs
}

func describe(e *suiteEnv, evs []*backend.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, fmt.Sprintf("%s %s %s=%s", ev.DB, ev.Command, strings.TrimPrefix(string(ev.Key), e.ns), ev.Value))
	}
	return strings.Join(s, "; ")
}

func testReplication(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	at := time.Unix(4102444800, 0)
	c, stop := subscribe(e, b, backend.SubscribeOptions{Now: true, Filter: backend.Filter{KeyPrefix: []byte(e.ns)}})
	var pos uint64
	c.ready(e)
	e.set("", "k1", "v\x001", backend.Expiry{})
	e.set("%", "k2", "v2", backend.Expiry{At: at})
	_, err := b.Remove(ctx, "", e.key("k1"))
	e.must(err)
	evs := c.events(e, 3, &pos)
	if got, want := describe(e, evs), "0 set k1=v\x001; 1 set k2=v2; 0 remove k1="; got != want {
		t.Fatalf("events: %q, want %q", got, want)
	}
	if evs[0].Op != backend.OpSet || evs[2].Op != backend.OpRemove || !evs[1].ExpireTime.Equal(at) || !evs[0].ExpireTime.IsZero() {
		t.Errorf("ops/expirations: %+v", evs)
	}
	if evs[0].OriginSID == 0 || len(evs[0].Raw) == 0 || !bytes.HasSuffix(evs[0].Raw, []byte("v\x001")) {
		t.Errorf("origin %d raw %x", evs[0].OriginSID, evs[0].Raw)
	}
	wantErr(t, "stopped subscription", stop(), context.Canceled)

	// Resuming is exclusive: after the first event, the second comes next.
	c, stop = subscribe(e, b, backend.SubscribeOptions{After: evs[0].Position, Filter: backend.Filter{KeyPrefix: []byte(e.ns)}})
	pos = evs[0].Position
	resumed := c.events(e, 2, &pos)
	if resumed[0].Position != evs[1].Position || resumed[1].Position != evs[2].Position {
		t.Errorf("resumed at %d,%d; want %d,%d", resumed[0].Position, resumed[1].Position, evs[1].Position, evs[2].Position)
	}
	wantErr(t, "stopped subscription", stop(), context.Canceled)

	// Database filters accept names.
	c, stop = subscribe(e, b, backend.SubscribeOptions{After: evs[0].Position - 1, Filter: backend.Filter{KeyPrefix: []byte(e.ns), DBs: []string{"%"}}})
	pos = 0
	if got := describe(e, c.events(e, 1, &pos)); got != "1 set k2=v2" {
		t.Errorf("filtered by database %%: %q", got)
	}
	wantErr(t, "stopped subscription", stop(), context.Canceled)
	err = b.Subscribe(ctx, backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{"nope"}}}, func(backend.Update) error { return nil })
	wantErr(t, "subscribe to an unknown database", err, backend.ErrInvalid)
}

func testReplicationBreak(e *suiteEnv) {
	t := e.t
	p := faultproxy.Start(t, e.tg.addr)
	b := e.open(p.Addr(), "backoff=1ms&max_backoff=20ms")
	c, stop := subscribe(e, b, backend.SubscribeOptions{Now: true, Filter: backend.Filter{KeyPrefix: []byte(e.ns)}})
	c.ready(e)
	var pos uint64
	e.set("", "r1", "1", backend.Expiry{})
	first := c.events(e, 1, &pos)
	accepted := p.Accepted()
	p.DropAll() // the stream and every pooled connection break
	e.set("", "r2", "2", backend.Expiry{})
	e.set("", "r3", "3", backend.Expiry{})
	rest := c.events(e, 2, &pos)
	if got := describe(e, append(first, rest...)); got != "0 set r1=1; 0 set r2=2; 0 set r3=3" {
		t.Errorf("events across the break: %q", got)
	}
	if p.Accepted() <= accepted {
		t.Error("the stream did not reconnect")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe after cancel = %v, want context.Canceled", err)
	}
}

func testKilledMidRequest(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	p := faultproxy.Start(t, e.tg.addr)
	b := e.open(p.Addr(), "")
	_, _, err := b.Increment(ctx, "", e.key("n"), 1, backend.IncrementOptions{})
	e.must(err)
	f := p.Arm(faultproxy.Kill, nil, 0)
	_, _, err = b.Increment(ctx, "", e.key("n"), 1, backend.IncrementOptions{})
	<-f.Hit
	wantErr(t, "Increment on a killed connection", err, backend.ErrUnavailable)
	if !bytes.Contains(f.Request, []byte("/rpc/increment")) {
		t.Errorf("the fault caught %q", f.Request)
	}
	// Not retried, and the next call recovers on a new connection.
	n, _, err := b.Increment(ctx, "", e.key("n"), 1, backend.IncrementOptions{})
	e.must(err)
	if n != 2 {
		t.Errorf("counter = %d, want 2: the killed increment must not be retried", n)
	}
	if s := b.PoolStats(); s.Discards != 1 || s.Open != 1 || s.Dials != 2 {
		t.Errorf("stats after the kill: %+v", s)
	}
}

func testStaleRetry(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	p := faultproxy.Start(t, e.tg.addr)
	b := e.open(p.Addr(), "")
	e.set("", "k", "v", backend.Expiry{})
	if _, ok, err := b.Get(ctx, "", e.key("k")); err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	// The pooled connection dies before the reply: a read is sent again.
	f := p.Arm(faultproxy.Kill, nil, 0)
	rec, ok, err := b.Get(ctx, "", e.key("k"))
	<-f.Hit
	if err != nil || !ok || string(rec.Value) != "v" {
		t.Errorf("Get over a stale connection: %q %v %v", rec.Value, ok, err)
	}
	// Connections the server dropped while idle are noticed before use.
	p.DropAll()
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping after the server dropped the idle connections: %v", err)
	}
	if s := b.PoolStats(); s.Discards != 2 || s.Open != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func testCancelMidReply(e *suiteEnv) {
	t := e.t
	p := faultproxy.Start(t, e.tg.addr)
	b := e.open(p.Addr(), "")
	e.must(b.Ping(e.ctx))
	f := p.Arm(faultproxy.Swallow, nil, 0)
	ctx, cancel := context.WithCancel(e.ctx)
	go func() {
		<-f.Hit
		cancel()
	}()
	_, _, err := b.Get(ctx, "", e.key("k"))
	wantErr(t, "Get cancelled mid-request", err, context.Canceled)
	// A deadline that passes while the server is silent is a timeout.
	p.Arm(faultproxy.Swallow, nil, 0)
	dctx, dcancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer dcancel()
	_, _, err = b.Get(dctx, "", e.key("k"))
	wantErr(t, "Get past its deadline", err, backend.ErrTimeout)
	wantErr(t, "Get past its deadline", err, context.DeadlineExceeded)
	// Nothing of either reply came: the connections wait for their late
	// replies, which a dead connection never brings.
	p.DropAll()
	b.pool.WaitRecovering()
	if s := b.PoolStats(); s.Discards != 2 || s.InUse != 0 || s.Open != 0 || s.Recovered != 0 {
		t.Errorf("connections whose late reply never came must be discarded: %+v", s)
	}
	e.must(b.Ping(e.ctx))
}

// A call whose deadline passes before the server answers leaves its
// connection in step: the late reply is read in the background and the
// connection kept, so that short deadlines do not churn connections.
func testLateReplyKeepsConnection(e *suiteEnv) {
	t := e.t
	p := faultproxy.Start(t, e.tg.addr)
	b := e.open(p.Addr(), "pool=1")
	e.must(b.Ping(e.ctx))
	e.must(b.Set(e.ctx, "", e.key("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
	p.SetDelay(50 * time.Millisecond)
	for _, call := range []func(ctx context.Context) error{
		func(ctx context.Context) error { _, _, err := b.Get(ctx, "", e.key("k")); return err },
		func(ctx context.Context) error { _, _, err := b.Check(ctx, "", e.key("k")); return err },
		func(ctx context.Context) error {
			_, err := b.GetBulk(ctx, "", [][]byte{e.key("k")}, false)
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Millisecond)
		err := call(ctx)
		cancel()
		wantErr(t, "a call past its deadline", err, backend.ErrTimeout)
		b.pool.WaitRecovering()
	}
	p.SetDelay(0)
	if rec, ok, err := b.Get(e.ctx, "", e.key("k")); err != nil || !ok || string(rec.Value) != "v" {
		t.Errorf("Get after the late replies: %q %v %v", rec.Value, ok, err)
	}
	if s := b.PoolStats(); s.Dials != 1 || s.Discards != 0 || s.Recovered != 3 {
		t.Errorf("late replies: %+v; want one connection, kept three times", s)
	}
}

func testBinaryErrorReply(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	p := faultproxy.Start(t, e.tg.addr)
	b := e.open(p.Addr(), "")
	e.must(b.Ping(ctx))
	f := p.Arm(faultproxy.Reply, []byte{0xBF}, 0)
	err := b.Set(ctx, "", e.key("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{})
	<-f.Hit
	wantErr(t, "Set answered 0xBF", err, backend.ErrFailed)
	if f.Request[0] != 0xB8 {
		t.Errorf("Set sent %x, want a binary set_bulk", f.Request)
	}
	if s := b.PoolStats(); s.Discards != 1 || s.Open != 0 {
		t.Errorf("the connection after 0xBF must be discarded: %+v", s)
	}
	defer func() {
		if s := b.PoolStats(); s.Open != 1 || s.Dials != 2 {
			t.Errorf("no-reply writes must not cost connections: %+v", s)
		}
	}()
	e.must(b.Set(ctx, "", e.key("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
	// No-reply writes return at once and leave the connection usable; the
	// server answers requests on one connection in order, so the read on
	// the same (only) pooled connection sees the write.
	e.must(b.Set(ctx, "", e.key("nr"), []byte("x"), backend.Expiry{}, backend.WriteOptions{NoReply: true}))
	if rec, ok, err := b.Get(ctx, "", e.key("nr")); err != nil || !ok || string(rec.Value) != "x" {
		t.Errorf("no-reply Set: %q %v", rec.Value, ok)
	}
}

func testPoolBounded(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	b := e.open(e.tg.addr, "pool=2&cursors=2")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := e.key(fmt.Sprint(i % 4))
			if _, _, err := b.Increment(ctx, "", k, 1, backend.IncrementOptions{}); err != nil {
				errs <- err
			}
			if _, _, err := b.Get(ctx, "", k); err != nil {
				errs <- err
			}
			if s := b.PoolStats(); s.Open > 2 {
				errs <- fmt.Errorf("%d connections open with pool=2", s.Open)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := b.PoolStats()
	if s.InUse != 0 || s.Open > 2 || s.Dials > 2 || s.Discards != 0 {
		t.Errorf("after 40 calls on pool=2: %+v", s)
	}
	// Cursors hold connections of their own pool: with cursors=2 a third
	// fails at once, calls go on meanwhile, and Close makes room.
	c1, err := b.OpenCursor(ctx, "%")
	e.must(err)
	c2, err := b.OpenCursor(ctx, "%")
	e.must(err)
	_, err = b.OpenCursor(ctx, "%")
	wantErr(t, "a third cursor with cursors=2", err, backend.ErrExhausted)
	if err != nil && !strings.Contains(err.Error(), "cursors=2") {
		t.Errorf("the error does not name the cursors option: %v", err)
	}
	if _, _, err := b.Get(ctx, "", e.key("k")); err != nil {
		t.Errorf("Get while two cursors are open: %v", err)
	}
	if cs := b.CursorStats(); cs.InUse != 2 {
		t.Errorf("with two cursors open: cursor pool %+v", cs)
	}
	e.must(c1.Close())
	c3, err := b.OpenCursor(ctx, "%")
	e.must(err)
	_, err = c2.Jump(ctx, nil)
	e.must(err)
	e.must(c2.Close())
	e.must(c3.Close())
	s = b.PoolStats()
	cs := b.CursorStats()
	if s.InUse != 0 || s.Open > 2 || cs.InUse != 0 || cs.Open > 2 {
		t.Errorf("after the cursors: calls %+v, cursors %+v", s, cs)
	}
	if e.tg.kt != nil {
		// The server sees exactly the connections the pools keep (and no
		// others from this test's backend, which is the only client
		// besides the suite's own idle one).
		open := s.Open + cs.Open + e.b.PoolStats().Open + e.b.CursorStats().Open
		if err := e.tg.kt.WaitConnCount(ctx, open); err != nil {
			t.Error(err)
		}
	}
	e.must(b.Close())
	if s := b.PoolStats(); s.Open != 0 {
		t.Errorf("after Close: %+v", s)
	}
	_, _, err = b.Get(ctx, "", []byte("k"))
	wantErr(t, "Get after Close", err, backend.ErrUnavailable)
}

// A call without a deadline waits for a pooled connection no longer than the
// URL's timeout; an open cursor takes none of the call pool's connections.
func testPoolWaitBounded(e *suiteEnv) {
	t, ctx := e.t, e.ctx
	b := e.open(e.tg.addr, "pool=1&timeout=100ms")
	cur, err := b.OpenCursor(ctx, "%")
	e.must(err)
	defer cur.Close()
	if _, err := cur.Jump(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(context.Background(), "", e.key("k")); err != nil {
		t.Errorf("Get while a cursor is open on pool=1: %v", err)
	}
	held, err := b.pool.Get(ctx, false)
	e.must(err)
	done := make(chan error, 1)
	go func() {
		_, _, err := b.Get(context.Background(), "", e.key("k"))
		done <- err
	}()
	select {
	case err := <-done:
		wantErr(t, "Get while another call holds the only connection", err, backend.ErrTimeout)
		if err != nil && !strings.Contains(err.Error(), "timeout=100ms") {
			t.Errorf("the error does not name the timeout option: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Get without a deadline waited for a connection past the URL's timeout")
	}
	b.pool.Put(held)
	e.must(cur.Close())
	if _, _, err := b.Get(context.Background(), "", e.key("k")); err != nil {
		t.Errorf("Get once the connection is back: %v", err)
	}
}

func testMaintenance(e *suiteEnv) {
	t, ctx, b := e.t, e.ctx, e.b
	e.set("%", "m", "1", backend.Expiry{})
	e.must(b.Synchronize(ctx, "%", true, ""))
	err := b.Synchronize(ctx, "%", false, "../x")
	wantErr(t, "Synchronize with a bad command", err, backend.ErrFailed)
	e.must(b.Vacuum(ctx, "%", 0))
	e.must(b.Vacuum(ctx, "%", 1))
	wantErr(t, "Vacuum with negative steps", b.Vacuum(ctx, "%", -1), backend.ErrInvalid)
	files, err := b.ListUpdateLogs(ctx)
	e.must(err)
	if len(files) == 0 || files[0].Path == "" || files[0].MaxPosition == 0 {
		t.Errorf("ListUpdateLogs = %+v", files)
	}
	e.must(b.TuneReplication(ctx, "", 0, 0, 0))
	e.must(b.Clear(ctx, "%"))
	st, err := b.Status(ctx, "%")
	e.must(err)
	if st.Count != 0 {
		t.Errorf("count after Clear = %d", st.Count)
	}
}
