package kttest

// The key-matching procedures: match_prefix, match_regex and
// match_similar.

import (
	"errors"
	"math"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// matchLimit reads max: absent or negative is no limit (-1 here), 0 none.
func (r *rpcCall) matchLimit() int64 {
	m, ok := r.in["max"]
	if !ok {
		return -1
	}
	return max(-1, ktwire.Atoi(m))
}

// match runs a key match and writes "_<key>" = rank and num.
func (r *rpcCall) match(m backend.Match) rv {
	limit := r.matchLimit()
	var keys [][]byte
	if limit != 0 {
		var err error
		keys, err = r.s.store.MatchKeys(r.s.ctx, dbName(r.db), m, max(0, limit))
		switch {
		case m.Kind == backend.MatchRegex && errors.Is(err, backend.ErrInvalid):
			return r.fail(ScriptLogic, msgCompile)
		case err != nil:
			return r.failErr(err)
		}
	}
	for i, k := range keys {
		r.out["_"+string(k)] = strconv.Itoa(i)
	}
	r.out["num"] = strconv.Itoa(len(keys))
	return ScriptOK
}

func rpcMatchPrefix(r *rpcCall) rv {
	prefix := r.bytesOf("prefix")
	if prefix == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	return r.match(backend.Match{Kind: backend.MatchPrefix, Prefix: prefix})
}

func rpcMatchRegex(r *rpcCall) rv {
	re, ok := r.in["regex"]
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	return r.match(backend.Match{Kind: backend.MatchRegex, Regex: re})
}

func rpcMatchSimilar(r *rpcCall) rv {
	origin := r.bytesOf("origin")
	if origin == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	dist := int64(1)
	if rs, ok := r.in["range"]; ok {
		dist = ktwire.Atoi(rs)
	}
	if dist < 0 {
		dist = 1
	}
	return r.match(backend.Match{Kind: backend.MatchSimilar, Origin: origin, MaxDistance: int(min(dist, math.MaxInt32)), UTF8: r.has("utf")})
}
