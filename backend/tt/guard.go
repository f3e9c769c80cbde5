package tt

import (
	"context"
	"fmt"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Tokyo Cabinet fails an assertion, and the whole ttserver process dies,
// when a column value of "" meets a lexical or decimal index on that
// column: whether the row is written after the index exists or the index
// is built over the row. The server cannot be asked which columns are
// indexed, so on a table database every write path of the adapter refuses
// rows with an empty column value (TablePut, put, putkeep, putcat and the
// misc put family), and a lexical or decimal setindex first looks for rows
// whose value for the column is empty. What stays open: ext scripts, which
// write as they please, putshl on a table (which cuts the serialised row
// wherever the width falls), and other clients of the same server.

// checkRow refuses columns that Tokyo Tyrant refuses (an empty name) or
// that can crash it (an empty value).
func (b *Backend) checkRow(op string, cols []ttwire.Column) error {
	for _, c := range cols {
		if c.Name == "" {
			return fmt.Errorf("%s: table %s: a column has the empty name, which Tokyo Tyrant refuses (\"\" stands for the primary key): %w", b.name, op, backend.ErrInvalid)
		}
		if len(c.Value) == 0 {
			return fmt.Errorf("%s: table %s: column %q has an empty value; an empty value in a column with a lexical or decimal index crashes the Tokyo Tyrant server, so the gateway refuses empty values: leave the column out instead: %w", b.name, op, c.Name, backend.ErrInvalid)
		}
	}
	return nil
}

// checkRawRows applies checkRow to values written with the plain put
// family, which a table database reads as "name NUL value ..." rows. On
// other databases it does nothing.
func (b *Backend) checkRawRows(ctx context.Context, op string, values ...[]byte) error {
	kind, err := b.dbKind(ctx)
	if err != nil || kind != kindTable {
		return err
	}
	for _, v := range values {
		if err := b.checkRow(op, ttwire.DecodeColumns(v)); err != nil {
			return err
		}
	}
	return nil
}

// checkMisc applies the guard to the misc functions that write table rows
// or build indexes.
func (b *Backend) checkMisc(ctx context.Context, name string, args [][]byte) error {
	switch name {
	case "put", "putkeep", "putcat", "putlist", "setindex":
	default:
		return nil
	}
	kind, err := b.dbKind(ctx)
	if err != nil || kind != kindTable {
		return err
	}
	switch name {
	case "putlist":
		for i := 1; i < len(args); i += 2 {
			if err := b.checkRow("misc putlist", ttwire.DecodeColumns(args[i])); err != nil {
				return err
			}
		}
	case "setindex":
		for i := 0; i+1 < len(args); i += 2 {
			col := string(args[i])
			if typ, ok := assertingIndex(string(args[i+1])); ok && col != "" {
				if err := b.checkNoEmptyValues(ctx, "", col, typ); err != nil {
					return err
				}
			}
		}
	default:
		if len(args) == 0 {
			return nil
		}
		var cols []ttwire.Column
		for i := 1; i+1 < len(args); i += 2 {
			cols = append(cols, ttwire.Column{Name: string(args[i]), Value: args[i+1]})
		}
		return b.checkRow("misc "+name, cols)
	}
	return nil
}

// assertingIndex reads a misc setindex type as the server does and reports
// whether it is a lexical or decimal index, the kinds that assert on empty
// values.
func assertingIndex(s string) (backend.IndexType, bool) {
	v, ok := ttwire.ParseIndexType(s)
	if !ok {
		return 0, false
	}
	wire := v &^ ttwire.IndexKeep
	for _, typ := range []backend.IndexType{backend.IndexLexical, backend.IndexDecimal} {
		if indexTypes[typ] == wire {
			return typ, true
		}
	}
	return 0, false
}
