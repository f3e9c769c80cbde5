package embedded

import (
	"bytes"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// ttDups holds the values after the first of a B+ tree key. first is the
// record value they were added to (the very slice, which the store never
// modifies): when the record's value is another slice, the record was
// rewritten outside the TTDB and the duplicates no longer apply.
type ttDups struct {
	first []byte
	rest  [][]byte
}

// ttSameSlice reports whether a and b are the same stored slice.
func ttSameSlice(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// rest returns the duplicates after the first value of key.
func (t *TTDB) rest(d *database, key []byte, now time.Time) [][]byte {
	dl, ok := t.dups[string(key)]
	if !ok {
		return nil
	}
	r, ok := d.live(key, now)
	if !ok || !ttSameSlice(dl.first, r.value) {
		return nil
	}
	return dl.rest
}

// values returns every value of r: its own, then its duplicates.
func (t *TTDB) values(r record, now time.Time) [][]byte {
	rest := t.rest(t.d, r.key, now)
	out := make([][]byte, 0, 1+len(rest))
	return append(append(out, r.value), rest...)
}

// putDup adds value as a duplicate of key: after the existing values, or
// before them when back is true.
func (x *ttTxn) putDup(key, value []byte, back bool) {
	cur, found := x.value(key)
	if !found {
		x.set(key, own(value))
		return
	}
	rest := x.tt.rest(x.d, key, x.now)
	if back {
		nr := make([][]byte, 0, len(rest)+1)
		nr = append(append(nr, cur), rest...)
		r := x.store(own(key), own(value), backend.Expiry{})
		x.tt.dups[string(key)] = &ttDups{first: r.value, rest: nr}
		return
	}
	nr := make([][]byte, 0, len(rest)+1)
	nr = append(append(nr, rest...), own(value))
	x.tt.dups[string(key)] = &ttDups{first: cur, rest: nr}
}

// ttNumColumn is the column where a table keeps addint/adddouble numbers.
const ttNumColumn = "_num"

// ttColumn is one column of a table row.
type ttColumn struct {
	name, value []byte
}

// ttRow is a table row: columns in stored order, names unique.
type ttRow []ttColumn

// ttParseRow reads serialised columns, "name NUL value NUL ...": the value is
// split at every NUL and the pieces are paired; an unpaired last piece is
// dropped, and a repeated name overwrites the earlier value in place.
func ttParseRow(b []byte) ttRow {
	parts := bytes.Split(b, []byte{0})
	var row ttRow
	for i := 0; i+1 < len(parts); i += 2 {
		row.set(string(parts[i]), parts[i+1])
	}
	return row
}

// ttRowFromArgs builds a row from alternating names and values; an unpaired
// last item is dropped.
func ttRowFromArgs(args [][]byte) ttRow {
	var row ttRow
	for i := 0; i+1 < len(args); i += 2 {
		row.set(string(args[i]), args[i+1])
	}
	return row
}

// get returns the value of column name.
func (r ttRow) get(name string) ([]byte, bool) {
	for _, c := range r {
		if string(c.name) == name {
			return c.value, true
		}
	}
	return nil, false
}

// set stores a column, in place when the name exists.
func (r *ttRow) set(name string, value []byte) {
	for i, c := range *r {
		if string(c.name) == name {
			(*r)[i].value = own(value)
			return
		}
	}
	*r = append(*r, ttColumn{name: []byte(name), value: own(value)})
}

// encode serialises the row: "name NUL value NUL ...", no trailing NUL.
func (r ttRow) encode() []byte {
	n := 0
	for _, c := range r {
		n += len(c.name) + len(c.value) + 2
	}
	out := make([]byte, 0, n)
	for i, c := range r {
		if i > 0 {
			out = append(out, 0)
		}
		out = append(out, c.name...)
		out = append(out, 0)
		out = append(out, c.value...)
	}
	return out
}

// pairs returns the row as alternating names and values.
func (r ttRow) pairs() [][]byte {
	out := make([][]byte, 0, 2*len(r))
	for _, c := range r {
		out = append(out, own(c.name), own(c.value))
	}
	return out
}

// internalSize is the size of Tokyo Cabinet's own row encoding, which TT
// reports as a table's vsiz: per column a varnum name length, the name, a
// varnum value length and the value.
func (r ttRow) internalSize() int {
	n := 0
	for _, c := range r {
		n += ttVarnumSize(len(c.name)) + len(c.name) + ttVarnumSize(len(c.value)) + len(c.value)
	}
	return n
}

// ttVarnumSize is the length of n in Tokyo Cabinet's variable-length number
// form: 7 bits per byte.
func ttVarnumSize(n int) int {
	size := 1
	for n >= 128 {
		n >>= 7
		size++
	}
	return size
}

// row reads the live row of key; found is false when there is none.
func (x *ttTxn) row(key []byte) (ttRow, bool) {
	v, found := x.value(key)
	if !found {
		return nil, false
	}
	return ttParseRow(v), true
}

// putRow runs a put-family write on a table. raw is the value as sent, for
// putshl, which works on the serialised form.
//
// Tokyo Cabinet refuses a column named "" in put, putkeep and putcat, and
// aborts the whole process when a written column with an empty value has a
// lexical or decimal index (see checkIndexed).
func (x *ttTxn) putRow(mode TTPutMode, key []byte, row ttRow, width int32, raw []byte) bool {
	if len(key) == 0 {
		return false
	}
	if mode != TTPutShl {
		if _, ok := row.get(""); ok {
			return false
		}
	}
	old, found := x.row(key)
	switch mode {
	case TTPutOver:
		x.checkIndexed(row)
		x.set(key, row.encode())
	case TTPutKeep:
		if found {
			return false
		}
		x.checkIndexed(row)
		x.set(key, row.encode())
	case TTPutCat:
		var added ttRow
		for _, c := range row {
			if _, ok := old.get(string(c.name)); !ok {
				old.set(string(c.name), c.value)
				added = append(added, c)
			}
		}
		x.checkIndexed(added)
		x.set(key, old.encode())
	case TTPutShl:
		nv := ttConcat(old.encode(), raw)
		if found && len(nv) > int(width) {
			nv = nv[len(nv)-int(width):]
		}
		if !found {
			nv = raw
		}
		x.set(key, ttParseRow(nv).encode())
	}
	return true
}

// ttAssertIndex reports whether an index of type typ makes Tokyo Cabinet
// fail an assertion on an empty column value: lexical and decimal indexes
// store the value as a B+ tree key and require it to be non-empty.
func ttAssertIndex(typ int) bool {
	return typ == ttIndexLexical || typ == ttIndexDecimal
}

// checkIndexed marks the server aborted when a column about to be written
// has an empty value and a lexical or decimal index.
func (x *ttTxn) checkIndexed(cols ttRow) {
	for _, c := range cols {
		if typ, ok := x.tt.indexes[string(c.name)]; ok && len(c.value) == 0 && ttAssertIndex(typ) {
			x.tt.aborted = "column " + strconv.Quote(string(c.name)) + " has a " + ttIndexName(typ) + " index and the row gives it an empty value"
			return
		}
	}
}

// ttIndexName names an index type in messages.
func ttIndexName(typ int) string {
	if typ == ttIndexDecimal {
		return "decimal"
	}
	return "lexical"
}

// Index types of setindex, with Tokyo Cabinet's values.
const (
	ttIndexLexical  = 0
	ttIndexDecimal  = 1
	ttIndexToken    = 2
	ttIndexQGram    = 3
	ttIndexOptimize = 9998
	ttIndexVoid     = 9999
	ttIndexKeep     = 1 << 24
)

// ttParseIndexType reads a setindex type: a name or a decimal number, with a
// "+" prefix (or the keep flag) meaning "keep an existing index".
func ttParseIndexType(s string) (typ int, keep bool, ok bool) {
	if len(s) > 0 && s[0] == '+' {
		keep, s = true, s[1:]
	}
	switch ttUpper(s) {
	case "LEX", "LEXICAL", "STR":
		return ttIndexLexical, keep, true
	case "DEC", "DECIMAL", "NUM":
		return ttIndexDecimal, keep, true
	case "TOK", "TOKEN":
		return ttIndexToken, keep, true
	case "QGR", "QGRAM", "FTS":
		return ttIndexQGram, keep, true
	case "OPT", "OPTIMIZE":
		return ttIndexOptimize, keep, true
	case "VOID", "NULL":
		return ttIndexVoid, keep, true
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, false
	}
	if n&ttIndexKeep != 0 {
		keep, n = true, n&^ttIndexKeep
	}
	switch n {
	case ttIndexLexical, ttIndexDecimal, ttIndexToken, ttIndexQGram, ttIndexOptimize, ttIndexVoid:
		return n, keep, true
	}
	return 0, false, false
}

// setIndex defines, optimizes or drops the index of a column; with keep, an
// existing index is left alone and the call fails whatever the type
// (optimize and void included), as Tokyo Cabinet's "keep" flag does. Only
// the definitions are kept: searches scan the rows whatever the indexes.
// Building a lexical or decimal index over a row whose value for the column
// is empty aborts the server, as in Tokyo Cabinet.
func (x *ttTxn) setIndex(col string, typ int, keep bool) bool {
	_, exists := x.tt.indexes[col]
	if exists && keep {
		return false
	}
	if ttAssertIndex(typ) && col != "" {
		x.liveRows(x.now, func(key []byte, row ttRow) bool {
			if v, ok := row.get(col); ok && len(v) == 0 {
				x.tt.aborted = "building a " + ttIndexName(typ) + " index on column " + strconv.Quote(col) + " over row " + strconv.Quote(string(key)) + ", whose value for it is empty"
				return false
			}
			return true
		})
		if x.tt.aborted != "" {
			return false
		}
	}
	switch typ {
	case ttIndexVoid:
		if !exists {
			return false
		}
		delete(x.tt.indexes, col)
	case ttIndexOptimize:
		return exists
	default:
		x.tt.indexes[col] = typ
	}
	return true
}

// ttUpper returns s in ASCII upper case.
func ttUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
