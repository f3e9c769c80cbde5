package tt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Table databases are reached through misc: put / putkeep / putcat / get take
// the columns as separate arguments, search takes NUL-separated query
// directives, and rows in search results are NUL-separated columns with the
// primary key under the empty name. Column names and values therefore cannot
// contain NUL, and neither can primary keys. Reads are sent with
// MiscNoUpdateLog; writes (put, search with delete, setindex, genuid) are
// logged so that slaves follow them.

// tableDB checks that db is the server's database and that it is a table.
func (b *Backend) tableDB(ctx context.Context, db, op string) error {
	if err := checkDB(db); err != nil {
		return err
	}
	kind, err := b.dbKind(ctx)
	if err != nil {
		return err
	}
	if kind != kindTable {
		return fmt.Errorf("%s: table %s: the server's database is a %s database, not a table (.tct): %w", b.name, op, kind, backend.ErrUnsupported)
	}
	return nil
}

func (b *Backend) checkPK(op string, key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%s: table %s: empty primary key (the server would generate one; use GenerateID): %w", b.name, op, backend.ErrInvalid)
	case bytes.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%s: table %s: primary key %q %v: %w", b.name, op, key, ttwire.ErrNUL, backend.ErrInvalid)
	}
	return nil
}

// TablePut stores a row with misc put, putkeep (PutKeep) or putcat
// (PutConcat, merging the columns into the existing row).
// A column named "" (which the server refuses) or with an empty value
// (which can crash it, see guard.go) is refused before anything is sent.
func (b *Backend) TablePut(ctx context.Context, db string, key []byte, cols map[string][]byte, mode backend.PutMode) (bool, error) {
	name := map[backend.PutMode]string{backend.PutOverwrite: "put", backend.PutKeep: "putkeep", backend.PutConcat: "putcat"}[mode]
	if name == "" {
		return false, fmt.Errorf("%s: table put: unknown mode %d: %w", b.name, mode, backend.ErrInvalid)
	}
	if err := b.checkPK(name, key); err != nil {
		return false, err
	}
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	slices.Sort(names)
	ordered := make([]ttwire.Column, len(names))
	for i, n := range names {
		ordered[i] = ttwire.Column{Name: n, Value: cols[n]}
	}
	// Encoding checks for NUL; the row itself travels as separate arguments.
	if _, err := ttwire.EncodeColumns(ordered); err != nil {
		return false, fmt.Errorf("%s: table %s: %v: %w", b.name, name, err, backend.ErrInvalid)
	}
	if err := b.checkRow(name, ordered); err != nil {
		return false, err
	}
	if err := b.tableDB(ctx, db, name); err != nil {
		return false, err
	}
	args := make([][]byte, 0, 1+2*len(ordered))
	args = append(args, key)
	for _, c := range ordered {
		args = append(args, []byte(c.Name), c.Value)
	}
	_, ok, err := b.misc(ctx, name, args, false)
	if err != nil {
		return false, err
	}
	if !ok && mode != backend.PutKeep {
		return false, b.refused("misc " + name)
	}
	return ok, nil
}

// TableGet reads a row with misc get.
func (b *Backend) TableGet(ctx context.Context, db string, key []byte) (map[string][]byte, bool, error) {
	if err := b.checkPK("get", key); err != nil {
		return nil, false, err
	}
	if err := b.tableDB(ctx, db, "get"); err != nil {
		return nil, false, err
	}
	elems, ok, err := b.misc(ctx, "get", [][]byte{key}, true)
	if err != nil || !ok {
		return nil, false, err
	}
	if len(elems)%2 != 0 {
		return nil, false, fmt.Errorf("%s: table get returned %d elements, not column pairs: %w", b.name, len(elems), backend.ErrFailed)
	}
	cols := make(map[string][]byte, len(elems)/2)
	for i := 0; i < len(elems); i += 2 {
		cols[string(elems[i])] = elems[i+1]
	}
	return cols, true, nil
}

// searchArgs encodes a query as misc search directives.
func (b *Backend) searchArgs(q backend.Query) ([][]byte, error) {
	bad := func(format string, args ...any) ([][]byte, error) {
		return nil, fmt.Errorf("%s: table search: %s: %w", b.name, fmt.Sprintf(format, args...), backend.ErrInvalid)
	}
	var args [][]byte
	for _, c := range q.Conditions {
		op, ok := condOps[c.Op]
		if !ok {
			return bad("unknown condition operator %d", c.Op)
		}
		if c.Negate {
			op |= ttwire.FlagNegate
		}
		if c.NoIndex {
			op |= ttwire.FlagNoIndex
		}
		d, err := ttwire.CondDirective(c.Column, op, c.Expr)
		if err != nil {
			return bad("%v", err)
		}
		args = append(args, d)
	}
	if q.HasOrder {
		typ, ok := orderTypes[q.Order]
		if !ok {
			return bad("unknown order type %d", q.Order)
		}
		d, err := ttwire.OrderDirective(q.OrderColumn, typ)
		if err != nil {
			return bad("%v", err)
		}
		args = append(args, d)
	}
	if q.Limit < 0 || q.Offset < 0 {
		return bad("negative limit or offset")
	}
	if q.Limit > 0 || q.Offset > 0 {
		max := q.Limit
		if max == 0 {
			max = -1
		}
		args = append(args, ttwire.LimitDirective(max, q.Offset))
	}
	switch q.Action {
	case backend.SearchKeys, backend.SearchCount:
		if q.Action == backend.SearchCount {
			args = append(args, ttwire.DirCount)
		}
	case backend.SearchGet:
		cols := q.Columns
		if len(cols) > 0 && !slices.Contains(cols, "") {
			// The key is needed for Row.Key; it is dropped from the columns.
			cols = append([]string{""}, cols...)
		}
		d, err := ttwire.GetDirective(cols...)
		if err != nil {
			return bad("%v", err)
		}
		args = append(args, d)
	case backend.SearchDelete:
		// out alone answers an empty list; projecting the removed rows to
		// their keys gives the count.
		d, _ := ttwire.GetDirective("")
		args = append(args, ttwire.DirOut, d)
	default:
		return bad("unknown action %d", q.Action)
	}
	return args, nil
}

// TableSearch runs a query with misc search.
func (b *Backend) TableSearch(ctx context.Context, db string, q backend.Query) (backend.SearchResult, error) {
	args, err := b.searchArgs(q)
	if err != nil {
		return backend.SearchResult{}, err
	}
	if err := b.tableDB(ctx, db, "search"); err != nil {
		return backend.SearchResult{}, err
	}
	elems, ok, err := b.misc(ctx, "search", args, q.Action != backend.SearchDelete)
	if err != nil {
		return backend.SearchResult{}, err
	}
	if !ok {
		return backend.SearchResult{}, fmt.Errorf("%s: table search: the server reported failure: %w", b.name, backend.ErrFailed)
	}
	elems = slices.DeleteFunc(elems, ttwire.IsHint)
	var res backend.SearchResult
	switch q.Action {
	case backend.SearchKeys:
		res.Keys = elems
	case backend.SearchCount:
		if len(elems) != 1 {
			return res, fmt.Errorf("%s: table search count returned %d elements: %w", b.name, len(elems), backend.ErrFailed)
		}
		if res.Count, err = strconv.ParseInt(string(elems[0]), 10, 64); err != nil {
			return res, fmt.Errorf("%s: table search count %q: %w", b.name, elems[0], backend.ErrFailed)
		}
	case backend.SearchDelete:
		res.Count = int64(len(elems))
	case backend.SearchGet:
		res.Rows = make([]backend.Row, 0, len(elems))
		for _, e := range elems {
			row := backend.Row{Columns: map[string][]byte{}}
			for _, c := range ttwire.DecodeColumns(e) {
				if c.Name == "" {
					row.Key = c.Value
					continue
				}
				row.Columns[c.Name] = c.Value
			}
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

// TableSetIndex creates, optimises (IndexOptimize) or drops (IndexVoid) a
// column index with misc setindex. applied is false when the server refused:
// keep on an existing index, or dropping an index that does not exist.
func (b *Backend) TableSetIndex(ctx context.Context, db string, column string, typ backend.IndexType, keep bool) (bool, error) {
	wireType, ok := indexTypes[typ]
	if !ok {
		return false, fmt.Errorf("%s: table setindex: unknown index type %d: %w", b.name, typ, backend.ErrInvalid)
	}
	args, err := ttwire.SetIndexArgs(column, wireType, keep)
	if err != nil {
		return false, fmt.Errorf("%s: table setindex: %v: %w", b.name, err, backend.ErrInvalid)
	}
	if err := b.tableDB(ctx, db, "setindex"); err != nil {
		return false, err
	}
	if (typ == backend.IndexLexical || typ == backend.IndexDecimal) && column != "" {
		if err := b.checkNoEmptyValues(ctx, db, column, typ); err != nil {
			return false, err
		}
	}
	_, applied, err := b.misc(ctx, "setindex", args, false)
	return applied, err
}

// checkNoEmptyValues refuses to build a lexical or decimal index over a
// column that some row holds with an empty value: Tokyo Cabinet fails an
// assertion on it and the server process dies. Rows written through the
// gateway never have one (TablePut refuses empty values), but rows written
// by other clients may. The check is one search; a row written by another
// client between it and setindex is not seen.
func (b *Backend) checkNoEmptyValues(ctx context.Context, db, column string, typ backend.IndexType) error {
	res, err := b.TableSearch(ctx, db, backend.Query{
		Conditions: []backend.Condition{{Column: column, Op: backend.CondStrEq, Expr: "", NoIndex: true}},
		Limit:      1,
		Action:     backend.SearchKeys,
	})
	if err != nil {
		return fmt.Errorf("%s: table setindex: looking for rows with an empty %q: %w", b.name, column, err)
	}
	if len(res.Keys) > 0 {
		kind := map[backend.IndexType]string{backend.IndexLexical: "lexical", backend.IndexDecimal: "decimal"}[typ]
		return fmt.Errorf("%s: table setindex: row %q has an empty value in column %q; a %s index over an empty value crashes the Tokyo Tyrant server, so the gateway refuses to build it: give the row a value or remove the column first: %w", b.name, res.Keys[0], column, kind, backend.ErrInvalid)
	}
	return nil
}

// TableGenerateID returns a new primary key number with misc genuid. The
// call is logged, so that a slave's counter follows the master's.
func (b *Backend) TableGenerateID(ctx context.Context, db string) (int64, error) {
	if err := b.tableDB(ctx, db, "genuid"); err != nil {
		return 0, err
	}
	elems, ok, err := b.misc(ctx, "genuid", nil, false)
	if err != nil {
		return 0, err
	}
	if !ok || len(elems) != 1 {
		return 0, fmt.Errorf("%s: table genuid: the server reported failure: %w", b.name, backend.ErrFailed)
	}
	id, err := strconv.ParseInt(string(elems[0]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: table genuid returned %q: %w", b.name, elems[0], backend.ErrFailed)
	}
	return id, nil
}
