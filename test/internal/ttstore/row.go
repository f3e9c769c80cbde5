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

// Rows are kept by the Store in Tokyo Tyrant's serialised form, which it
// also reads as TT does: a repeated name overwrites the earlier value in
// place. So a column is changed by writing it after the row ("name NUL
// value" appended) and letting the Store's Set fold it in, and stored rows,
// which hold each name once, are read with ttwire.DecodeColumns.

// column returns the value of column name.
func column(cols []ttwire.Column, name string) ([]byte, bool) {
	for _, c := range cols {
		if c.Name == name {
			return c.Value, true
		}
	}
	return nil, false
}

// withColumns returns the serialised row followed by more serialised
// columns.
func withColumns(row, more []byte) []byte {
	switch {
	case len(row) == 0:
		return more
	case len(more) == 0:
		return row
	}
	return append(append(append([]byte{}, row...), 0), more...)
}

// argsRow serialises alternating names and values; an unpaired last item
// is dropped. ok is false when an item holds a NUL byte.
func argsRow(args [][]byte) (row []byte, ok bool) {
	cols := make([]ttwire.Column, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		cols = append(cols, ttwire.Column{Name: string(args[i]), Value: args[i+1]})
	}
	row, err := ttwire.EncodeColumns(cols)
	return row, err == nil
}

// internalSize is the size of Tokyo Cabinet's own encoding of a stored row,
// which TT reports as a table's vsiz: per column a varnum name length, the
// name, a varnum value length and the value.
func internalSize(row []byte) int {
	n := 0
	for _, c := range ttwire.DecodeColumns(row) {
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

// putRow runs a put-family write of the serialised row raw on a table.
//
// Tokyo Cabinet refuses a column named "" in put, putkeep and putcat, and
// aborts the whole process when a written column with an empty value has a
// lexical or decimal index (see checkIndexed).
func (x *op) putRow(mode PutMode, key, raw []byte, width int32) bool {
	if len(key) == 0 {
		return false
	}
	cols := ttwire.DecodeColumns(raw)
	if _, ok := column(cols, ""); ok && mode != PutShl {
		return false
	}
	old, found := x.value(key)
	switch mode {
	case PutOver:
		x.checkIndexed(cols)
		return x.set(key, raw)
	case PutKeep:
		if found {
			return false
		}
		x.checkIndexed(cols)
		return x.set(key, raw)
	case PutCat:
		have := ttwire.DecodeColumns(old)
		var added []ttwire.Column
		for _, c := range cols {
			if _, ok := column(have, c.Name); !ok {
				added = append(added, c)
			}
		}
		x.checkIndexed(added)
		more, err := ttwire.EncodeColumns(added)
		return err == nil && x.set(key, withColumns(old, more))
	default: // PutShl works on the serialised form.
		nv := concat(old, raw)
		if found && len(nv) > int(width) {
			nv = nv[len(nv)-int(width):]
		}
		if !found {
			nv = raw
		}
		return x.set(key, nv)
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
// has an empty value and a lexical or decimal index. Of a name given twice,
// the last value is the one written.
func (x *op) checkIndexed(cols []ttwire.Column) {
	last := make(map[string][]byte, len(cols))
	for _, c := range cols {
		last[c.Name] = c.Value
	}
	for _, c := range cols {
		if typ, ok := x.indexes[c.Name]; ok && len(last[c.Name]) == 0 && assertingIndex(typ) {
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
