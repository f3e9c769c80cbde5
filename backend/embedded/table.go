package embedded

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Table databases hold rows of named columns with Tokyo Tyrant's table
// semantics (backend.Tabler): put modes, conditions, orders, limits and
// search actions answer as a Tokyo Tyrant table database does.
//
// A row is an ordinary record whose value is the row in Tokyo Tyrant's
// serialised form ("name NUL value NUL ...", ttwire.EncodeColumns), so that
// key/value reads, scans, cursors and the update log see a row as a plain
// get on a Tokyo Tyrant table does. Key/value writes that store a whole
// value (Set, SetBulk, Add, Replace, CompareAndSwap, a cursor's SetValue)
// read it as a serialised row, as Tokyo Tyrant's put does on a table;
// removals work as on any database; Append and the increments answer
// backend.ErrUnsupported. Rows never expire.
//
// Indexes are definitions only: a search always scans the rows, which
// gives the answers an index would, since Tokyo Tyrant's indexes change
// speed and not results.

// tableState is what a Table database holds beyond its rows. It is guarded
// by Store.mu.
type tableState struct {
	indexes map[string]backend.IndexType
	uid     int64 // the last generated id
}

func newTableState() *tableState {
	return &tableState{indexes: map[string]backend.IndexType{}}
}

// row is a table row: columns in stored order, names unique.
type row []ttwire.Column

// parseRow reads a serialised row as Tokyo Tyrant does: the NUL-separated
// pieces are paired, an unpaired last piece is dropped and a repeated name
// overwrites the earlier value in place.
func parseRow(b []byte) row {
	var r row
	for _, c := range ttwire.DecodeColumns(b) {
		r.set(c.Name, c.Value)
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

// set stores a copy of value as column name, in place when the row has it.
func (r *row) set(name string, value []byte) {
	for i, c := range *r {
		if c.Name == name {
			(*r)[i].Value = own(value)
			return
		}
	}
	*r = append(*r, ttwire.Column{Name: name, Value: own(value)})
}

// encode serialises the row. Parsed rows and checked columns hold no NUL,
// so encoding cannot fail.
func (r row) encode() []byte {
	b, _ := ttwire.EncodeColumns(r)
	return b
}

// tableDB resolves db and checks that it is a table.
func (s *Store) tableDB(db, op string) (*database, error) {
	d, err := s.database(db)
	if err != nil {
		return nil, err
	}
	if d.kind != Table {
		return nil, fmt.Errorf("embedded: table %s: database %q is a %s database, not a table (declare one with embedded:?dbs=name:table): %w", op, d.name, d.kind, backend.ErrUnsupported)
	}
	return d, nil
}

// checkPK refuses primary keys a table cannot hold.
func checkPK(op string, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("embedded: table %s: empty primary key; name the row, or get a new key from GenerateID: %w", op, backend.ErrInvalid)
	}
	return nil
}

// checkColumns refuses a column named "" (Tokyo Tyrant refuses it: "" stands
// for the primary key in conditions and orders) and NUL bytes, which the
// serialised form uses as separator.
func checkColumns(op string, cols row) error {
	if _, ok := cols.get(""); ok {
		return fmt.Errorf("embedded: table %s: a column has the empty name, which a table refuses (\"\" stands for the primary key): %w", op, backend.ErrInvalid)
	}
	if _, err := ttwire.EncodeColumns(cols); err != nil {
		return fmt.Errorf("embedded: table %s: %v: %w", op, err, backend.ErrInvalid)
	}
	return nil
}

// kvValue returns what a key/value write of value stores in d: the value
// itself, or on a table the row it serialises, in canonical form.
func kvValue(d *database, op string, key, value []byte, exp backend.Expiry) ([]byte, error) {
	if d.kind != Table {
		return own(value), nil
	}
	if !exp.Never() {
		return nil, fmt.Errorf("embedded: %s on table %q: rows of a table do not expire; write without an expiration: %w", op, d.name, backend.ErrUnsupported)
	}
	if err := checkPK(op, key); err != nil {
		return nil, err
	}
	r := parseRow(value)
	if err := checkColumns(op, r); err != nil {
		return nil, err
	}
	return r.encode(), nil
}

// notTable refuses key/value writes that have no meaning on a row.
func notTable(d *database, op, instead string) error {
	if d.kind != Table {
		return nil
	}
	return fmt.Errorf("embedded: %s on table %q: a table holds rows, not %s; use the Table service (Put with PUT_MODE_CONCAT adds columns): %w", op, d.name, instead, backend.ErrUnsupported)
}

// TablePut stores a row: PutOverwrite replaces the row, PutKeep writes only
// a new row (applied is false when the key has one) and PutConcat adds the
// columns the row does not have yet, creating it when missing. Columns are
// stored in name order; a column named "" or a NUL byte in a name or value
// is an error wrapping backend.ErrInvalid.
func (s *Store) TablePut(ctx context.Context, db string, key []byte, cols map[string][]byte, mode backend.PutMode) (applied bool, err error) {
	d, err := s.tableDB(db, "put")
	if err != nil {
		return false, err
	}
	switch mode {
	case backend.PutOverwrite, backend.PutKeep, backend.PutConcat:
	default:
		return false, fmt.Errorf("embedded: table put: unknown mode %d: %w", mode, backend.ErrInvalid)
	}
	if err := checkPK("put", key); err != nil {
		return false, err
	}
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	slices.Sort(names)
	put := make(row, len(names))
	for i, n := range names {
		put[i] = ttwire.Column{Name: n, Value: own(cols[n])}
	}
	if err := checkColumns("put", put); err != nil {
		return false, err
	}
	err = s.update(ctx, d, "table_put", func(t *txn) error {
		old, found := t.d.live(key, t.now)
		next := put
		switch {
		case mode == backend.PutKeep && found:
			return nil
		case mode == backend.PutConcat && found:
			next = parseRow(old.value)
			for _, c := range put {
				if _, ok := next.get(c.Name); !ok {
					next = append(next, c)
				}
			}
		}
		t.store(own(key), next.encode(), backend.Expiry{})
		applied = true
		return nil
	})
	return applied, err
}

// TableGet reads a row.
func (s *Store) TableGet(ctx context.Context, db string, key []byte) (cols map[string][]byte, found bool, err error) {
	d, err := s.tableDB(db, "get")
	if err != nil {
		return nil, false, err
	}
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		r, ok := d.live(key, now)
		if !ok {
			return nil
		}
		found = true
		cols = map[string][]byte{}
		for _, c := range parseRow(r.value) {
			cols[c.Name] = c.Value
		}
		return nil
	})
	return cols, found, err
}

// TableSearch runs a query: the rows that meet every condition, in the
// query's order (key order without one), after Offset and at most Limit of
// them (0: no limit). SearchKeys returns their keys, SearchGet the rows
// (only Columns when given), SearchCount their number and SearchDelete
// removes them and returns how many. Conditions and orders read columns
// as Tokyo Cabinet does; see cond.test.
func (s *Store) TableSearch(ctx context.Context, db string, q backend.Query) (backend.SearchResult, error) {
	d, err := s.tableDB(db, "search")
	if err != nil {
		return backend.SearchResult{}, err
	}
	conds, err := compileConds(q.Conditions)
	if err != nil {
		return backend.SearchResult{}, err
	}
	if q.HasOrder {
		switch q.Order {
		case backend.OrderStrAsc, backend.OrderStrDesc, backend.OrderNumAsc, backend.OrderNumDesc:
		default:
			return backend.SearchResult{}, fmt.Errorf("embedded: table search: unknown order type %d: %w", q.Order, backend.ErrInvalid)
		}
	}
	if q.Limit < 0 || q.Offset < 0 {
		return backend.SearchResult{}, fmt.Errorf("embedded: table search: limit %d and offset %d must not be negative (limit 0 means no limit): %w", q.Limit, q.Offset, backend.ErrInvalid)
	}
	var res backend.SearchResult
	find := func(d *database, now time.Time) []hit {
		hits := matchRows(d, now, conds)
		if q.HasOrder {
			sortHits(hits, q.OrderColumn, q.Order)
		}
		return limitHits(hits, q.Offset, q.Limit)
	}
	switch q.Action {
	case backend.SearchKeys, backend.SearchGet, backend.SearchCount:
		err = s.view(ctx, d, func(d *database, now time.Time) error {
			hits := find(d, now)
			switch q.Action {
			case backend.SearchKeys:
				res.Keys = make([][]byte, len(hits))
				for i, h := range hits {
					res.Keys[i] = own(h.key)
				}
			case backend.SearchGet:
				res.Rows = make([]backend.Row, len(hits))
				for i, h := range hits {
					res.Rows[i] = h.project(q.Columns)
				}
			default:
				res.Count = int64(len(hits))
			}
			return nil
		})
	case backend.SearchDelete:
		err = s.update(ctx, d, "table_search_delete", func(t *txn) error {
			for _, h := range find(t.d, t.now) {
				if _, removed := t.remove(h.key); removed {
					res.Count++
				}
			}
			return nil
		})
	default:
		return res, fmt.Errorf("embedded: table search: unknown action %d: %w", q.Action, backend.ErrInvalid)
	}
	return res, err
}

// TableSetIndex defines (IndexLexical, IndexDecimal, IndexToken,
// IndexQGram), optimises (IndexOptimize) or drops (IndexVoid) the index of
// a column. applied is false, as in Tokyo Tyrant, for keep on an existing
// index (whatever typ), and for optimising or dropping an index that does
// not exist.
func (s *Store) TableSetIndex(ctx context.Context, db string, column string, typ backend.IndexType, keep bool) (applied bool, err error) {
	d, err := s.tableDB(db, "setindex")
	if err != nil {
		return false, err
	}
	switch typ {
	case backend.IndexLexical, backend.IndexDecimal, backend.IndexToken, backend.IndexQGram, backend.IndexOptimize, backend.IndexVoid:
	default:
		return false, fmt.Errorf("embedded: table setindex: unknown index type %d: %w", typ, backend.ErrInvalid)
	}
	if strings.IndexByte(column, 0) >= 0 {
		return false, fmt.Errorf("embedded: table setindex: column name %q %v: %w", column, ttwire.ErrNUL, backend.ErrInvalid)
	}
	err = s.update(ctx, d, "table_setindex", func(t *txn) error {
		indexes := t.d.table.indexes
		_, exists := indexes[column]
		switch {
		case exists && keep:
		case typ == backend.IndexVoid:
			delete(indexes, column)
			applied = exists
		case typ == backend.IndexOptimize:
			applied = exists
		default:
			indexes[column] = typ
			applied = true
		}
		return nil
	})
	return applied, err
}

// TableGenerateID returns a new primary key number: 1, 2, ... and from 1
// again after Clear, as Tokyo Tyrant's genuid.
func (s *Store) TableGenerateID(ctx context.Context, db string) (id int64, err error) {
	d, err := s.tableDB(db, "genuid")
	if err != nil {
		return 0, err
	}
	err = s.update(ctx, d, "table_genuid", func(t *txn) error {
		t.d.table.uid++
		id = t.d.table.uid
		return nil
	})
	return id, err
}

// cond is a compiled condition.
type cond struct {
	backend.Condition
	re *regexp.Regexp // CondStrRegex; nil when the pattern does not compile
}

// compileConds checks the operators and compiles the patterns. A pattern
// that does not compile matches nothing, as in Tokyo Tyrant.
func compileConds(cs []backend.Condition) ([]cond, error) {
	out := make([]cond, len(cs))
	for i, c := range cs {
		switch c.Op {
		case backend.CondStrEq, backend.CondStrInclude, backend.CondStrBeginsWith, backend.CondStrEndsWith,
			backend.CondStrAnd, backend.CondStrOr, backend.CondStrOrEq, backend.CondStrRegex,
			backend.CondNumEq, backend.CondNumGT, backend.CondNumGE, backend.CondNumLT, backend.CondNumLE,
			backend.CondNumBetween, backend.CondNumOrEq,
			backend.CondFTSPhrase, backend.CondFTSAnd, backend.CondFTSOr, backend.CondFTSExpression:
		default:
			return nil, fmt.Errorf("embedded: table search: condition %d has unknown operator %d: %w", i, c.Op, backend.ErrInvalid)
		}
		out[i] = cond{Condition: c}
		if c.Op == backend.CondStrRegex {
			out[i].re, _ = compileRegex(c.Expr)
		}
	}
	return out, nil
}

// compileRegex compiles a pattern as Tokyo Cabinet reads it: a leading "*"
// makes it case-insensitive.
func compileRegex(p string) (*regexp.Regexp, error) {
	if len(p) > 0 && p[0] == '*' {
		p = "(?i)" + p[1:]
	}
	return regexp.Compile(p)
}

// match reports whether the row with primary key pk meets c. A missing
// column meets only a negated condition.
func (c cond) match(pk []byte, r row) bool {
	v, ok := pk, true
	if c.Column != "" {
		v, ok = r.get(c.Column)
	}
	if !ok {
		return c.Negate
	}
	return c.test(string(v)) != c.Negate
}

// test applies the operator to a column value. Numbers are read as Tokyo
// Cabinet's conditions read them (number); token lists are split at
// spaces, control characters and commas; the full-text operators match
// case-insensitive substrings.
func (c cond) test(v string) bool {
	e := c.Expr
	switch c.Op {
	case backend.CondStrEq:
		return v == e
	case backend.CondStrInclude:
		return strings.Contains(v, e)
	case backend.CondStrBeginsWith:
		return strings.HasPrefix(v, e)
	case backend.CondStrEndsWith:
		return strings.HasSuffix(v, e)
	case backend.CondStrAnd:
		have := tokens(v)
		for _, t := range tokens(e) {
			if !slices.Contains(have, t) {
				return false
			}
		}
		return true
	case backend.CondStrOr:
		have := tokens(v)
		for _, t := range tokens(e) {
			if slices.Contains(have, t) {
				return true
			}
		}
		return false
	case backend.CondStrOrEq:
		return slices.Contains(tokens(e), v)
	case backend.CondStrRegex:
		return c.re != nil && c.re.MatchString(v)
	case backend.CondNumEq:
		return number(v) == number(e)
	case backend.CondNumGT:
		return number(v) > number(e)
	case backend.CondNumGE:
		return number(v) >= number(e)
	case backend.CondNumLT:
		return number(v) < number(e)
	case backend.CondNumLE:
		return number(v) <= number(e)
	case backend.CondNumBetween:
		t := tokens(e)
		if len(t) < 2 {
			return false
		}
		n, lo, hi := number(v), number(t[0]), number(t[1])
		if lo > hi {
			lo, hi = hi, lo
		}
		return n >= lo && n <= hi
	case backend.CondNumOrEq:
		n := number(v)
		for _, t := range tokens(e) {
			if number(t) == n {
				return true
			}
		}
		return false
	case backend.CondFTSPhrase:
		return strings.Contains(strings.ToLower(v), strings.ToLower(e))
	case backend.CondFTSAnd, backend.CondFTSOr:
		lv := strings.ToLower(v)
		for _, t := range tokens(e) {
			hit := strings.Contains(lv, strings.ToLower(t))
			if hit == (c.Op == backend.CondFTSOr) {
				return hit
			}
		}
		return c.Op == backend.CondFTSAnd
	case backend.CondFTSExpression:
		return ftsExpr(strings.ToLower(v), e)
	}
	return false
}

// tokens splits an expression at spaces, control characters and commas.
func tokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r <= ' ' || r == ',' })
}

// ftsExpr evaluates a compound full-text expression: terms are ANDed ("&&"
// is optional), "||" separates alternatives and "!!" excludes the next
// term. Terms are matched as case-insensitive substrings.
func ftsExpr(v, e string) bool {
	for _, alt := range strings.Split(e, "||") {
		hit, any, not := true, false, false
		for _, t := range strings.Fields(alt) {
			switch t {
			case "&&":
				continue
			case "!!":
				not = true
				continue
			}
			any = true
			if strings.Contains(v, strings.ToLower(t)) == not {
				hit = false
			}
			not = false
		}
		if any && hit {
			return true
		}
	}
	return false
}

// number reads a leading decimal number as Tokyo Cabinet's table
// conditions and orders do: control characters and spaces are skipped,
// then a sign, digits and a fraction; there is no exponent, so "1e2" is 1
// while "1.9" stays 1.9, and text that is not a number reads as 0.
func number(s string) float64 {
	i := 0
	for i < len(s) && s[i] > 0 && s[i] <= ' ' {
		i++
	}
	j := i
	if j < len(s) && (s[j] == '-' || s[j] == '+') {
		j++
	}
	digits := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s[i:j], "."), 64)
	if err != nil {
		return 0
	}
	return f
}

// hit is one matching row.
type hit struct {
	key []byte
	row row
}

// matchRows returns the live rows of d that meet every condition, in key
// order.
func matchRows(d *database, now time.Time, conds []cond) []hit {
	var hits []hit
	d.recs.Ascend(func(r record) bool {
		if r.expired(now) {
			return true
		}
		row := parseRow(r.value)
		for _, c := range conds {
			if !c.match(r.key, row) {
				return true
			}
		}
		hits = append(hits, hit{key: r.key, row: row})
		return true
	})
	return hits
}

// sortHits orders hits by a column (the primary key for ""), numbers read
// as in the conditions. Rows without the column come last in either
// direction, as Tokyo Cabinet sorts them; ties keep their order.
func sortHits(hits []hit, col string, typ backend.OrderType) {
	value := func(h hit) ([]byte, bool) {
		if col == "" {
			return h.key, true
		}
		return h.row.get(col)
	}
	numeric := typ == backend.OrderNumAsc || typ == backend.OrderNumDesc
	desc := typ == backend.OrderStrDesc || typ == backend.OrderNumDesc
	slices.SortStableFunc(hits, func(a, b hit) int {
		va, oka := value(a)
		vb, okb := value(b)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1
		case !okb:
			return -1
		}
		var c int
		if numeric {
			c = cmpFloat(number(string(va)), number(string(vb)))
		} else {
			c = bytes.Compare(va, vb)
		}
		if desc {
			c = -c
		}
		return c
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// limitHits skips offset hits and keeps at most limit (0: all) of the rest.
func limitHits(hits []hit, offset, limit int64) []hit {
	if offset >= int64(len(hits)) {
		return nil
	}
	hits = hits[offset:]
	if limit > 0 && limit < int64(len(hits)) {
		hits = hits[:limit]
	}
	return hits
}

// project copies a hit into a result row: every column, or only the listed
// ones ("" names the primary key, which Row.Key carries anyway).
func (h hit) project(cols []string) backend.Row {
	out := backend.Row{Key: own(h.key), Columns: map[string][]byte{}}
	for _, c := range h.row {
		if len(cols) == 0 || slices.Contains(cols, c.Name) {
			out.Columns[c.Name] = own(c.Value)
		}
	}
	return out
}
