package ttstore

import (
	"bytes"
	"context"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
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
func (t *DB) Misc(ctx context.Context, name string, args [][]byte, noLog bool) (results [][]byte, ok bool, err error) {
	err = t.local(ctx, func(x *op) {
		results, ok = x.misc(name, args)
		if !noLog {
			logged := make([][]byte, len(args))
			for i, a := range args {
				logged[i] = clone(a)
			}
			x.record(LogRecord{Op: OpMisc, Name: name, Args: logged, Failed: !ok})
		}
	})
	if !ok {
		results = nil
	}
	return results, ok, err
}

// empty is the successful result without elements.
var empty = [][]byte{}

func (x *op) misc(name string, args [][]byte) ([][]byte, bool) {
	typ := x.typ
	switch name {
	case "put", "putkeep", "putcat":
		mode := map[string]PutMode{"put": PutOver, "putkeep": PutKeep, "putcat": PutCat}[name]
		if typ == Table {
			if len(args) < 1 {
				return nil, false
			}
			row, ok := argsRow(args[1:])
			return empty, ok && x.putRow(mode, args[0], row, 0)
		}
		if len(args) < 2 {
			return nil, false
		}
		return empty, x.put(mode, args[0], args[1], 0)
	case "putdup", "putdupback":
		if typ != BTree || len(args) < 2 {
			return nil, false
		}
		x.putDup(args[0], args[1], name == "putdupback")
		return empty, true
	case "out":
		if len(args) < 1 {
			return nil, false
		}
		return empty, x.out(args[0])
	case "get":
		if len(args) < 1 {
			return nil, false
		}
		v, found := x.value(args[0])
		if !found {
			return nil, false
		}
		switch typ {
		case Table:
			out := [][]byte{}
			for _, c := range ttwire.DecodeColumns(v) {
				out = append(out, []byte(c.Name), c.Value)
			}
			return out, true
		case BTree:
			return x.values(backend.Record{Key: args[0], Value: v}), true
		default:
			return [][]byte{v}, true
		}
	case "putlist":
		ok := true
		for i := 0; i+1 < len(args); i += 2 {
			switch typ {
			case BTree:
				x.putDup(args[i], args[i+1], false)
			case Table:
				ok = x.putRow(PutOver, args[i], args[i+1], 0) && ok
			default:
				ok = x.put(PutOver, args[i], args[i+1], 0) && ok
			}
		}
		return empty, ok
	case "outlist":
		for _, k := range args {
			x.del(k)
		}
		return empty, true
	case "getlist":
		out := [][]byte{}
		for _, k := range args {
			v, found := x.value(k)
			if !found {
				continue
			}
			for _, v := range x.values(backend.Record{Key: k, Value: v}) {
				out = append(out, clone(k), v)
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
		x.iter = iterState{at: start != nil, key: clone(start)}
		return empty, true
	case "iternext":
		k, v, ok := x.iterNext()
		if !ok {
			return nil, false
		}
		return [][]byte{k, v}, true
	case "sync", "optimize", "defrag", "cacheclear":
		return empty, true
	case "vanish":
		x.vanish()
		return empty, true
	case "error":
		return [][]byte{[]byte("0: success")}, true
	case "regex":
		return x.regex(args)
	case "range":
		if typ != BTree {
			return nil, false
		}
		return x.rangeList(args), true
	case "setindex":
		if typ != Table || len(args) < 2 {
			return nil, false
		}
		ok := true
		for i := 0; i+1 < len(args); i += 2 {
			it, keep, valid := parseIndexType(string(args[i+1]))
			if !valid || !x.setIndex(string(args[i]), it, keep) {
				ok = false
			}
		}
		return empty, ok
	case "search", "metasearch":
		if typ != Table {
			return nil, false
		}
		return x.search(parseSearch(args, name == "metasearch"))
	case "genuid":
		if typ != Table {
			return nil, false
		}
		id := x.genUID()
		return [][]byte{id}, id != nil
	}
	return nil, false
}

// getPart returns [value[offset:offset+length]]; it fails when offset is
// not inside the value.
func (x *op) getPart(args [][]byte) ([][]byte, bool) {
	if len(args) < 1 {
		return nil, false
	}
	v, found := x.value(args[0])
	if !found {
		return nil, false
	}
	off := int64(0)
	if len(args) > 1 {
		off = max(atoi(string(args[1])), 0)
	}
	length := int64(-1)
	if len(args) > 2 {
		length = atoi(string(args[2]))
	}
	if off >= int64(len(v)) {
		return nil, false
	}
	v = v[off:]
	if length >= 0 && length < int64(len(v)) {
		v = v[:length]
	}
	return [][]byte{v}, true
}

// regex returns key/value pairs of the records whose keys match args[0],
// at most args[1] pairs (< 1: no limit). A pattern that does not compile
// matches nothing; a leading "*" makes it case-insensitive.
func (x *op) regex(args [][]byte) ([][]byte, bool) {
	if len(args) < 1 {
		return nil, false
	}
	limit := int64(0)
	if len(args) > 1 {
		limit = atoi(string(args[1]))
	}
	out := [][]byte{}
	re, err := compileRegex(string(args[0]))
	if err != nil {
		return out, true
	}
	for _, r := range x.scan(backend.ScanOptions{}) {
		if !re.Match(r.Key) {
			continue
		}
		for _, v := range x.values(r) {
			if limit >= 1 && int64(len(out)/2) >= limit {
				return out, true
			}
			out = append(out, r.Key, v)
		}
	}
	return out, true
}

// rangeList returns key/value pairs from begin (inclusive) up to end
// (exclusive), at most max pairs (< 1: no limit).
func (x *op) rangeList(args [][]byte) [][]byte {
	var opts backend.ScanOptions
	limit := int64(0)
	if len(args) > 0 {
		opts.Start = args[0]
	}
	if len(args) > 1 {
		limit = atoi(string(args[1]))
	}
	var end []byte
	if len(args) > 2 {
		end = args[2]
	}
	out := [][]byte{}
	for _, r := range x.scan(opts) {
		if end != nil && bytes.Compare(r.Key, end) >= 0 {
			break
		}
		for _, v := range x.values(r) {
			if limit >= 1 && int64(len(out)/2) >= limit {
				return out
			}
			out = append(out, r.Key, v)
		}
	}
	return out
}
