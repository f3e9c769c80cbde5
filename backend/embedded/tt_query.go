package embedded

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Table queries: the directives of TT's misc search and metasearch, each an
// argument of NUL-separated tokens whose first token is the verb. Malformed
// and unknown directives are ignored, as in TT.

// Condition operators, with Tokyo Cabinet's values.
const (
	ttqStrEq = iota
	ttqStrInc
	ttqStrBW
	ttqStrEW
	ttqStrAnd
	ttqStrOr
	ttqStrOrEq
	ttqStrRx
	ttqNumEq
	ttqNumGT
	ttqNumGE
	ttqNumLT
	ttqNumLE
	ttqNumBT
	ttqNumOrEq
	ttqFTSPhrase
	ttqFTSAnd
	ttqFTSOr
	ttqFTSEx
	ttqCount // number of operators

	ttqNegate  = 1 << 24
	ttqNoIndex = 1 << 25
)

// Order types, with Tokyo Cabinet's values.
const (
	ttqStrAsc = iota
	ttqStrDesc
	ttqNumAsc
	ttqNumDesc
)

// Metasearch set operations, with Tokyo Cabinet's values.
const (
	ttqUnion = iota
	ttqIsect
	ttqDiff
)

// ttCond is one condition of a query.
type ttCond struct {
	col    string
	op     int
	negate bool
	expr   string
	re     *regexp.Regexp // STRRX; nil when the pattern does not compile
}

// ttQuery is one (sub-)query.
type ttQuery struct {
	conds     []ttCond
	ordered   bool
	orderCol  string
	orderType int
	limit     int // < 0: no limit
	skip      int
}

// ttSearch is a whole search or metasearch call.
type ttSearch struct {
	queries []ttQuery
	setOp   int
	get     bool
	cols    []string // with get: the columns to return; nil: all
	out     bool
	count   bool
	hint    bool
}

// ttParseSearch reads the directives of a search (meta false: "next" and
// "mstype" are ignored) or metasearch.
func ttParseSearch(args [][]byte, meta bool) ttSearch {
	s := ttSearch{queries: []ttQuery{{limit: -1}}}
	for _, arg := range args {
		tok := strings.Split(string(arg), "\x00")
		q := &s.queries[len(s.queries)-1]
		switch tok[0] {
		case "addcond", "cond":
			if len(tok) < 4 {
				continue
			}
			op, negate, ok := ttParseCondOp(tok[2])
			if !ok {
				continue
			}
			c := ttCond{col: tok[1], op: op, negate: negate, expr: tok[3]}
			if op == ttqStrRx {
				c.re, _ = ttCompileRegex(c.expr)
			}
			q.conds = append(q.conds, c)
		case "setorder", "order":
			if len(tok) < 2 {
				continue
			}
			typ := ttqStrAsc
			if len(tok) > 2 {
				var ok bool
				if typ, ok = ttParseNamed(tok[2], ttwire.OrderTypeByName, ttqNumDesc); !ok {
					continue
				}
			}
			q.ordered, q.orderCol, q.orderType = true, tok[1], typ
		case "setlimit", "limit", "setmax", "max":
			if len(tok) < 2 {
				continue
			}
			q.limit = int(ttAtoi(tok[1]))
			if len(tok) > 2 {
				q.skip = max(int(ttAtoi(tok[2])), 0)
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
				s.queries = append(s.queries, ttQuery{limit: -1})
			}
		case "mstype":
			if meta && len(tok) > 1 {
				if typ, ok := ttParseNamed(tok[1], ttwire.MSTypeByName, ttqDiff); ok {
					s.setOp = typ
				}
			}
		}
	}
	return s
}

// ttParseCondOp reads a condition operator: a name, optionally prefixed by
// "~" or "!" (negate) and then "+" (no index), or a decimal number carrying
// the same flags.
func ttParseCondOp(s string) (op int, negate bool, ok bool) {
	name := s
	if len(name) > 0 && (name[0] == '~' || name[0] == '!') {
		negate, name = true, name[1:]
	}
	name = strings.TrimPrefix(name, "+")
	if op, ok := ttwire.CondOpByName(name); ok {
		return op, negate, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false, false
	}
	negate = n&ttqNegate != 0
	op = n &^ (ttqNegate | ttqNoIndex)
	if op >= ttqCount {
		return 0, false, false
	}
	return op, negate, true
}

// ttParseNamed reads a name (byName is the wire package's table) or a
// decimal number from 0 to maxValue.
func ttParseNamed(s string, byName func(string) (int, bool), maxValue int) (int, bool) {
	if v, ok := byName(s); ok {
		return v, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxValue {
		return 0, false
	}
	return n, true
}

// ttTokens splits an expression at spaces, control characters and commas.
func ttTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r <= ' ' || r == ',' })
}

// match reports whether the row with primary key pk meets c. A missing
// column meets only a negated condition.
func (c ttCond) match(pk []byte, row ttRow) bool {
	var v []byte
	ok := true
	if c.col == "" {
		v = pk
	} else {
		v, ok = row.get(c.col)
	}
	if !ok {
		return c.negate
	}
	return c.test(string(v)) != c.negate
}

func (c ttCond) test(v string) bool {
	e := c.expr
	switch c.op {
	case ttqStrEq:
		return v == e
	case ttqStrInc:
		return strings.Contains(v, e)
	case ttqStrBW:
		return strings.HasPrefix(v, e)
	case ttqStrEW:
		return strings.HasSuffix(v, e)
	case ttqStrAnd:
		have := ttTokens(v)
		for _, t := range ttTokens(e) {
			if !slices.Contains(have, t) {
				return false
			}
		}
		return true
	case ttqStrOr:
		have := ttTokens(v)
		for _, t := range ttTokens(e) {
			if slices.Contains(have, t) {
				return true
			}
		}
		return false
	case ttqStrOrEq:
		return slices.Contains(ttTokens(e), v)
	case ttqStrRx:
		return c.re != nil && c.re.MatchString(v)
	// Tokyo Cabinet reads numbers without an exponent: "1e2" is 1.
	case ttqNumEq, ttqNumGT, ttqNumGE, ttqNumLT, ttqNumLE:
		n, x := ttNumber(v), ttNumber(e)
		switch c.op {
		case ttqNumEq:
			return n == x
		case ttqNumGT:
			return n > x
		case ttqNumGE:
			return n >= x
		case ttqNumLT:
			return n < x
		default:
			return n <= x
		}
	case ttqNumBT:
		t := ttTokens(e)
		if len(t) < 2 {
			return false
		}
		n, lo, hi := ttNumber(v), ttNumber(t[0]), ttNumber(t[1])
		if lo > hi {
			lo, hi = hi, lo
		}
		return n >= lo && n <= hi
	case ttqNumOrEq:
		n := ttNumber(v)
		for _, t := range ttTokens(e) {
			if ttNumber(t) == n {
				return true
			}
		}
		return false
	case ttqFTSPhrase:
		return strings.Contains(strings.ToLower(v), strings.ToLower(e))
	case ttqFTSAnd, ttqFTSOr:
		lv := strings.ToLower(v)
		for _, t := range ttTokens(e) {
			hit := strings.Contains(lv, strings.ToLower(t))
			if hit == (c.op == ttqFTSOr) {
				return hit
			}
		}
		return c.op == ttqFTSAnd
	case ttqFTSEx:
		return ttFTSExpr(strings.ToLower(v), e)
	}
	return false
}

// ttFTSExpr evaluates a compound full-text expression: terms are ANDed
// ("&&" is optional), "||" separates alternatives and "!!" excludes the next
// term. Terms are matched as case-insensitive substrings.
func ttFTSExpr(v, e string) bool {
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

// ttHit is one matching row.
type ttHit struct {
	key []byte
	row ttRow
}

// run returns the rows that meet every condition of q, in q's order, without
// applying the limit. It always scans, as if no column had an index: the
// real server answers alike, except for quirks of its index paths (with a
// decimal index, NUMOREQ skips rows when its list has an empty item, as in
// "0  3"; with an index and a limit, which rows fill the limit follows the
// index order).
func (x *ttTxn) run(q ttQuery) []ttHit {
	var hits []ttHit
	x.liveRows(x.now, func(key []byte, row ttRow) bool {
		for _, c := range q.conds {
			if !c.match(key, row) {
				return true
			}
		}
		hits = append(hits, ttHit{key: key, row: row})
		return true
	})
	if q.ordered {
		ttSortHits(hits, q.orderCol, q.orderType)
	}
	return hits
}

// ttSortHits orders hits by a column (the primary key for ""), numbers
// read as in the conditions. Rows without the column come last
// in either direction, as Tokyo Cabinet sorts them.
func ttSortHits(hits []ttHit, col string, typ int) {
	value := func(h ttHit) ([]byte, bool) {
		if col == "" {
			return h.key, true
		}
		return h.row.get(col)
	}
	slices.SortStableFunc(hits, func(a, b ttHit) int {
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
		switch typ {
		case ttqNumAsc, ttqNumDesc:
			na, nb := ttNumber(string(va)), ttNumber(string(vb))
			switch {
			case na < nb:
				c = -1
			case na > nb:
				c = 1
			}
		default:
			c = bytes.Compare(va, vb)
		}
		if typ == ttqStrDesc || typ == ttqNumDesc {
			c = -c
		}
		return c
	})
}

// ttLimitHits applies a query's skip and limit.
func ttLimitHits(hits []ttHit, q ttQuery) []ttHit {
	if q.skip >= len(hits) {
		return nil
	}
	hits = hits[q.skip:]
	if q.limit >= 0 && q.limit < len(hits) {
		hits = hits[:q.limit]
	}
	return hits
}

// search runs a parsed search and builds misc's result list.
func (x *ttTxn) search(s ttSearch) ([][]byte, bool) {
	first := s.queries[0]
	hits := x.run(first)
	matched := len(hits)
	if len(s.queries) > 1 {
		hits = x.combine(hits, s)
		if first.ordered {
			ttSortHits(hits, first.orderCol, first.orderType)
		}
	}
	hits = ttLimitHits(hits, first)

	ok := true
	out := [][]byte{}
	for _, h := range hits {
		if s.out && !x.del(h.key) {
			ok = false
		}
		switch {
		case s.count:
		case s.get:
			out = append(out, ttProject(h, s.cols))
		default:
			out = append(out, own(h.key))
		}
	}
	if s.count {
		out = [][]byte{[]byte(strconv.Itoa(len(hits)))}
	} else if s.out && !s.get {
		out = [][]byte{}
	}
	if s.hint {
		out = append(out, ttHintElement(first, matched))
	}
	return out, ok
}

// combine merges the first sub-query's hits with the others' by s.setOp,
// keeping the order in which keys first appear.
func (x *ttTxn) combine(hits []ttHit, s ttSearch) []ttHit {
	others := make([]map[string]bool, 0, len(s.queries)-1)
	var extra []ttHit
	for _, q := range s.queries[1:] {
		set := map[string]bool{}
		for _, h := range x.run(ttQuery{conds: q.conds, limit: -1}) {
			set[string(h.key)] = true
			extra = append(extra, h)
		}
		others = append(others, set)
	}
	seen := map[string]bool{}
	var out []ttHit
	add := func(h ttHit) {
		if !seen[string(h.key)] {
			seen[string(h.key)] = true
			out = append(out, h)
		}
	}
	for _, h := range hits {
		inAll, inAny := true, false
		for _, set := range others {
			if set[string(h.key)] {
				inAny = true
			} else {
				inAll = false
			}
		}
		switch s.setOp {
		case ttqIsect:
			if inAll {
				add(h)
			}
		case ttqDiff:
			if !inAny {
				add(h)
			}
		default:
			add(h)
		}
	}
	if s.setOp == ttqUnion {
		for _, h := range extra {
			add(h)
		}
	}
	return out
}

// ttProject serialises a hit for a search with "get": every column after the
// primary key under the empty name, or only the listed columns (the empty
// name standing for the primary key).
func ttProject(h ttHit, cols []string) []byte {
	var row ttRow
	if cols == nil {
		row = append(ttRow{{name: []byte{}, value: h.key}}, h.row...)
		return row.encode()
	}
	for _, c := range cols {
		if c == "" {
			row.set("", h.key)
		} else if v, ok := h.row.get(c); ok {
			row.set(c, v)
		}
	}
	return row.encode()
}

// ttHintElement is the element a "hint" directive adds: 00 00 "[[HINT]]\n"
// and the planner's account. Every search scans the whole table. The lines
// for an ordered search are the recorded ones; "leaving the natural order"
// for a search without an order is Tokyo Cabinet's wording as far as known,
// not checked against a recording.
func ttHintElement(q ttQuery, matched int) []byte {
	var b strings.Builder
	b.WriteString("\x00\x00[[HINT]]\n")
	b.WriteString("scanning the whole table\n")
	b.WriteString("result set size: " + strconv.Itoa(matched) + "\n")
	if q.ordered {
		b.WriteString("sorting the result set: \"" + q.orderCol + "\"\n")
	} else {
		b.WriteString("leaving the natural order\n")
	}
	return []byte(b.String())
}
