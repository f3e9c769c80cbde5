// Package backendtest is a conformance suite for backend.Backend
// implementations, in the spirit of testing/fstest: a backend's own tests
// call Run with a way to open it and a description of what it supports, and
// the suite checks every method and optional interface against the
// behaviour of the real Kyoto Tycoon and Tokyo Tyrant servers, so that the
// embedded store, the adapters over the protocol test servers and the
// adapters over real servers are held to one standard.
//
// The package also holds Diff, a differential test that applies the same
// seeded random operations to two backends and compares their answers.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Family is the server a backend follows where Kyoto Tycoon and Tokyo
// Tyrant differ (number layouts, expiry, conditional writes).
type Family int

// The families.
const (
	// KT is Kyoto Tycoon's behaviour: the embedded store and the kt adapter.
	KT Family = iota + 1
	// TT is Tokyo Tyrant's behaviour: the tt adapter.
	TT
)

// Capabilities describe the backend under test: what it supports and which
// database the suite works in.
type Capabilities struct {
	// Family selects the expected behaviour where the servers differ.
	Family Family
	// DB is the database the suite writes to ("" is the default one).
	DB string
	// Ordered says DB keeps keys in order (a tree or B+ tree): reverse scans,
	// backward cursor moves and key-ordered results are checked.
	Ordered bool
	// Table says DB is a table database (Tokyo Tyrant's, or the embedded
	// store's Table kind): the Tabler checks run and the key/value checks
	// that a table cannot hold are left out.
	Table bool
	// Cursor says OpenCursor works on DB (Tokyo Tyrant needs a B+ tree).
	Cursor bool
	// KeepLast says Append honours keepLast (Tokyo Tyrant's putshl and the
	// embedded store; Kyoto Tycoon answers ErrUnsupported).
	KeepLast bool
	// Subscribe says the backend has an update log to follow.
	Subscribe bool
	// EchoScript names a procedure of the backend's Scripter that returns
	// its arguments unchanged; empty skips the script check.
	EchoScript string
	// RawPut, when set, stores a record in DB without going through the
	// backend, as another client of the same server would, and reports the
	// server's success status. Checks of what the backend guards against
	// need it to create the state the backend refuses to create.
	RawPut func(ctx context.Context, key, value []byte) (ok bool, err error)
}

// Open returns the backend to test. The suite clears DB before each test
// and leaves closing to t.Cleanup, which Open should register.
type Open func(t *testing.T) backend.Backend

// env is what one test of the suite works with.
type env struct {
	t    *testing.T
	ctx  context.Context
	b    backend.Backend
	caps Capabilities
	db   string
	ns   string
}

type test struct {
	name string
	fn   func(e *env)
	// when reports whether the test applies; nil means always.
	when func(c Capabilities) bool
}

func kvOnly(c Capabilities) bool { return !c.Table }
func ktOnly(c Capabilities) bool { return c.Family == KT && !c.Table }
func ttOnly(c Capabilities) bool { return c.Family == TT }

// Run runs the suite against the backend that open returns.
func Run(t *testing.T, open Open, caps Capabilities) {
	t.Helper()
	if caps.Family != KT && caps.Family != TT {
		t.Fatalf("backendtest: Capabilities.Family must be KT or TT, not %d", caps.Family)
	}
	run := time.Now().UnixNano()
	for _, tc := range tests() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.when != nil && !tc.when(caps) {
				t.Skipf("does not apply to this backend (%+v)", caps)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t.Cleanup(cancel)
			b := open(t)
			e := &env{t: t, ctx: ctx, b: b, caps: caps, db: caps.DB, ns: fmt.Sprintf("bt/%d/%s/", run, tc.name)}
			if err := b.Clear(ctx, caps.DB); err != nil {
				t.Fatalf("Clear(%q) before the test: %v", caps.DB, err)
			}
			if caps.Table {
				// Clearing keeps indexes; drop those the suite and Diff
				// create, so that each test starts without any.
				dropIndexes(t, ctx, b, caps.DB)
				t.Cleanup(func() { dropIndexes(t, context.Background(), b, caps.DB) })
			}
			tc.fn(e)
		})
	}
}

func tests() []test {
	return []test{
		{"Ping", testPing, nil},
		{"BinaryKeysAndValues", testBinary, kvOnly},
		{"Bulk", testBulk, kvOnly},
		{"ConditionNotMet", testConditionNotMet, kvOnly},
		{"Expiry", testExpiry, kvOnly},
		{"Numbers", testNumbers, kvOnly},
		{"MatchKeys", testMatch, kvOnly},
		{"Limits", testLimits, kvOnly},
		{"Scan", testScan, kvOnly},
		{"Cursor", testCursor, func(c Capabilities) bool { return c.Cursor && !c.Table }},
		{"Subscribe", testSubscribe, func(c Capabilities) bool { return c.Subscribe && !c.Table }},
		{"Admin", testAdmin, nil},
		{"CapabilitiesHonest", testCapabilitiesHonest, kvOnly},
		{"Script", testScript, func(c Capabilities) bool { return c.EchoScript != "" }},
		{"Table", testTable, func(c Capabilities) bool { return c.Table }},
		{"TableRefusesWithoutTable", testNoTable, func(c Capabilities) bool { return !c.Table }},
		// The divergences found against the real servers, one test each.
		{"KTRegexStopsAtNUL", testRegexNUL, ktOnly},
		{"KTRegexMatchesBytes", testRegexBytes, ktOnly},
		{"KTSimilarUTF8", testSimilarUTF8, ktOnly},
		{"KTIncrementDoubleBytes", testIncrementDoubleBytes, ktOnly},
		{"KTAtomicSetBulkRepeatedKey", testAtomicRepeated, ktOnly},
		{"AtomicSetBulkOneExpiry", testAtomicExpiry, kvOnly},
		{"KeysOnlyScanHasNoExpiry", testKeysOnlyExpiry, kvOnly},
		{"AppendKeepLastNewRecord", testKeepLastNew, kvOnly},
		{"TTIncrementFailureValue", testIncrementMinInt32, func(c Capabilities) bool { return ttOnly(c) && !c.Table }},
		{"TTTableEmptyValueGuard", testEmptyValueGuard, func(c Capabilities) bool { return ttOnly(c) && c.Table }},
		{"TTTableEmptyColumnName", testEmptyColumnName, func(c Capabilities) bool { return c.Table }},
		{"TTTableSearchNumbers", testTableNumbers, func(c Capabilities) bool { return c.Table }},
	}
}

// indexedColumns are the columns on which the suite and Diff create
// indexes.
var indexedColumns = []string{"name", "age", "n", "s", "text", "other", "city", "bin", "nothing"}

// dropIndexes removes every index on indexedColumns.
func dropIndexes(t *testing.T, ctx context.Context, b backend.Backend, db string) {
	t.Helper()
	tb, ok := feature[backend.Tabler](b, backend.CapTables)
	if !ok {
		return
	}
	for _, col := range indexedColumns {
		if _, err := tb.TableSetIndex(ctx, db, col, backend.IndexVoid, false); err != nil {
			t.Errorf("dropping the index of %q: %v", col, err)
		}
	}
}

// key returns a key under the test's namespace.
func (e *env) key(s string) []byte { return []byte(e.ns + s) }

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// wantErr checks that err wraps target.
func (e *env) wantErr(what string, err, target error) {
	e.t.Helper()
	if !errors.Is(err, target) {
		e.t.Errorf("%s: err = %v, want one wrapping %q", what, err, target)
	}
}

// wantBool checks a condition result.
func (e *env) wantBool(what string, got bool, err error, want bool) {
	e.t.Helper()
	if err != nil {
		e.t.Errorf("%s: %v", what, err)
		return
	}
	if got != want {
		e.t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// set stores a record that never expires.
func (e *env) set(key, value []byte) {
	e.t.Helper()
	e.must(e.b.Set(e.ctx, e.db, key, value, backend.Expiry{}, backend.WriteOptions{}))
}

// get reads a record, failing on an error.
func (e *env) get(key []byte) (backend.Record, bool) {
	e.t.Helper()
	r, found, err := e.b.Get(e.ctx, e.db, key)
	e.must(err)
	return r, found
}

// wantValue checks the stored value of key; nil means missing.
func (e *env) wantValue(key, want []byte) {
	e.t.Helper()
	r, found := e.get(key)
	switch {
	case want == nil && found:
		e.t.Errorf("Get(%q) found %q, want no record", key, r.Value)
	case want != nil && !found:
		e.t.Errorf("Get(%q) found nothing, want %q", key, want)
	case want != nil && string(r.Value) != string(want):
		e.t.Errorf("Get(%q) = %q, want %q", key, r.Value, want)
	}
}

// feature returns b as the feature interface T when b lists capability c,
// as the gateway finds it.
func feature[T any](b backend.Backend, c backend.Capability) (T, bool) {
	f, err := backend.Use[T](b, c, "backendtest")
	return f, err == nil
}
