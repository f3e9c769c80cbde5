package backendtest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// The tests in this file each pin one behaviour in which the embedded store
// or a protocol test server once differed from the real server. The real
// server's answer is the expected one, unless the API documents that
// ktgrpc deliberately does otherwise.

// Kyoto Tycoon matches regular expressions against keys as C strings: the
// expression sees a key only up to its first NUL byte.
func testRegexNUL(e *env) {
	k := append(e.key(""), "a\x00k1\t"...)
	e.set(k, []byte("v"))
	e.set(e.key("zz9"), []byte("v"))
	// The namespace has characters the class does not cover; match on
	// what follows it.
	re := "^" + regexQuote(e.ns) + "[a-k]+$"
	keys, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchRegex, Regex: re}, 0)
	e.must(err)
	if len(keys) != 1 || !bytes.Equal(keys[0], k) {
		e.t.Errorf("MatchKeys(regex %q) = %q, want the whole key %q: the expression stops at the NUL", re, keys, k)
	}
	// With a limit, the key cut at its NUL still counts (in key order, so
	// only on an ordered database).
	if !e.caps.Ordered {
		return
	}
	keys, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchRegex, Regex: "^" + regexQuote(e.ns) + "[a-z]+"}, 1)
	e.must(err)
	if len(keys) != 1 || !bytes.Equal(keys[0], k) {
		e.t.Errorf("MatchKeys(regex, limit 1) = %q, want %q", keys, k)
	}
}

// regexQuote escapes s for both RE2 and POSIX extended expressions.
func regexQuote(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$/`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Kyoto Tycoon decodes keys leniently in a UTF-8 similarity match: bytes
// 0xfe and 0xff are dropped, so "\xff\xff\tb\xff" reads as "\tb", one edit
// from "ab". The key is written by IncrementDouble, as in the recorded
// session.
func testSimilarUTF8(e *env) {
	k := []byte("\xff\xff\tb\xff")
	if _, _, err := e.b.IncrementDouble(e.ctx, e.db, k, 0.5, backend.IncrementDoubleOptions{}); err != nil {
		e.t.Fatal(err)
	}
	keys, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchSimilar, Origin: []byte("ab"), MaxDistance: 1, UTF8: true}, 0)
	e.must(err)
	if !slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
		e.t.Errorf("MatchKeys(similar \"ab\", 1, utf8) = %q, want it to include %q", keys, k)
	}
	// The origin is cut at its first NUL: "ab\x00zzz" is "ab".
	keys, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchSimilar, Origin: []byte("ab\x00zzzz"), MaxDistance: 1, UTF8: true}, 0)
	e.must(err)
	if !slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
		e.t.Errorf("MatchKeys(similar \"ab\\x00zzzz\", 1, utf8) = %q, want it to include %q", keys, k)
	}
	// Counted in bytes, the key is far from "ab".
	keys, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchSimilar, Origin: []byte("ab"), MaxDistance: 1}, 0)
	e.must(err)
	if slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
		e.t.Errorf("MatchKeys(similar \"ab\", 1, bytes) = %q, must not include %q", keys, k)
	}
	e.must(e.b.Clear(e.ctx, e.db))
}

// Kyoto Tycoon stores a double as an integer and a fraction part, each
// truncated and added on its own.
func testIncrementDoubleBytes(e *env) {
	for _, c := range []struct {
		name   string
		deltas []float64
		stored string
		value  float64
	}{
		// 1e-07 * 10^15 is just under 10^8 in extended precision.
		{"tiny", []float64{1e-07}, "0000000000000000" + "0000000005f5e0ff", 9.9999999e-08},
		// The parts keep their own signs.
		{"mixed", []float64{1.0, -0.125}, "0000000000000001" + "ffff8e502b673000", 0.875},
		{"carry", []float64{0.75, 0.5}, "0000000000000001" + "0000e35fa931a000", 1.25},
		// The server reads at most 16 significant digits of the amount.
		{"digits", []float64{123456.78901234568}, "000000000001e240" + "0002cd9a40953f0c", 123456.789012},
	} {
		k := e.key(c.name)
		var v float64
		for _, d := range c.deltas {
			var err error
			v, _, err = e.b.IncrementDouble(e.ctx, e.db, k, d, backend.IncrementDoubleOptions{})
			e.must(err)
		}
		// Kyoto Tycoon answers with six decimals ("%f").
		if math.Abs(v-c.value) > 5e-7 {
			e.t.Errorf("%s: IncrementDouble %v = %v, want %v", c.name, c.deltas, v, c.value)
		}
		r, _ := e.get(k)
		if hex.EncodeToString(r.Value) != c.stored {
			e.t.Errorf("%s: IncrementDouble %v stored %x, want %s", c.name, c.deltas, r.Value, c.stored)
		}
	}
}

// Kyoto Tycoon's atomic set_bulk takes its records as a map: a repeated key
// is stored once, with the last value, and counted once.
func testAtomicRepeated(e *env) {
	k := e.key("dup")
	n, err := e.b.SetBulk(e.ctx, e.db, []backend.Entry{
		{Key: k, Value: []byte("first")},
		{Key: e.key("other"), Value: []byte("o")},
		{Key: k, Value: []byte("last")},
	}, backend.WriteOptions{Atomic: true})
	e.must(err)
	if n != 2 {
		e.t.Errorf("atomic SetBulk with a repeated key stored %d, want 2", n)
	}
	e.wantValue(k, []byte("last"))
	// Without atomic every record is a write of its own.
	n, err = e.b.SetBulk(e.ctx, e.db, []backend.Entry{{Key: k, Value: []byte("a")}, {Key: k, Value: []byte("b")}}, backend.WriteOptions{})
	e.must(err)
	if n != 2 {
		e.t.Errorf("SetBulk with a repeated key stored %d, want 2", n)
	}
	e.wantValue(k, []byte("b"))
}

// An atomic bulk write takes one expiration for all its records, on every
// backend (the API says so).
func testAtomicExpiry(e *env) {
	if e.caps.Family == TT {
		// Tokyo Tyrant refuses any expiration; atomic changes nothing.
		_, err := e.b.SetBulk(e.ctx, e.db, []backend.Entry{{Key: e.key("x"), Value: []byte("1"), Expiry: backend.Expiry{TTL: time.Hour}}}, backend.WriteOptions{Atomic: true})
		e.wantErr("atomic SetBulk with an expiration on Tokyo Tyrant", err, backend.ErrUnsupported)
		return
	}
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	_, err := e.b.SetBulk(e.ctx, e.db, []backend.Entry{
		{Key: e.key("x"), Value: []byte("1"), Expiry: backend.Expiry{At: at}},
		{Key: e.key("y"), Value: []byte("2")},
	}, backend.WriteOptions{Atomic: true})
	e.wantErr("atomic SetBulk with two expirations", err, backend.ErrInvalid)
	e.wantValue(e.key("x"), nil)
	e.wantValue(e.key("y"), nil)
	n, err := e.b.SetBulk(e.ctx, e.db, []backend.Entry{
		{Key: e.key("x"), Value: []byte("1"), Expiry: backend.Expiry{At: at}},
		{Key: e.key("y"), Value: []byte("2"), Expiry: backend.Expiry{At: at}},
	}, backend.WriteOptions{Atomic: true})
	e.must(err)
	if r, _ := e.get(e.key("y")); n != 2 || !r.ExpireTime.Equal(at) {
		e.t.Errorf("atomic SetBulk with one expiration: stored %d, expires %v, want 2 and %v", n, r.ExpireTime, at)
	}
}

// A keys-only scan reports no expiration on any backend: Kyoto Tycoon's
// key-only cursor read does not return one.
func testKeysOnlyExpiry(e *env) {
	exp := backend.Expiry{}
	if e.caps.Family == KT {
		exp.At = time.Now().Add(time.Hour).Truncate(time.Second)
	}
	e.must(e.b.Set(e.ctx, e.db, e.key("k"), []byte("v"), exp, backend.WriteOptions{}))
	n := 0
	err := e.b.Scan(e.ctx, e.db, backend.ScanOptions{Prefix: e.key(""), KeysOnly: true}, func(batch []backend.Record) error {
		for _, r := range batch {
			n++
			if r.Value != nil || !r.ExpireTime.IsZero() {
				e.t.Errorf("keys-only scan record %q has value %q, expiration %v; want neither", r.Key, r.Value, r.ExpireTime)
			}
		}
		return nil
	})
	e.must(err)
	if n != 1 {
		e.t.Errorf("keys-only scan returned %d records, want 1", n)
	}
	if e.caps.Family == KT {
		var got time.Time
		err := e.b.Scan(e.ctx, e.db, backend.ScanOptions{Prefix: e.key("")}, func(batch []backend.Record) error {
			got = batch[0].ExpireTime
			return nil
		})
		e.must(err)
		if !got.Equal(exp.At) {
			e.t.Errorf("full scan reports expiration %v, want %v", got, exp.At)
		}
	}
}

// Tokyo Tyrant's putshl trims only an existing record: a new one keeps the
// whole value.
func testKeepLastNew(e *env) {
	k := e.key("shl")
	err := e.b.Append(e.ctx, e.db, k, []byte("abcdefgh"), backend.Expiry{}, 3)
	if !e.caps.KeepLast {
		e.wantErr("Append with keep_last", err, backend.ErrUnsupported)
		return
	}
	e.must(err)
	e.wantValue(k, []byte("abcdefgh"))
	e.must(e.b.Append(e.ctx, e.db, k, []byte("ij"), backend.Expiry{}, 3))
	e.wantValue(k, []byte("hij"))
}

// Tokyo Tyrant's addint answers its failure value when the sum is
// -2147483648, even on a missing record.
func testIncrementMinInt32(e *env) {
	_, _, err := e.b.Increment(e.ctx, e.db, e.key("min"), math.MinInt32, backend.IncrementOptions{})
	e.wantErr("Increment to -2147483648", err, backend.ErrIncompatible)
	// The server stored the sum all the same.
	e.wantValue(e.key("min"), []byte{0, 0, 0, 0x80})
	v, ok, err := e.b.Increment(e.ctx, e.db, e.key("min+1"), math.MinInt32+1, backend.IncrementOptions{})
	if err != nil || !ok || v != math.MinInt32+1 {
		e.t.Errorf("Increment to -2147483647 = %d, %v, %v", v, ok, err)
	}
}

// An empty value in a column with a lexical or decimal index makes Tokyo
// Cabinet abort the real server, in either order. The backend refuses every
// way of writing such a value and of building such an index over one, and
// the server is still there afterwards.
func testEmptyValueGuard(e *env) {
	tb := e.b.(backend.Tabler)
	ok, err := tb.TableSetIndex(e.ctx, e.db, "text", backend.IndexLexical, false)
	e.wantBool("SetIndex text lexical", ok, err, true)
	_, err = tb.TablePut(e.ctx, e.db, []byte("24"), map[string][]byte{"text": {}}, backend.PutOverwrite)
	e.wantErr(`TablePut {"text": ""} with a lexical index on text`, err, backend.ErrInvalid)
	if err != nil && !strings.Contains(err.Error(), "empty value") {
		e.t.Errorf("the refusal does not say why: %v", err)
	}
	_, err = tb.TablePut(e.ctx, e.db, []byte("25"), map[string][]byte{"other": {}}, backend.PutConcat)
	e.wantErr("TablePut (concat) with an empty value", err, backend.ErrInvalid)
	// The plain put family writes serialised rows on a table.
	e.wantErr(`Set of the row "text NUL"`, e.b.Set(e.ctx, e.db, []byte("26"), []byte("text\x00"), backend.Expiry{}, backend.WriteOptions{}), backend.ErrInvalid)
	_, err = e.b.Add(e.ctx, e.db, []byte("26"), []byte("a\x001\x00text\x00"), backend.Expiry{})
	e.wantErr(`Add of a row with an empty column`, err, backend.ErrInvalid)
	_, err = e.b.SetBulk(e.ctx, e.db, []backend.Entry{{Key: []byte("26"), Value: []byte("text\x00")}}, backend.WriteOptions{})
	e.wantErr(`SetBulk of a row with an empty column`, err, backend.ErrInvalid)
	e.wantErr(`Append of a row with an empty column`, e.b.Append(e.ctx, e.db, []byte("26"), []byte("text\x00"), backend.Expiry{}, 0), backend.ErrInvalid)
	adm, isAdmin := feature[backend.TTAdmin](e.b, backend.CapMaintenance)
	if isAdmin {
		for _, args := range [][][]byte{
			{[]byte("27"), []byte("text"), {}},
			{[]byte("27"), []byte("a"), []byte("1"), []byte("text"), {}},
		} {
			_, _, err = adm.Misc(e.ctx, e.db, "put", args, false)
			e.wantErr(fmt.Sprintf("misc put %q", args), err, backend.ErrInvalid)
		}
		_, _, err = adm.Misc(e.ctx, e.db, "putlist", [][]byte{[]byte("27"), []byte("text\x00")}, false)
		e.wantErr("misc putlist of a row with an empty column", err, backend.ErrInvalid)
	}
	e.must(e.b.Ping(e.ctx))
	if e.caps.RawPut == nil {
		return
	}
	// A row written by another client with an empty value: no lexical or
	// decimal index may be built over it. The raw put is not guarded, so
	// first make sure that no index on the column is left over.
	_, err = tb.TableSetIndex(e.ctx, e.db, "age", backend.IndexVoid, false)
	e.must(err)
	ok, err = e.caps.RawPut(e.ctx, []byte("7"), []byte("age\x00"))
	e.wantBool(`raw put of {"age": ""}`, ok, err, true)
	_, err = tb.TableSetIndex(e.ctx, e.db, "age", backend.IndexDecimal, false)
	e.wantErr(`SetIndex age decimal over a row {"age": ""}`, err, backend.ErrInvalid)
	if err != nil && !strings.Contains(err.Error(), `"7"`) {
		e.t.Errorf("the refusal does not name the row: %v", err)
	}
	if isAdmin {
		for _, typ := range []string{"0", "1", "+1", "LEXICAL", "dec", "16777216"} {
			_, _, err = adm.Misc(e.ctx, e.db, "setindex", [][]byte{[]byte("age"), []byte(typ)}, false)
			e.wantErr("misc setindex age "+typ+" over an empty value", err, backend.ErrInvalid)
		}
	}
	// Token and q-gram indexes take empty values.
	ok, err = tb.TableSetIndex(e.ctx, e.db, "age", backend.IndexToken, false)
	e.wantBool("SetIndex age token over an empty value", ok, err, true)
	ok, err = tb.TableSetIndex(e.ctx, e.db, "age", backend.IndexQGram, false)
	e.wantBool("SetIndex age q-gram over an empty value", ok, err, true)
	e.must(e.b.Ping(e.ctx))
	if _, found, err := tb.TableGet(e.ctx, e.db, []byte("7")); err != nil || !found {
		e.t.Errorf("the row is still there: found=%v err=%v", found, err)
	}
	for _, col := range []string{"text", "age"} {
		_, err = tb.TableSetIndex(e.ctx, e.db, col, backend.IndexVoid, false)
		e.must(err)
	}
}

// Tokyo Tyrant refuses a column named "": the backend refuses it first,
// and the server refuses it when another client sends it.
func testEmptyColumnName(e *env) {
	tb := e.b.(backend.Tabler)
	_, err := tb.TablePut(e.ctx, e.db, []byte("r"), map[string][]byte{"": []byte("v"), "a": []byte("1")}, backend.PutOverwrite)
	e.wantErr(`TablePut with a column named ""`, err, backend.ErrInvalid)
	if adm, ok := feature[backend.TTAdmin](e.b, backend.CapMaintenance); ok {
		for _, name := range []string{"put", "putkeep", "putcat"} {
			_, _, err := adm.Misc(e.ctx, e.db, name, [][]byte{[]byte("r"), {}, []byte("v")}, false)
			e.wantErr("misc "+name+` with a column named ""`, err, backend.ErrInvalid)
		}
	}
	if e.caps.RawPut != nil {
		ok, err := e.caps.RawPut(e.ctx, []byte("r"), []byte("\x00v\x00a\x001"))
		e.wantBool(`the server's own answer to a column named ""`, ok, err, false)
	}
	if _, found, _ := tb.TableGet(e.ctx, e.db, []byte("r")); found {
		e.t.Error(`a row with a column named "" was stored`)
	}
}

// Tokyo Cabinet reads numbers in conditions and orders without an exponent, sorts
// rows without the order column last, restarts genuid after vanish, and
// treats keep on an existing index as a refusal for every index type.
func testTableNumbers(e *env) {
	tb := e.b.(backend.Tabler)
	rows := map[string]string{"a": "1e2", "b": "5", "c": "1.9", "d": " 3", "e": "x"}
	for k, v := range rows {
		_, err := tb.TablePut(e.ctx, e.db, []byte(k), map[string][]byte{"n": []byte(v), "s": []byte(k)}, backend.PutOverwrite)
		e.must(err)
	}
	_, err := tb.TablePut(e.ctx, e.db, []byte("f"), map[string][]byte{"s": []byte("f")}, backend.PutOverwrite)
	e.must(err)
	search := func(what string, q backend.Query, want ...string) {
		e.t.Helper()
		res, err := tb.TableSearch(e.ctx, e.db, q)
		e.must(err)
		got := make([]string, len(res.Keys))
		for i, k := range res.Keys {
			got[i] = string(k)
		}
		if !q.HasOrder {
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			e.t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	cond := func(op backend.CondOp, expr string) backend.Query {
		return backend.Query{Conditions: []backend.Condition{{Column: "n", Op: op, Expr: expr}}}
	}
	// "1e2" reads as 1 (no exponent), "1.9" as 1.9.
	search("n NUMEQ 1", cond(backend.CondNumEq, "1"), "a")
	search("n NUMGT 2", cond(backend.CondNumGT, "2"), "b", "d")
	search("n NUMEQ 1e2", cond(backend.CondNumEq, "1e2"), "a")
	search("n NUMEQ 1.9", cond(backend.CondNumEq, "1.9"), "c")
	search("n NUMBT 0 1", cond(backend.CondNumBetween, "0 1"), "a", "e")
	search("n NUMLT 1.95", cond(backend.CondNumLT, "1.95"), "a", "c", "e")
	search("n NUMOREQ 5,3", cond(backend.CondNumOrEq, "5,3"), "b", "d")
	// Rows without the column come last, in either direction; ties keep
	// no particular order, so the orders are chosen without ties.
	only := []backend.Condition{{Column: "s", Op: backend.CondStrOrEq, Expr: "b d e f"}}
	search("order n NUMASC", backend.Query{Conditions: only, HasOrder: true, OrderColumn: "n", Order: backend.OrderNumAsc}, "e", "d", "b", "f")
	search("order n NUMDESC", backend.Query{Conditions: only, HasOrder: true, OrderColumn: "n", Order: backend.OrderNumDesc}, "b", "d", "e", "f")
	search("order n STRASC", backend.Query{Conditions: only, HasOrder: true, OrderColumn: "n", Order: backend.OrderStrAsc}, "d", "b", "e", "f")
	search("order n STRDESC", backend.Query{Conditions: only, HasOrder: true, OrderColumn: "n", Order: backend.OrderStrDesc}, "e", "b", "d", "f")

	ok, err := tb.TableSetIndex(e.ctx, e.db, "n", backend.IndexDecimal, false)
	e.wantBool("SetIndex n decimal", ok, err, true)
	for _, typ := range []backend.IndexType{backend.IndexOptimize, backend.IndexVoid, backend.IndexDecimal, backend.IndexLexical} {
		ok, err = tb.TableSetIndex(e.ctx, e.db, "n", typ, true)
		e.wantBool("SetIndex keep on an existing index", ok, err, false)
	}
	ok, err = tb.TableSetIndex(e.ctx, e.db, "n", backend.IndexOptimize, false)
	e.wantBool("SetIndex optimize", ok, err, true)
	ok, err = tb.TableSetIndex(e.ctx, e.db, "n", backend.IndexVoid, false)
	e.wantBool("SetIndex void", ok, err, true)
	ok, err = tb.TableSetIndex(e.ctx, e.db, "n", backend.IndexOptimize, false)
	e.wantBool("SetIndex optimize without an index", ok, err, false)

	_, err = tb.TableGenerateID(e.ctx, e.db)
	e.must(err)
	e.must(e.b.Clear(e.ctx, e.db))
	id, err := tb.TableGenerateID(e.ctx, e.db)
	e.must(err)
	if id != 1 {
		e.t.Errorf("GenerateID after Clear = %d, want 1", id)
	}
}

// Kyoto Tycoon's POSIX expressions match bytes, not UTF-8 characters.
func testRegexBytes(e *env) {
	k := append(e.key(""), "é"...)
	e.set(k, []byte("v"))
	keys, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchRegex, Regex: "^" + regexQuote(e.ns) + ".$"}, 0)
	e.must(err)
	if len(keys) != 0 {
		e.t.Errorf(`MatchKeys(regex ".") matched the two-byte "é": %q`, keys)
	}
	keys, err = e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchRegex, Regex: "^" + regexQuote(e.ns) + "..$"}, 0)
	e.must(err)
	if len(keys) != 1 {
		e.t.Errorf(`MatchKeys(regex "..") = %q, want the two-byte "é"`, keys)
	}
}
