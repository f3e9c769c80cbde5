package ktgrpc

import (
	"context"
	"fmt"
	"strings"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Row is a row of a table database: a primary key and named columns.
type Row struct {
	Key     string
	Columns map[string][]byte
}

// PutMode says how TablePut treats an existing row.
type PutMode int

// The put modes.
const (
	// PutOverwrite replaces the whole row, the default.
	PutOverwrite PutMode = iota
	// PutKeep stores the row only if the key is new.
	PutKeep
	// PutConcat merges the columns into the existing row.
	PutConcat
)

// TablePut stores a row under key in the table database of WithDB and
// reports whether it did (false only with PutKeep on an existing key).
// Column names and values must not be empty.
func (c *Client) TablePut(ctx context.Context, key string, columns map[string][]byte, mode PutMode, opts ...Option) (bool, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.TablePutRequest{Db: s.db, Key: []byte(key), Columns: columns}
	switch mode {
	case PutKeep:
		req.Mode = ktgrpcv1.PutMode_PUT_MODE_KEEP
	case PutConcat:
		req.Mode = ktgrpcv1.PutMode_PUT_MODE_CONCAT
	}
	resp, err := c.table.Put(ctx, req)
	if err != nil {
		return false, wrapErr("Table.Put", err)
	}
	return resp.GetApplied(), nil
}

// TableGet reads the row under key, or returns an error matching
// ErrNotFound.
func (c *Client) TableGet(ctx context.Context, key string, opts ...Option) (Row, error) {
	s := c.settings(opts)
	resp, err := c.table.Get(ctx, &ktgrpcv1.TableGetRequest{Db: s.db, Key: []byte(key)})
	if err != nil {
		return Row{}, wrapErr("Table.Get", err)
	}
	if !resp.GetFound() {
		return Row{}, notFound("Table.Get", key)
	}
	return Row{Key: key, Columns: resp.GetColumns()}, nil
}

// TableSearch runs q and returns the matching rows (only q's Columns, when
// it names some).
func (c *Client) TableSearch(ctx context.Context, q *Query, opts ...Option) ([]Row, error) {
	resp, err := c.search(ctx, q, ktgrpcv1.SearchAction_SEARCH_ACTION_GET, opts)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(resp.GetRows()))
	for i, r := range resp.GetRows() {
		rows[i] = Row{Key: string(r.GetKey()), Columns: r.GetColumns()}
	}
	return rows, nil
}

// TableSearchKeys runs q and returns the primary keys of the matching rows.
func (c *Client) TableSearchKeys(ctx context.Context, q *Query, opts ...Option) ([]string, error) {
	resp, err := c.search(ctx, q, ktgrpcv1.SearchAction_SEARCH_ACTION_KEYS, opts)
	if err != nil {
		return nil, err
	}
	return stringKeys(resp.GetKeys()), nil
}

// TableCount runs q and returns the number of matching rows.
func (c *Client) TableCount(ctx context.Context, q *Query, opts ...Option) (int64, error) {
	resp, err := c.search(ctx, q, ktgrpcv1.SearchAction_SEARCH_ACTION_COUNT, opts)
	return resp.GetCount(), err
}

// TableDelete deletes the rows matching q and returns how many it deleted.
func (c *Client) TableDelete(ctx context.Context, q *Query, opts ...Option) (int64, error) {
	resp, err := c.search(ctx, q, ktgrpcv1.SearchAction_SEARCH_ACTION_DELETE, opts)
	return resp.GetCount(), err
}

func (c *Client) search(ctx context.Context, q *Query, action ktgrpcv1.SearchAction, opts []Option) (*ktgrpcv1.TableSearchResponse, error) {
	s := c.settings(opts)
	if q == nil {
		q = NewQuery()
	}
	req := q.request()
	req.Db, req.Action = s.db, action
	resp, err := c.table.Search(ctx, req)
	if err != nil {
		return nil, wrapErr("Table.Search", err)
	}
	return resp, nil
}

// IndexType is the kind of a column index, for TableSetIndex.
type IndexType int

// The index types.
const (
	// IndexLexical is a string index.
	IndexLexical IndexType = iota + 1
	// IndexDecimal is a number index.
	IndexDecimal
	// IndexToken is a token inverted index, for StrAnd and StrOr.
	IndexToken
	// IndexQGram is a q-gram inverted index, for full-text search.
	IndexQGram
	// IndexOptimize optimises the existing index.
	IndexOptimize
	// IndexVoid drops the existing index.
	IndexVoid
)

// TableSetIndex creates, optimises or drops the index of column ("" is the
// primary key) and reports whether the backend did it. With keep an
// existing index is kept (false then).
func (c *Client) TableSetIndex(ctx context.Context, column string, typ IndexType, keep bool, opts ...Option) (bool, error) {
	s := c.settings(opts)
	resp, err := c.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Db: s.db, Column: column, Type: ktgrpcv1.IndexType(typ), Keep: keep})
	if err != nil {
		return false, wrapErr("Table.SetIndex", err)
	}
	return resp.GetApplied(), nil
}

// TableGenerateID returns a new unique primary key number.
func (c *Client) TableGenerateID(ctx context.Context, opts ...Option) (int64, error) {
	s := c.settings(opts)
	resp, err := c.table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{Db: s.db})
	if err != nil {
		return 0, wrapErr("Table.GenerateID", err)
	}
	return resp.GetId(), nil
}

// Operator compares a column in a Query condition.
type Operator int

// The operators. The Num operators read numbers as Tokyo Cabinet does;
// those that take several tokens (StrAnd, StrOr, StrOrEq, NumBetween,
// NumOrEq, the full-text ones) separate them with spaces or commas.
const (
	StrEq         Operator = iota + 1 // equals (string)
	StrInclude                        // contains
	StrBeginsWith                     // begins with
	StrEndsWith                       // ends with
	StrAnd                            // contains every token
	StrOr                             // contains at least one token
	StrOrEq                           // equals one of the tokens
	StrRegex                          // matches the regular expression
	NumEq                             // equals (number)
	NumGT                             // greater than
	NumGE                             // greater than or equal to
	NumLT                             // less than
	NumLE                             // less than or equal to
	NumBetween                        // between the two numbers, inclusive
	NumOrEq                           // equals one of the numbers
	FTSPhrase                         // full-text: contains the phrase
	FTSAnd                            // full-text: contains every token
	FTSOr                             // full-text: contains at least one token
	FTSExpression                     // full-text: matches the compound expression
)

// String returns the operator's name as ParseOperator reads it, such as
// "str_eq" or "num_ge".
func (o Operator) String() string {
	if o < StrEq || o > FTSExpression {
		return fmt.Sprintf("Operator(%d)", int(o))
	}
	return strings.ToLower(strings.TrimPrefix(ktgrpcv1.ConditionOperator(o).String(), "CONDITION_OPERATOR_"))
}

// ParseOperator reads an operator's name ("str_eq", "num_between", ...;
// either case, '-' for '_').
func ParseOperator(name string) (Operator, error) {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for o := StrEq; o <= FTSExpression; o++ {
		if o.String() == n {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown operator %q (want str_eq, str_include, str_begins_with, str_ends_with, str_and, str_or, str_or_eq, str_regex, num_eq, num_gt, num_ge, num_lt, num_le, num_between, num_or_eq, fts_phrase, fts_and, fts_or or fts_expression)", name)
}

// OrderType is how a Query orders its results.
type OrderType int

// The order types.
const (
	StrAsc  OrderType = iota + 1 // ascending, as strings
	StrDesc                      // descending, as strings
	NumAsc                       // ascending, as numbers
	NumDesc                      // descending, as numbers
)

// String returns the order's name as ParseOrderType reads it, such as
// "str_asc".
func (o OrderType) String() string {
	if o < StrAsc || o > NumDesc {
		return fmt.Sprintf("OrderType(%d)", int(o))
	}
	return strings.ToLower(strings.TrimPrefix(ktgrpcv1.OrderType(o).String(), "ORDER_TYPE_"))
}

// ParseOrderType reads an order type's name: str_asc, str_desc, num_asc or
// num_desc.
func ParseOrderType(name string) (OrderType, error) {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for o := StrAsc; o <= NumDesc; o++ {
		if o.String() == n {
			return o, nil
		}
	}
	return 0, fmt.Errorf("unknown order %q (want str_asc, str_desc, num_asc or num_desc)", name)
}

// Query is a table search, built by chaining: every condition must hold.
//
//	q := ktgrpc.NewQuery().
//		Where("age", ktgrpc.NumGE, "20").
//		WhereNot("name", ktgrpc.StrBeginsWith, "x").
//		OrderBy("age", ktgrpc.NumDesc).
//		Limit(10)
//	rows, err := c.TableSearch(ctx, q)
//
// A Query is a value to build, not safe to change concurrently; the methods
// change and return the same Query.
type Query struct {
	conds   []*ktgrpcv1.Condition
	order   *ktgrpcv1.Order
	limit   int64
	offset  int64
	columns []string
}

// NewQuery returns a query that matches every row.
func NewQuery() *Query { return &Query{} }

// Where adds the condition "column op expr"; column "" is the primary key.
func (q *Query) Where(column string, op Operator, expr string) *Query {
	q.conds = append(q.conds, &ktgrpcv1.Condition{Column: column, Operator: ktgrpcv1.ConditionOperator(op), Expr: expr})
	return q
}

// WhereNot adds the negation of "column op expr".
func (q *Query) WhereNot(column string, op Operator, expr string) *Query {
	q.Where(column, op, expr)
	q.conds[len(q.conds)-1].Negate = true
	return q
}

// NoIndex makes the last condition added not use an index.
func (q *Query) NoIndex() *Query {
	if len(q.conds) > 0 {
		q.conds[len(q.conds)-1].NoIndex = true
	}
	return q
}

// OrderBy sorts the results by column ("" is the primary key).
func (q *Query) OrderBy(column string, typ OrderType) *Query {
	q.order = &ktgrpcv1.Order{Column: column, Type: ktgrpcv1.OrderType(typ)}
	return q
}

// Limit returns at most n rows; 0 means no limit.
func (q *Query) Limit(n int64) *Query { q.limit = n; return q }

// Offset skips the first n matching rows.
func (q *Query) Offset(n int64) *Query { q.offset = n; return q }

// Columns makes TableSearch return only these columns.
func (q *Query) Columns(names ...string) *Query {
	q.columns = append([]string(nil), names...)
	return q
}

func (q *Query) request() *ktgrpcv1.TableSearchRequest {
	return &ktgrpcv1.TableSearchRequest{Conditions: q.conds, Order: q.order, Limit: q.limit, Offset: q.offset, Columns: q.columns}
}
