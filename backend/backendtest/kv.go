package backendtest

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// awkward are keys and values that break text protocols: NUL, 0xff, tab,
// newline, carriage return, and a long run of them.
var awkward = [][]byte{
	{0},
	{0xff},
	{0xff, 0xfe, 0},
	[]byte("tab\there"),
	[]byte("line\nbreak\r\n"),
	[]byte("a\x00b\tc\nd\xff"),
	bytes.Repeat([]byte{0, '\t', '\n', 0xff}, 64),
}

func testPing(e *env) {
	e.must(e.b.Ping(e.ctx))
	if e.b.Name() == "" {
		e.t.Error("Name() is empty; it should say the backend kind and address")
	}
}

func testBinary(e *env) {
	var entries []backend.Entry
	for i, v := range awkward {
		k := append(e.key("bin"), v...)
		e.set(k, v)
		e.wantValue(k, v)
		info, found, err := e.b.Check(e.ctx, e.db, k)
		e.must(err)
		if !found || info.ValueSize != int64(len(v)) {
			e.t.Errorf("Check(%q) = %+v, %v; want size %d", k, info, found, len(v))
		}
		entries = append(entries, backend.Entry{Key: append(e.key("bulk"), byte(i)), Value: v})
	}
	// A large value with every byte value survives both ways.
	large := make([]byte, 1<<20)
	for i := range large {
		large[i] = byte(i * 7)
	}
	e.set(e.key("large"), large)
	if r, found := e.get(e.key("large")); !found || !bytes.Equal(r.Value, large) {
		e.t.Errorf("a 1 MiB value did not read back intact (found %v, %d bytes)", found, len(r.Value))
	}
	if ok, err := e.b.Remove(e.ctx, e.db, e.key("large")); err != nil || !ok {
		e.t.Errorf("Remove of the large record = %v, %v", ok, err)
	}
	// An empty value is a value.
	e.set(e.key("empty"), []byte{})
	if r, found := e.get(e.key("empty")); !found || len(r.Value) != 0 {
		e.t.Errorf("empty value: found=%v value=%q", found, r.Value)
	}
	n, err := e.b.SetBulk(e.ctx, e.db, entries, backend.WriteOptions{})
	e.must(err)
	if n != int64(len(entries)) {
		e.t.Errorf("SetBulk stored %d, want %d", n, len(entries))
	}
	keys := make([][]byte, len(entries))
	for i, en := range entries {
		keys[i] = en.Key
	}
	recs, err := e.b.GetBulk(e.ctx, e.db, keys, false)
	e.must(err)
	got := map[string]string{}
	for _, r := range recs {
		got[string(r.Key)] = string(r.Value)
	}
	for _, en := range entries {
		if v, ok := got[string(en.Key)]; !ok || v != string(en.Value) {
			e.t.Errorf("GetBulk[%q] = %q (found %v), want %q", en.Key, v, ok, en.Value)
		}
	}
	// Keys with awkward bytes come back intact from a prefix match and a
	// scan.
	mk, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("bin")}, 0)
	e.must(err)
	if len(mk) != len(awkward) {
		e.t.Errorf("MatchKeys(prefix bin) found %d keys, want %d: %q", len(mk), len(awkward), mk)
	}
	for _, k := range mk {
		if r, found := e.get(k); !found || !bytes.Equal(r.Value, k[len(e.key("bin")):]) {
			e.t.Errorf("key %q from MatchKeys does not read back", k)
		}
	}
	scanned := scanKeys(e, backend.ScanOptions{Prefix: e.key("bin")})
	if len(scanned) != len(awkward) {
		e.t.Errorf("Scan(prefix bin) found %d keys, want %d", len(scanned), len(awkward))
	}
	removed, err := e.b.RemoveBulk(e.ctx, e.db, keys, false)
	e.must(err)
	if removed != int64(len(keys)) {
		e.t.Errorf("RemoveBulk removed %d, want %d", removed, len(keys))
	}
}

func testBulk(e *env) {
	var entries []backend.Entry
	var keys [][]byte
	for i := range 50 {
		k := e.key(string(rune('a'+i%26)) + string(rune('0'+i/26)))
		keys = append(keys, k)
		entries = append(entries, backend.Entry{Key: k, Value: bytes.Repeat([]byte{byte(i)}, i)})
	}
	n, err := e.b.SetBulk(e.ctx, e.db, entries, backend.WriteOptions{})
	e.must(err)
	if n != 50 {
		e.t.Errorf("SetBulk stored %d, want 50", n)
	}
	// Missing keys are left out of GetBulk's answer, not reported empty.
	recs, err := e.b.GetBulk(e.ctx, e.db, append(slices.Clone(keys[:3]), e.key("missing")), false)
	e.must(err)
	if len(recs) != 3 {
		e.t.Errorf("GetBulk of 3 present and 1 missing key returned %d records", len(recs))
	}
	n, err = e.b.RemoveBulk(e.ctx, e.db, append(slices.Clone(keys[:10]), e.key("missing")), false)
	e.must(err)
	if n != 10 {
		e.t.Errorf("RemoveBulk of 10 present and 1 missing key = %d, want 10", n)
	}
	st, err := e.b.Status(e.ctx, e.db)
	e.must(err)
	if st.Count != 40 {
		e.t.Errorf("Status count = %d, want 40", st.Count)
	}
	// With no_reply the count may not be known.
	n, err = e.b.SetBulk(e.ctx, e.db, entries[:1], backend.WriteOptions{NoReply: true})
	if err != nil || (n != 0 && n != 1) {
		e.t.Errorf("SetBulk no_reply of one record = %d, %v; want 0 or 1, nil", n, err)
	}
	// An empty batch stores nothing.
	n, err = e.b.SetBulk(e.ctx, e.db, nil, backend.WriteOptions{})
	if err != nil || n != 0 {
		e.t.Errorf("empty SetBulk = %d, %v", n, err)
	}
}

func testConditionNotMet(e *env) {
	k, missing := e.key("k"), e.key("missing")
	tt := e.caps.Family == TT
	ok, err := e.b.Add(e.ctx, e.db, k, []byte("1"), backend.Expiry{})
	e.wantBool("Add of a new key", ok, err, true)
	ok, err = e.b.Add(e.ctx, e.db, k, []byte("2"), backend.Expiry{})
	e.wantBool("Add of an existing key", ok, err, false)
	e.wantValue(k, []byte("1"))

	ok, err = e.b.Remove(e.ctx, e.db, missing)
	e.wantBool("Remove of a missing key", ok, err, false)
	_, found, err := e.b.Check(e.ctx, e.db, missing)
	e.wantBool("Check of a missing key", found, err, false)
	_, found, err = e.b.Get(e.ctx, e.db, missing)
	e.wantBool("Get of a missing key", found, err, false)

	if tt {
		_, err = atomicOf(e.b).Replace(e.ctx, e.db, k, []byte("r"), backend.Expiry{})
		e.wantErr("Replace on Tokyo Tyrant", err, backend.ErrUnsupported)
		_, _, err = atomicOf(e.b).Seize(e.ctx, e.db, k)
		e.wantErr("Seize on Tokyo Tyrant", err, backend.ErrUnsupported)
		_, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, k, []byte("1"), []byte("2"), backend.Expiry{})
		e.wantErr("CompareAndSwap on Tokyo Tyrant", err, backend.ErrUnsupported)
		_, _, err = e.b.Increment(e.ctx, e.db, missing, 1, backend.IncrementOptions{MustExist: true})
		e.wantErr("Increment must_exist on Tokyo Tyrant", err, backend.ErrUnsupported)
		return
	}
	ok, err = atomicOf(e.b).Replace(e.ctx, e.db, missing, []byte("r"), backend.Expiry{})
	e.wantBool("Replace of a missing key", ok, err, false)
	e.wantValue(missing, nil)
	ok, err = atomicOf(e.b).Replace(e.ctx, e.db, k, []byte("r"), backend.Expiry{})
	e.wantBool("Replace of an existing key", ok, err, true)
	e.wantValue(k, []byte("r"))

	ok, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, k, []byte("wrong"), []byte("x"), backend.Expiry{})
	e.wantBool("CompareAndSwap with the wrong old value", ok, err, false)
	e.wantValue(k, []byte("r"))
	ok, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, k, nil, []byte("x"), backend.Expiry{})
	e.wantBool("CompareAndSwap expecting no record on an existing key", ok, err, false)
	ok, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, missing, []byte("r"), []byte("x"), backend.Expiry{})
	e.wantBool("CompareAndSwap expecting a value on a missing key", ok, err, false)
	ok, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, k, []byte("r"), []byte("s"), backend.Expiry{})
	e.wantBool("CompareAndSwap with the right old value", ok, err, true)
	e.wantValue(k, []byte("s"))
	ok, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, k, []byte("s"), nil, backend.Expiry{})
	e.wantBool("CompareAndSwap to nothing", ok, err, true)
	e.wantValue(k, nil)
	ok, err = atomicOf(e.b).CompareAndSwap(e.ctx, e.db, k, nil, []byte("new"), backend.Expiry{})
	e.wantBool("CompareAndSwap creating a missing record", ok, err, true)

	_, found, err = atomicOf(e.b).Seize(e.ctx, e.db, missing)
	e.wantBool("Seize of a missing key", found, err, false)
	r, found, err := atomicOf(e.b).Seize(e.ctx, e.db, k)
	e.wantBool("Seize of an existing key", found, err, true)
	if string(r.Value) != "new" {
		e.t.Errorf("Seize returned %q, want %q", r.Value, "new")
	}
	e.wantValue(k, nil)

	_, ok, err = e.b.Increment(e.ctx, e.db, missing, 1, backend.IncrementOptions{MustExist: true})
	e.wantBool("Increment must_exist of a missing key", ok, err, false)
	_, ok, err = e.b.IncrementDouble(e.ctx, e.db, missing, 1, backend.IncrementDoubleOptions{MustExist: true})
	e.wantBool("IncrementDouble must_exist of a missing key", ok, err, false)
	e.wantValue(missing, nil)
}

func testExpiry(e *env) {
	k := e.key("exp")
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	err := e.b.Set(e.ctx, e.db, k, []byte("v"), backend.Expiry{At: future}, backend.WriteOptions{})
	if e.caps.Family == TT {
		e.wantErr("Set with an expiration on Tokyo Tyrant", err, backend.ErrUnsupported)
		return
	}
	e.must(err)
	r, found := e.get(k)
	if !found || !r.ExpireTime.Equal(future) {
		e.t.Errorf("Get after Set(At %v) = %v, found %v; want that expiration", future, r.ExpireTime, found)
	}
	info, found, err := e.b.Check(e.ctx, e.db, k)
	e.must(err)
	if !found || !info.ExpireTime.Equal(future) {
		e.t.Errorf("Check expiration = %v, want %v", info.ExpireTime, future)
	}
	// A TTL is resolved by the backend's clock, to the second.
	before := time.Now()
	e.must(e.b.Set(e.ctx, e.db, k, []byte("v"), backend.Expiry{TTL: time.Hour}, backend.WriteOptions{}))
	after := time.Now()
	r, _ = e.get(k)
	if r.ExpireTime.Before(before.Add(time.Hour-time.Second)) || r.ExpireTime.After(after.Add(time.Hour+time.Second)) {
		e.t.Errorf("Set(TTL 1h) expires at %v, want within a second of %v..%v", r.ExpireTime, before.Add(time.Hour), after.Add(time.Hour))
	}
	// A record whose time has passed is invisible to every read.
	past := time.Now().Add(-time.Hour)
	e.must(e.b.Set(e.ctx, e.db, k, []byte("v"), backend.Expiry{At: past}, backend.WriteOptions{}))
	e.wantValue(k, nil)
	if _, found, err := e.b.Check(e.ctx, e.db, k); err != nil || found {
		e.t.Errorf("Check of an expired record: found=%v err=%v", found, err)
	}
	if keys := scanKeys(e, backend.ScanOptions{Prefix: e.key("")}); len(keys) != 0 {
		e.t.Errorf("Scan sees expired records: %q", keys)
	}
	ok, err := e.b.Add(e.ctx, e.db, k, []byte("again"), backend.Expiry{})
	e.wantBool("Add over an expired record", ok, err, true)
	// Never expiring is the zero time.
	r, _ = e.get(k)
	if !r.ExpireTime.IsZero() {
		e.t.Errorf("record without expiration reports %v", r.ExpireTime)
	}
	e.must(e.b.Vacuum(e.ctx, e.db, 0))
}

func testNumbers(e *env) {
	k := e.key("n")
	v, ok, err := e.b.Increment(e.ctx, e.db, k, 5, backend.IncrementOptions{})
	if err != nil || !ok || v != 5 {
		e.t.Fatalf("Increment of a missing key = %d, %v, %v; want 5", v, ok, err)
	}
	v, ok, err = e.b.Increment(e.ctx, e.db, k, -7, backend.IncrementOptions{})
	if err != nil || !ok || v != -2 {
		e.t.Errorf("Increment by -7 = %d, %v, %v; want -2", v, ok, err)
	}
	r, _ := e.get(k)
	switch e.caps.Family {
	case KT:
		if len(r.Value) != 8 || int64(binary.BigEndian.Uint64(r.Value)) != -2 {
			e.t.Errorf("stored counter %x, want 8-byte big-endian -2", r.Value)
		}
		v, ok, err = e.b.Increment(e.ctx, e.db, e.key("init"), 1, backend.IncrementOptions{Initial: ptr(int64(10))})
		if err != nil || !ok || v != 11 {
			e.t.Errorf("Increment with initial 10 = %d, %v, %v; want 11", v, ok, err)
		}
	case TT:
		if len(r.Value) != 4 || int32(binary.LittleEndian.Uint32(r.Value)) != -2 {
			e.t.Errorf("stored counter %x, want 4-byte little-endian -2", r.Value)
		}
		_, _, err = e.b.Increment(e.ctx, e.db, e.key("big"), math.MaxInt32+1, backend.IncrementOptions{})
		e.wantErr("Increment beyond 32 bits on Tokyo Tyrant", err, backend.ErrInvalid)
	}
	// A value that is not a counter cannot be incremented.
	e.set(e.key("text"), []byte("abc"))
	_, _, err = e.b.Increment(e.ctx, e.db, e.key("text"), 1, backend.IncrementOptions{})
	e.wantErr("Increment of a 3-byte value", err, backend.ErrIncompatible)

	d := e.key("d")
	f, ok, err := e.b.IncrementDouble(e.ctx, e.db, d, 1.5, backend.IncrementDoubleOptions{})
	if err != nil || !ok || f != 1.5 {
		e.t.Errorf("IncrementDouble 1.5 = %v, %v, %v", f, ok, err)
	}
	f, ok, err = e.b.IncrementDouble(e.ctx, e.db, d, -0.25, backend.IncrementDoubleOptions{})
	if err != nil || !ok || f != 1.25 {
		e.t.Errorf("IncrementDouble -0.25 = %v, %v, %v; want 1.25", f, ok, err)
	}
	r, _ = e.get(d)
	want := map[Family]int{KT: 16, TT: 8}[e.caps.Family]
	if len(r.Value) != want {
		e.t.Errorf("stored double is %d bytes, want %d", len(r.Value), want)
	}
	if e.caps.Family == TT && math.Float64frombits(binary.LittleEndian.Uint64(r.Value)) != 1.25 {
		e.t.Errorf("stored double %x, want little-endian 1.25", r.Value)
	}

	// Append creates, then appends.
	a := e.key("app")
	e.must(e.b.Append(e.ctx, e.db, a, []byte("ab"), backend.Expiry{}, 0))
	e.must(e.b.Append(e.ctx, e.db, a, []byte("\x00c"), backend.Expiry{}, 0))
	e.wantValue(a, []byte("ab\x00c"))
	err = e.b.Append(e.ctx, e.db, a, []byte("d"), backend.Expiry{}, 3)
	if !e.caps.KeepLast {
		e.wantErr("Append with keep_last", err, backend.ErrUnsupported)
		return
	}
	e.must(err)
	e.wantValue(a, []byte("\x00cd"))
}

func ptr[T any](v T) *T { return &v }

func testMatch(e *env) {
	for _, k := range []string{"p/a", "p/b", "p/c", "q/a"} {
		e.set(e.key(k), []byte("v"))
	}
	keys, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("p/")}, 0)
	e.must(err)
	if len(keys) != 3 {
		e.t.Errorf("MatchKeys(prefix p/) = %q, want 3 keys", keys)
	}
	if e.caps.Ordered && !slices.IsSortedFunc(keys, bytes.Compare) {
		e.t.Errorf("prefix match on an ordered database is not in key order: %q", keys)
	}
	keys, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("none/")}, 0)
	if err != nil || len(keys) != 0 {
		e.t.Errorf("MatchKeys with no match = %q, %v", keys, err)
	}
	re := backend.Match{Kind: backend.MatchRegex, Regex: "/p/[ab]$"}
	sim := backend.Match{Kind: backend.MatchSimilar, Origin: e.key("p/x"), MaxDistance: 1}
	if e.caps.Family == TT {
		_, err = e.b.MatchKeys(e.ctx, e.db, re, 0)
		e.wantErr("regex on Tokyo Tyrant", err, backend.ErrUnsupported)
		_, err = e.b.MatchKeys(e.ctx, e.db, sim, 0)
		e.wantErr("similar on Tokyo Tyrant", err, backend.ErrUnsupported)
		return
	}
	keys, err = e.b.MatchKeys(e.ctx, e.db, re, 0)
	e.must(err)
	if len(keys) != 2 {
		e.t.Errorf("MatchKeys(regex %q) = %q, want 2 keys", re.Regex, keys)
	}
	_, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchRegex, Regex: "(unclosed"}, 0)
	e.wantErr("a regex that does not compile", err, backend.ErrInvalid)
	keys, err = e.b.MatchKeys(e.ctx, e.db, sim, 0)
	e.must(err)
	// p/a, p/b and p/c are one substitution from p/x; q/a is two edits.
	if len(keys) != 3 {
		e.t.Errorf("MatchKeys(similar %q, 1) = %q, want the 3 p/ keys", sim.Origin, keys)
	}
	sim.Origin, sim.MaxDistance = e.key("q/a"), 0
	keys, err = e.b.MatchKeys(e.ctx, e.db, sim, 0)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0], e.key("q/a")) {
		e.t.Errorf("MatchKeys(similar, distance 0) = %q, %v; want the origin only", keys, err)
	}
}

func testLimits(e *env) {
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		e.set(e.key(k), []byte(k))
	}
	keys, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("")}, 2)
	e.must(err)
	if len(keys) != 2 {
		e.t.Errorf("MatchKeys limit 2 returned %d keys", len(keys))
	}
	if got := scanKeys(e, backend.ScanOptions{Prefix: e.key(""), Limit: 3}); len(got) != 3 {
		e.t.Errorf("Scan limit 3 returned %d keys", len(got))
	}
	batches := 0
	err = e.b.Scan(e.ctx, e.db, backend.ScanOptions{Prefix: e.key(""), BatchSize: 2}, func(batch []backend.Record) error {
		batches++
		if len(batch) > 2 {
			e.t.Errorf("batch of %d records with batch size 2", len(batch))
		}
		return nil
	})
	e.must(err)
	if batches < 3 {
		e.t.Errorf("5 records in batches of 2 came in %d batches", batches)
	}
	_, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchPrefix, Prefix: e.key("")}, -1)
	e.wantErr("MatchKeys with a negative limit", err, backend.ErrInvalid)
	err = e.b.Scan(e.ctx, e.db, backend.ScanOptions{Limit: -1}, func([]backend.Record) error { return nil })
	e.wantErr("Scan with a negative limit", err, backend.ErrInvalid)
	err = e.b.Append(e.ctx, e.db, e.key("a"), []byte("x"), backend.Expiry{}, -1)
	e.wantErr("Append with a negative keep_last", err, backend.ErrInvalid)
	// An unknown database is a bad request, not a missing record.
	_, _, err = e.b.Get(e.ctx, "no-such-database", e.key("a"))
	e.wantErr("Get from an unknown database", err, backend.ErrInvalid)
}

// scanKeys returns the keys of a scan of the test database.
func scanKeys(e *env, o backend.ScanOptions) []string {
	e.t.Helper()
	var keys []string
	err := e.b.Scan(e.ctx, e.db, o, func(batch []backend.Record) error {
		for _, r := range batch {
			keys = append(keys, string(r.Key))
		}
		return nil
	})
	e.must(err)
	return keys
}

// atomicOf returns b's atomic calls, or Base's, which answer
// ErrUnsupported, for a backend without them: the suite checks what each
// backend answers, whether it lists CapAtomic or not.
func atomicOf(b backend.Backend) backend.Atomic {
	if a, ok := b.(backend.Atomic); ok {
		return a
	}
	return backend.Base{}
}
