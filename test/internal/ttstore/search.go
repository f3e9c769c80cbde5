package ttstore

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Table queries: the directives of TT's misc search and metasearch, each an
// argument of NUL-separated tokens whose first token is the verb, read with
// ttwire's names of operators, orders and set operations. Malformed and
// unknown directives are ignored, as in TT. The rows are found by the
// Store's TableSearch, whose conditions and orders are Tokyo Cabinet's.

// condOps maps addcond's operator numbers, flags removed, to the Store's.
var condOps = map[int]backend.CondOp{
	ttwire.OpStrEq:     backend.CondStrEq,
	ttwire.OpStrInc:    backend.CondStrInclude,
	ttwire.OpStrBW:     backend.CondStrBeginsWith,
	ttwire.OpStrEW:     backend.CondStrEndsWith,
	ttwire.OpStrAnd:    backend.CondStrAnd,
	ttwire.OpStrOr:     backend.CondStrOr,
	ttwire.OpStrOrEq:   backend.CondStrOrEq,
	ttwire.OpStrRx:     backend.CondStrRegex,
	ttwire.OpNumEq:     backend.CondNumEq,
	ttwire.OpNumGT:     backend.CondNumGT,
	ttwire.OpNumGE:     backend.CondNumGE,
	ttwire.OpNumLT:     backend.CondNumLT,
	ttwire.OpNumLE:     backend.CondNumLE,
	ttwire.OpNumBT:     backend.CondNumBetween,
	ttwire.OpNumOrEq:   backend.CondNumOrEq,
	ttwire.OpFTSPhrase: backend.CondFTSPhrase,
	ttwire.OpFTSAnd:    backend.CondFTSAnd,
	ttwire.OpFTSOr:     backend.CondFTSOr,
	ttwire.OpFTSEx:     backend.CondFTSExpression,
}

// orderTypes maps setorder's numbers to the Store's orders.
var orderTypes = map[int]backend.OrderType{
	ttwire.OrderStrAsc:  backend.OrderStrAsc,
	ttwire.OrderStrDesc: backend.OrderStrDesc,
	ttwire.OrderNumAsc:  backend.OrderNumAsc,
	ttwire.OrderNumDesc: backend.OrderNumDesc,
}

// query is one (sub-)query.
type query struct {
	conds   []backend.Condition
	ordered bool
	col     string
	order   backend.OrderType
	limit   int // < 0: no limit
	skip    int
}

// search is a whole search or metasearch call.
type search struct {
	queries []query
	setOp   int // ttwire.MSUnion, MSIsect or MSDiff
	get     bool
	cols    []string // with get: the columns to return; nil: all
	out     bool
	count   bool
	hint    bool
}

// parseSearch reads the directives of a search (meta false: "next" and
// "mstype" are ignored) or metasearch.
func parseSearch(args [][]byte, meta bool) search {
	s := search{queries: []query{{limit: -1}}}
	for _, arg := range args {
		tok := ttwire.SplitDirective(arg)
		q := &s.queries[len(s.queries)-1]
		switch tok[0] {
		case "addcond", "cond":
			if len(tok) < 4 {
				continue
			}
			v, ok := ttwire.ParseCondOp(tok[2])
			if !ok || v < 0 {
				continue
			}
			op, ok := condOps[v&^(ttwire.FlagNegate|ttwire.FlagNoIndex)]
			if !ok {
				continue
			}
			q.conds = append(q.conds, backend.Condition{Column: tok[1], Op: op, Expr: tok[3], Negate: v&ttwire.FlagNegate != 0, NoIndex: v&ttwire.FlagNoIndex != 0})
		case "setorder", "order":
			if len(tok) < 2 {
				continue
			}
			typ := backend.OrderStrAsc
			if len(tok) > 2 {
				v, ok := ttwire.ParseOrderType(tok[2])
				if !ok {
					continue
				}
				if typ, ok = orderTypes[v]; !ok {
					continue
				}
			}
			q.ordered, q.col, q.order = true, tok[1], typ
		case "setlimit", "limit", "setmax", "max":
			if len(tok) < 2 {
				continue
			}
			q.limit = int(atoi(tok[1]))
			if len(tok) > 2 {
				q.skip = max(int(atoi(tok[2])), 0)
			}
		case "get", "columns":
			s.get = true
			if len(tok) > 1 {
				s.cols = append(s.cols, tok[1:]...)
			}
		case "out", "remove":
			s.out = true
		case "count":
			s.count = true
		case "hint":
			s.hint = true
		case "next":
			if meta {
				s.queries = append(s.queries, query{limit: -1})
			}
		case "mstype":
			if meta && len(tok) > 1 {
				if v, ok := ttwire.ParseMSType(tok[1]); ok && v >= ttwire.MSUnion && v <= ttwire.MSDiff {
					s.setOp = v
				}
			}
		}
	}
	return s
}

// compileRegex compiles a pattern of the regex function: a leading "*"
// makes it case-insensitive, as in Tokyo Cabinet.
func compileRegex(p string) (*regexp.Regexp, error) {
	if len(p) > 0 && p[0] == '*' {
		p = "(?i)" + p[1:]
	}
	return regexp.Compile(p)
}

// keys returns the keys of the rows that meet q's conditions, in q's
// order when ordered, without applying the limit.
func (x *op) keys(q query) [][]byte {
	res, err := x.s.TableSearch(x.ctx, x.db, backend.Query{Conditions: q.conds, HasOrder: q.ordered, OrderColumn: q.col, Order: q.order})
	if err != nil {
		x.fail(err)
	}
	return res.Keys
}

// limitKeys applies a query's skip and limit.
func limitKeys(keys [][]byte, q query) [][]byte {
	if q.skip >= len(keys) {
		return nil
	}
	keys = keys[q.skip:]
	if q.limit >= 0 && q.limit < len(keys) {
		keys = keys[:q.limit]
	}
	return keys
}

// search runs a parsed search and builds misc's result list.
func (x *op) search(s search) ([][]byte, bool) {
	first := s.queries[0]
	keys := x.keys(first)
	matched := len(keys)
	if len(s.queries) > 1 {
		keys = x.combine(keys, s)
		if first.ordered {
			keys = x.reorder(keys, first)
		}
	}
	keys = limitKeys(keys, first)

	ok := true
	out := [][]byte{}
	for _, k := range keys {
		var row []byte
		if s.get && !s.count {
			row, _ = x.value(k)
		}
		if s.out && !x.del(k) {
			ok = false
		}
		switch {
		case s.count:
		case s.get:
			out = append(out, project(k, row, s.cols))
		default:
			out = append(out, k)
		}
	}
	if s.count {
		out = [][]byte{[]byte(strconv.Itoa(len(keys)))}
	} else if s.out && !s.get {
		out = [][]byte{}
	}
	if s.hint {
		out = append(out, hintElement(first, matched))
	}
	return out, ok
}

// combine merges the first sub-query's keys with the others' by s.setOp,
// keeping the order in which keys first appear.
func (x *op) combine(keys [][]byte, s search) [][]byte {
	others := make([]map[string]bool, 0, len(s.queries)-1)
	var extra [][]byte
	for _, q := range s.queries[1:] {
		set := map[string]bool{}
		for _, k := range x.keys(query{conds: q.conds, limit: -1}) {
			set[string(k)] = true
			extra = append(extra, k)
		}
		others = append(others, set)
	}
	seen := map[string]bool{}
	var out [][]byte
	add := func(k []byte) {
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		inAll, inAny := true, false
		for _, set := range others {
			if set[string(k)] {
				inAny = true
			} else {
				inAll = false
			}
		}
		switch s.setOp {
		case ttwire.MSIsect:
			if inAll {
				add(k)
			}
		case ttwire.MSDiff:
			if !inAny {
				add(k)
			}
		default:
			add(k)
		}
	}
	if s.setOp == ttwire.MSUnion {
		for _, k := range extra {
			add(k)
		}
	}
	return out
}

// reorder puts keys in q's order: the order of the whole table, kept to
// the keys given.
func (x *op) reorder(keys [][]byte, q query) [][]byte {
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[string(k)] = true
	}
	out := make([][]byte, 0, len(keys))
	for _, k := range x.keys(query{ordered: true, col: q.col, order: q.order, limit: -1}) {
		if want[string(k)] {
			out = append(out, k)
		}
	}
	return out
}

// project serialises a stored row for a search with "get": every column
// after the primary key under the empty name, or only the listed columns
// (the empty name standing for the primary key), each once.
func project(key, row []byte, cols []string) []byte {
	stored := ttwire.DecodeColumns(row)
	var p []ttwire.Column
	if cols == nil {
		p = append([]ttwire.Column{{Name: "", Value: key}}, stored...)
	}
	for _, c := range cols {
		v, ok := key, true
		if c != "" {
			v, ok = column(stored, c)
		}
		if _, dup := column(p, c); ok && !dup {
			p = append(p, ttwire.Column{Name: c, Value: v})
		}
	}
	b, _ := ttwire.EncodeColumns(p)
	return b
}

// hintElement is the element a "hint" directive adds: 00 00 "[[HINT]]\n"
// and the planner's account. Every search scans the whole table. The lines
// for an ordered search are the recorded ones; "leaving the natural order"
// for a search without an order is Tokyo Cabinet's wording as far as known,
// not checked against a recording.
func hintElement(q query, matched int) []byte {
	var b strings.Builder
	b.Write(ttwire.HintPrefix)
	b.WriteString("scanning the whole table\n")
	b.WriteString("result set size: " + strconv.Itoa(matched) + "\n")
	if q.ordered {
		b.WriteString("sorting the result set: \"" + q.col + "\"\n")
	} else {
		b.WriteString("leaving the natural order\n")
	}
	return []byte(b.String())
}
