package embedded

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"time"
)

// Misc calls a misc function the way TT's misc command does (Tokyo
// Cabinet's tcadbmisc): results are the elements of the reply and ok is
// TT's success status. Which functions exist depends on the database type;
// an unknown function or a wrong argument count fails. The call is logged,
// reads included, unless noLog (TT's RDBMONOULOG).
//
// Functions: put, putkeep, putcat, out, get, putlist, outlist, getlist,
// getpart, iterinit, iternext, sync, optimize, vanish, error, defrag,
// cacheclear and regex everywhere; putdup, putdupback and range on a B+
// tree; setindex, search, metasearch and genuid on a table.
func (t *TTDB) Misc(ctx context.Context, name string, args [][]byte, noLog bool) (results [][]byte, ok bool, err error) {
	err = t.local(ctx, "tt_misc", func(x *ttTxn) error {
		results, ok = x.misc(name, args)
		if !noLog {
			logged := make([][]byte, len(args))
			for i, a := range args {
				logged[i] = own(a)
			}
			x.record(TTLogRecord{Op: TTOpMisc, Name: name, Args: logged, Failed: !ok})
		}
		return nil
	})
	if !ok {
		results = nil
	}
	return results, ok, err
}

// ttEmpty is the successful result without elements.
var ttEmpty = [][]byte{}

func (x *ttTxn) misc(name string, args [][]byte) ([][]byte, bool) {
	typ := x.tt.typ
	switch name {
	case "put", "putkeep", "putcat":
		mode := map[string]TTPutMode{"put": TTPutOver, "putkeep": TTPutKeep, "putcat": TTPutCat}[name]
		if typ == TTTable {
			if len(args) < 1 {
				return nil, false
			}
			return ttEmpty, x.putRow(mode, args[0], ttRowFromArgs(args[1:]), 0, nil)
		}
		if len(args) < 2 {
			return nil, false
		}
		return ttEmpty, x.put(mode, args[0], args[1], 0)
	case "putdup", "putdupback":
		if typ != TTBTree || len(args) < 2 {
			return nil, false
		}
		x.putDup(args[0], args[1], name == "putdupback")
		return ttEmpty, true
	case "out":
		if len(args) < 1 {
			return nil, false
		}
		return ttEmpty, x.out(args[0])
	case "get":
		if len(args) < 1 {
			return nil, false
		}
		r, found := x.d.live(args[0], x.now)
		if !found {
			return nil, false
		}
		switch typ {
		case TTTable:
			return ttParseRow(r.value).pairs(), true
		case TTBTree:
			return ttOwnAll(x.tt.values(r, x.now)), true
		default:
			return [][]byte{own(r.value)}, true
		}
	case "putlist":
		ok := true
		for i := 0; i+1 < len(args); i += 2 {
			switch typ {
			case TTBTree:
				x.putDup(args[i], args[i+1], false)
			case TTTable:
				ok = x.putRow(TTPutOver, args[i], ttParseRow(args[i+1]), 0, nil) && ok
			default:
				ok = x.put(TTPutOver, args[i], args[i+1], 0) && ok
			}
		}
		return ttEmpty, ok
	case "outlist":
		for _, k := range args {
			x.del(k)
		}
		return ttEmpty, true
	case "getlist":
		out := [][]byte{}
		for _, k := range args {
			r, found := x.d.live(k, x.now)
			if !found {
				continue
			}
			for _, v := range x.tt.values(r, x.now) {
				out = append(out, own(k), own(v))
			}
		}
		return out, true
	case "getpart":
		return x.getPart(args)
	case "iterinit":
		var start []byte
		if len(args) > 0 {
			start = args[0]
		}
		x.tt.iter = ttIter{at: start != nil, key: own(start)}
		return ttEmpty, true
	case "iternext":
		k, v, ok := x.tt.iterNext(x.now)
		if !ok {
			return nil, false
		}
		return [][]byte{k, v}, true
	case "sync", "optimize", "defrag", "cacheclear":
		return ttEmpty, true
	case "vanish":
		x.vanish()
		return ttEmpty, true
	case "error":
		return [][]byte{[]byte("0: success")}, true
	case "regex":
		return x.regex(args)
	case "range":
		if typ != TTBTree {
			return nil, false
		}
		return x.rangeList(args), true
	case "setindex":
		if typ != TTTable || len(args) < 2 {
			return nil, false
		}
		ok := true
		for i := 0; i+1 < len(args); i += 2 {
			it, keep, valid := ttParseIndexType(string(args[i+1]))
			if !valid || !x.setIndex(string(args[i]), it, keep) {
				ok = false
			}
		}
		return ttEmpty, ok
	case "search", "metasearch":
		if typ != TTTable {
			return nil, false
		}
		return x.search(ttParseSearch(args, name == "metasearch"))
	case "genuid":
		if typ != TTTable {
			return nil, false
		}
		x.tt.uid++
		return [][]byte{[]byte(strconv.FormatInt(x.tt.uid, 10))}, true
	}
	return nil, false
}

// ttOwnAll copies every slice.
func ttOwnAll(list [][]byte) [][]byte {
	out := make([][]byte, len(list))
	for i, b := range list {
		out[i] = own(b)
	}
	return out
}

// getPart returns [value[offset:offset+length]]; it fails when offset is
// not inside the value.
func (x *ttTxn) getPart(args [][]byte) ([][]byte, bool) {
	if len(args) < 1 {
		return nil, false
	}
	r, found := x.d.live(args[0], x.now)
	if !found {
		return nil, false
	}
	off := int64(0)
	if len(args) > 1 {
		off = max(ttAtoi(string(args[1])), 0)
	}
	length := int64(-1)
	if len(args) > 2 {
		length = ttAtoi(string(args[2]))
	}
	v := r.value
	if off >= int64(len(v)) {
		return nil, false
	}
	v = v[off:]
	if length >= 0 && length < int64(len(v)) {
		v = v[:length]
	}
	return [][]byte{own(v)}, true
}

// ttCompileRegex compiles a pattern of the regex function and of STRRX
// conditions: a leading "*" makes it case-insensitive.
func ttCompileRegex(p string) (*regexp.Regexp, error) {
	if len(p) > 0 && p[0] == '*' {
		p = "(?i)" + p[1:]
	}
	return regexp.Compile(p)
}

// regex returns key/value pairs of the records whose keys match args[0],
// at most args[1] pairs (< 1: no limit). A pattern that does not compile
// matches nothing.
func (x *ttTxn) regex(args [][]byte) ([][]byte, bool) {
	if len(args) < 1 {
		return nil, false
	}
	limit := int64(0)
	if len(args) > 1 {
		limit = ttAtoi(string(args[1]))
	}
	out := [][]byte{}
	re, err := ttCompileRegex(string(args[0]))
	if err != nil {
		return out, true
	}
	x.d.recs.Ascend(func(r record) bool {
		if r.expired(x.now) || !re.Match(r.key) {
			return true
		}
		for _, v := range x.tt.values(r, x.now) {
			if limit >= 1 && int64(len(out)/2) >= limit {
				return false
			}
			out = append(out, own(r.key), own(v))
		}
		return true
	})
	return out, true
}

// rangeList returns key/value pairs from begin (inclusive) up to end
// (exclusive), at most max pairs (< 1: no limit).
func (x *ttTxn) rangeList(args [][]byte) [][]byte {
	var begin, end []byte
	limit := int64(0)
	if len(args) > 0 {
		begin = args[0]
	}
	if len(args) > 1 {
		limit = ttAtoi(string(args[1]))
	}
	if len(args) > 2 {
		end = args[2]
	}
	out := [][]byte{}
	visit := func(r record) bool {
		if end != nil && bytes.Compare(r.key, end) >= 0 {
			return false
		}
		if r.expired(x.now) {
			return true
		}
		for _, v := range x.tt.values(r, x.now) {
			if limit >= 1 && int64(len(out)/2) >= limit {
				return false
			}
			out = append(out, own(r.key), own(v))
		}
		return true
	}
	if begin == nil {
		x.d.recs.Ascend(visit)
	} else {
		x.d.recs.AscendGreaterOrEqual(record{key: begin}, visit)
	}
	return out
}

// liveRows calls fn with each live row in key order until it returns false.
func (x *ttTxn) liveRows(now time.Time, fn func(key []byte, row ttRow) bool) {
	x.d.recs.Ascend(func(r record) bool {
		if r.expired(now) {
			return true
		}
		return fn(r.key, ttParseRow(r.value))
	})
}
