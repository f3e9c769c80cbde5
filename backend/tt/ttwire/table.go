package ttwire

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNUL is returned for a column name, column value or query token that
// contains a NUL byte: table records and query directives are NUL-separated,
// so such bytes cannot be represented.
var ErrNUL = errors.New("contains a NUL byte, which Tokyo Tyrant's table encoding uses as separator")

// Column is one named column of a table record, in stored order.
type Column struct {
	Name  string
	Value []byte
}

// EncodeColumns serialises columns the way a table database's plain
// commands (put, get, mget, putlist, getlist) and search results carry
// them: name NUL value NUL name NUL value, with no trailing NUL.
func EncodeColumns(cols []Column) ([]byte, error) {
	var b []byte
	for i, c := range cols {
		if strings.IndexByte(c.Name, 0) >= 0 {
			return nil, fmt.Errorf("column name %q %w", c.Name, ErrNUL)
		}
		if bytes.IndexByte(c.Value, 0) >= 0 {
			return nil, fmt.Errorf("value of column %q %w", c.Name, ErrNUL)
		}
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, c.Name...)
		b = append(b, 0)
		b = append(b, c.Value...)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// DecodeColumns splits a serialised record into its columns. Like the
// server, it pairs the NUL-separated pieces up and drops an unpaired trailing
// name, so a value without any NUL holds no column at all.
func DecodeColumns(b []byte) []Column {
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	cols := make([]Column, 0, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		cols = append(cols, Column{Name: string(parts[i]), Value: parts[i+1]})
	}
	return cols
}

// Condition operators of table queries (addcond). The flags are added to
// the operator's number.
const (
	OpStrEq     = 0
	OpStrInc    = 1
	OpStrBW     = 2
	OpStrEW     = 3
	OpStrAnd    = 4
	OpStrOr     = 5
	OpStrOrEq   = 6
	OpStrRx     = 7
	OpNumEq     = 8
	OpNumGT     = 9
	OpNumGE     = 10
	OpNumLT     = 11
	OpNumLE     = 12
	OpNumBT     = 13
	OpNumOrEq   = 14
	OpFTSPhrase = 15
	OpFTSAnd    = 16
	OpFTSOr     = 17
	OpFTSEx     = 18
	FlagNegate  = 1 << 24
	FlagNoIndex = 1 << 25
)

// Index types of setindex, beyond the four kinds 0 (lexical), 1
// (decimal), 2 (token) and 3 (q-gram). IndexKeep is added to the number.
const (
	IndexOpt  = 9998
	IndexVoid = 9999
	IndexKeep = 1 << 24
)

// Order types of setorder.
const (
	OrderStrAsc  = 0
	OrderStrDesc = 1
	OrderNumAsc  = 2
	OrderNumDesc = 3
)

// Set operations of metasearch (mstype).
const (
	MSUnion = 0
	MSIsect = 1
	MSDiff  = 2
)

// Directives without arguments.
var (
	DirOut   = []byte("out")
	DirCount = []byte("count")
	DirHint  = []byte("hint")
	DirNext  = []byte("next")
)

// HintPrefix starts the extra element a query with the hint directive
// returns.
var HintPrefix = []byte("\x00\x00[[HINT]]\n")

// IsHint reports whether a search result element is the planner hint.
func IsHint(elem []byte) bool { return bytes.HasPrefix(elem, HintPrefix) }

func directive(tokens ...string) ([]byte, error) {
	for _, t := range tokens {
		if strings.IndexByte(t, 0) >= 0 {
			return nil, fmt.Errorf("query token %q %w", t, ErrNUL)
		}
	}
	return []byte(strings.Join(tokens, "\x00")), nil
}

// CondDirective encodes addcond: column ("" is the primary key), the
// operator number with FlagNegate / FlagNoIndex added, and the expression.
func CondDirective(column string, op int, expr string) ([]byte, error) {
	return directive("addcond", column, strconv.Itoa(op), expr)
}

// OrderDirective encodes setorder.
func OrderDirective(column string, typ int) ([]byte, error) {
	return directive("setorder", column, strconv.Itoa(typ))
}

// LimitDirective encodes setlimit; a negative max means no limit.
func LimitDirective(max, skip int64) []byte {
	return []byte("setlimit\x00" + strconv.FormatInt(max, 10) + "\x00" + strconv.FormatInt(skip, 10))
}

// GetDirective encodes get: return records instead of keys, projected to
// columns when any are named ("" names the primary key).
func GetDirective(columns ...string) ([]byte, error) {
	return directive(append([]string{"get"}, columns...)...)
}

// MSTypeDirective encodes metasearch's mstype.
func MSTypeDirective(typ int) []byte {
	return []byte("mstype\x00" + strconv.Itoa(typ))
}

// SplitDirective splits a query argument into its NUL-separated tokens; the
// first is the verb.
func SplitDirective(arg []byte) []string {
	parts := bytes.Split(arg, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// SetIndexArgs is the argument list of misc setindex for one column.
func SetIndexArgs(column string, typ int, keep bool) ([][]byte, error) {
	if strings.IndexByte(column, 0) >= 0 {
		return nil, fmt.Errorf("column name %q %w", column, ErrNUL)
	}
	if keep {
		typ |= IndexKeep
	}
	return [][]byte{[]byte(column), []byte(strconv.Itoa(typ))}, nil
}

var condNames = map[string]int{
	"STREQ": OpStrEq, "STR": OpStrEq, "EQ": OpStrEq,
	"STRINC": OpStrInc, "INC": OpStrInc,
	"STRBW": OpStrBW, "BW": OpStrBW,
	"STREW": OpStrEW, "EW": OpStrEW,
	"STRAND": OpStrAnd, "AND": OpStrAnd,
	"STROR": OpStrOr, "OR": OpStrOr,
	"STROREQ": OpStrOrEq, "OREQ": OpStrOrEq,
	"STRRX": OpStrRx, "RX": OpStrRx,
	"NUMEQ": OpNumEq, "NUM": OpNumEq, "=": OpNumEq, "==": OpNumEq,
	"NUMGT": OpNumGT, ">": OpNumGT,
	"NUMGE": OpNumGE, ">=": OpNumGE,
	"NUMLT": OpNumLT, "<": OpNumLT,
	"NUMLE": OpNumLE, "<=": OpNumLE,
	"NUMBT":   OpNumBT,
	"NUMOREQ": OpNumOrEq,
	"FTSPH":   OpFTSPhrase, "FTS": OpFTSPhrase,
	"FTSAND": OpFTSAnd,
	"FTSOR":  OpFTSOr,
	"FTSEX":  OpFTSEx,
}

var orderNames = map[string]int{
	"STRASC": OrderStrAsc, "STR": OrderStrAsc, "ASC": OrderStrAsc,
	"STRDESC": OrderStrDesc, "DESC": OrderStrDesc,
	"NUMASC": OrderNumAsc, "NUM": OrderNumAsc,
	"NUMDESC": OrderNumDesc,
}

var indexNames = map[string]int{
	"LEX": 0, "LEXICAL": 0, "STR": 0,
	"DEC": 1, "DECIMAL": 1, "NUM": 1,
	"TOK": 2, "TOKEN": 2,
	"QGR": 3, "QGRAM": 3, "FTS": 3,
	"OPT": IndexOpt, "OPTIMIZE": IndexOpt,
	"VOID": IndexVoid, "NULL": IndexVoid,
}

var msNames = map[string]int{
	"UNION": MSUnion, "OR": MSUnion,
	"ISECT": MSIsect, "INTERSECTION": MSIsect, "AND": MSIsect,
	"DIFF": MSDiff, "DIFFERENCE": MSDiff, "ANDNOT": MSDiff, "NOT": MSDiff,
}

func lookup(names map[string]int, s string) (int, bool) {
	if v, ok := names[upperASCII(s)]; ok {
		return v, true
	}
	v, err := strconv.Atoi(s)
	return v, err == nil
}

// upperASCII upper-cases ASCII letters only, as the server's name lookups
// do (strings.ToUpper would also fold letters such as U+017F to 'S').
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// ParseCondOp reads an addcond operator token as the server does: an
// optional "~" or "!" (negate), an optional "+" (no index), then a name
// (any case) or a decimal number, which may carry the flags itself.
func ParseCondOp(s string) (int, bool) {
	flags := 0
	if strings.HasPrefix(s, "~") || strings.HasPrefix(s, "!") {
		flags |= FlagNegate
		s = s[1:]
	}
	if strings.HasPrefix(s, "+") {
		flags |= FlagNoIndex
		s = s[1:]
	}
	v, ok := lookup(condNames, s)
	return v | flags, ok
}

// ParseOrderType reads a setorder type token.
func ParseOrderType(s string) (int, bool) { return lookup(orderNames, s) }

// ParseIndexType reads a setindex type token; a leading "+" adds IndexKeep.
func ParseIndexType(s string) (int, bool) {
	flags := 0
	if strings.HasPrefix(s, "+") {
		flags = IndexKeep
		s = s[1:]
	}
	v, ok := lookup(indexNames, s)
	return v | flags, ok
}

// ParseMSType reads a metasearch mstype token.
func ParseMSType(s string) (int, bool) { return lookup(msNames, s) }

// ParseStat reads stat's text: one "name TAB value" per line.
func ParseStat(text []byte) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(string(text), "\n") {
		if line == "" {
			continue
		}
		name, value, _ := strings.Cut(line, "\t")
		m[name] = value
	}
	return m
}
