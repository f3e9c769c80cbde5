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
func (x *ttTxn) putRow(mode TTPutMode, key []byte, row ttRow, width int32, raw []byte) bool {
	if len(key) == 0 {
		return false
	}
	old, found := x.row(key)
	switch mode {
	case TTPutOver:
		x.set(key, row.encode())
	case TTPutKeep:
		if found {
			return false
		}
		x.set(key, row.encode())
	case TTPutCat:
		for _, c := range row {
			if _, ok := old.get(string(c.name)); !ok {
				old.set(string(c.name), c.value)
			}
		}
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
// existing index is left alone and the call fails, as Tokyo Cabinet's
// "keep" modes do. Only the definitions are kept: searches scan the rows
// whatever the indexes.
func (x *ttTxn) setIndex(col string, typ int, keep bool) bool {
	_, exists := x.tt.indexes[col]
	switch typ {
	case ttIndexVoid:
		if !exists {
			return false
		}
		delete(x.tt.indexes, col)
	case ttIndexOptimize:
		return exists
	default:
		if exists && keep {
			return false
		}
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
