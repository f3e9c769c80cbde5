package ttstore

import (
	"bytes"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// dups holds the values after the first of a B+ tree key. first is the
// value they were added to: when the record holds another value, it was
// rewritten outside the DB and the duplicates no longer apply.
type dups struct {
	first []byte
	rest  [][]byte
}

// rest returns the duplicates after the first value of key.
func (x *op) rest(key []byte) [][]byte {
	dl, ok := x.dups[string(key)]
	if !ok {
		return nil
	}
	v, found := x.value(key)
	if !found || !bytes.Equal(dl.first, v) {
		delete(x.dups, string(key))
		return nil
	}
	return dl.rest
}

// values returns every value of r: its own, then its duplicates.
func (x *op) values(r backend.Record) [][]byte {
	var rest [][]byte
	if _, ok := x.dups[string(r.Key)]; ok {
		rest = x.rest(r.Key)
	}
	out := make([][]byte, 0, 1+len(rest))
	return append(append(out, r.Value), rest...)
}

// putDup adds value as a duplicate of key: after the existing values, or
// before them when back is true.
func (x *op) putDup(key, value []byte, back bool) {
	cur, found := x.value(key)
	if !found {
		x.set(key, value)
		return
	}
	rest := x.rest(key)
	nr := make([][]byte, 0, len(rest)+1)
	if back {
		nr = append(append(nr, cur), rest...)
		if x.write(key, value) {
			x.dups[string(key)] = &dups{first: clone(value), rest: nr}
		}
		return
	}
	nr = append(append(nr, rest...), clone(value))
	x.dups[string(key)] = &dups{first: cur, rest: nr}
}

// numColumn is the column where a table keeps addint/adddouble numbers.
const numColumn = "_num"

// row is a table row as TT handles it: columns in stored order, names
// unique.
type row []ttwire.Column

// parseRow reads serialised columns: the NUL-separated pieces are paired,
// an unpaired last piece is dropped and a repeated name overwrites the
// earlier value in place.
func parseRow(b []byte) row {
	var r row
	for _, c := range ttwire.DecodeColumns(b) {
		r.set(c.Name, c.Value)
	}
	return r
}

// rowFromArgs builds a row from alternating names and values; an unpaired
// last item is dropped.
func rowFromArgs(args [][]byte) row {
	var r row
	for i := 0; i+1 < len(args); i += 2 {
		r.set(string(args[i]), args[i+1])
	}
	return r
}

// get returns the value of column name.
func (r row) get(name string) ([]byte, bool) {
	for _, c := range r {
		if c.Name == name {
			return c.Value, true
		}
	}
	return nil, false
}

// set stores a column, in place when the name exists.
func (r *row) set(name string, value []byte) {
	for i, c := range *r {
		if c.Name == name {
			(*r)[i].Value = clone(value)
			return
		}
	}
	*r = append(*r, ttwire.Column{Name: name, Value: append([]byte{}, value...)})
}

// encode serialises the row; nil when a name or value holds a NUL byte,
// which the serialised form cannot carry.
func (r row) encode() []byte {
	b, err := ttwire.EncodeColumns(r)
	if err != nil {
		return nil
	}
	return b
}

// pairs returns the row as alternating names and values.
func (r row) pairs() [][]byte {
	out := make([][]byte, 0, 2*len(r))
	for _, c := range r {
		out = append(out, []byte(c.Name), clone(c.Value))
	}
	return out
}

// internalSize is the size of Tokyo Cabinet's own row encoding, which TT
// reports as a table's vsiz: per column a varnum name length, the name, a
// varnum value length and the value.
func (r row) internalSize() int {
	n := 0
	for _, c := range r {
		n += varnumSize(len(c.Name)) + len(c.Name) + varnumSize(len(c.Value)) + len(c.Value)
	}
	return n
}

// varnumSize is the length of n in Tokyo Cabinet's variable-length number
// form: 7 bits per byte.
func varnumSize(n int) int {
	size := 1
	for n >= 128 {
		n >>= 7
		size++
	}
	return size
}

// row reads the live row of key; found is false when there is none.
func (x *op) row(key []byte) (row, bool) {
	v, found := x.value(key)
	if !found {
		return nil, false
	}
	return parseRow(v), true
}

// putRow runs a put-family write on a table. raw is the value as sent, for
// putshl, which works on the serialised form.
//
// Tokyo Cabinet refuses a column named "" in put, putkeep and putcat, and
// aborts the whole process when a written column with an empty value has a
// lexical or decimal index (see checkIndexed).
func (x *op) putRow(mode PutMode, key []byte, r row, width int32, raw []byte) bool {
	if len(key) == 0 {
		return false
	}
	if mode != PutShl {
		if _, ok := r.get(""); ok {
			return false
		}
	}
	old, found := x.row(key)
	store := func(r row) bool {
		b := r.encode()
		return b != nil && x.set(key, b)
	}
	switch mode {
	case PutOver:
		x.checkIndexed(r)
		return store(r)
	case PutKeep:
		if found {
			return false
		}
		x.checkIndexed(r)
		return store(r)
	case PutCat:
		var added row
		for _, c := range r {
			if _, ok := old.get(c.Name); !ok {
				old.set(c.Name, c.Value)
				added = append(added, c)
			}
		}
		x.checkIndexed(added)
		return store(old)
	default: // PutShl
		nv := concat(old.encode(), raw)
		if found && len(nv) > int(width) {
			nv = nv[len(nv)-int(width):]
		}
		if !found {
			nv = raw
		}
		return x.set(key, parseRow(nv).encode())
	}
}

// assertingIndex reports whether an index of type typ makes Tokyo Cabinet
// fail an assertion on an empty column value: lexical and decimal indexes
// store the value as a B+ tree key and require it to be non-empty.
func assertingIndex(typ backend.IndexType) bool {
	return typ == backend.IndexLexical || typ == backend.IndexDecimal
}

// indexName names an index type in messages.
func indexName(typ backend.IndexType) string {
	if typ == backend.IndexDecimal {
		return "decimal"
	}
	return "lexical"
}

// checkIndexed marks the server aborted when a column about to be written
// has an empty value and a lexical or decimal index.
func (x *op) checkIndexed(cols row) {
	for _, c := range cols {
		if typ, ok := x.indexes[c.Name]; ok && len(c.Value) == 0 && assertingIndex(typ) {
			x.aborted = "column " + strconv.Quote(c.Name) + " has a " + indexName(typ) + " index and the row gives it an empty value"
			return
		}
	}
}

// indexTypes maps setindex's numbers to the Store's index types.
var indexTypes = map[int]backend.IndexType{
	0:                backend.IndexLexical,
	1:                backend.IndexDecimal,
	2:                backend.IndexToken,
	3:                backend.IndexQGram,
	ttwire.IndexOpt:  backend.IndexOptimize,
	ttwire.IndexVoid: backend.IndexVoid,
}

// parseIndexType reads a setindex type: a name or a decimal number, with a
// "+" prefix (or the keep flag) meaning "keep an existing index".
func parseIndexType(s string) (typ backend.IndexType, keep bool, ok bool) {
	v, ok := ttwire.ParseIndexType(s)
	if !ok {
		return 0, false, false
	}
	typ, ok = indexTypes[v&^ttwire.IndexKeep]
	return typ, v&ttwire.IndexKeep != 0, ok
}

// setIndex defines, optimizes or drops the index of a column through the
// Store, which answers as Tokyo Cabinet does. Building a lexical or decimal
// index over a row whose value for the column is empty aborts the server,
// as in Tokyo Cabinet.
func (x *op) setIndex(col string, typ backend.IndexType, keep bool) bool {
	if assertingIndex(typ) && col != "" {
		res, err := x.s.TableSearch(x.ctx, x.db, backend.Query{
			Conditions: []backend.Condition{{Column: col, Op: backend.CondStrEq, Expr: ""}},
			Limit:      1,
		})
		if err != nil {
			x.fail(err)
			return false
		}
		if len(res.Keys) > 0 {
			x.aborted = "building a " + indexName(typ) + " index on column " + strconv.Quote(col) + " over row " + strconv.Quote(string(res.Keys[0])) + ", whose value for it is empty"
			return false
		}
	}
	applied, err := x.s.TableSetIndex(x.ctx, x.db, col, typ, keep)
	if err != nil {
		x.fail(err)
		return false
	}
	switch {
	case !applied:
	case typ == backend.IndexVoid:
		delete(x.indexes, col)
	case typ != backend.IndexOptimize:
		x.indexes[col] = typ
	}
	return applied
}
