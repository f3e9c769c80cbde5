package embedded

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/keyrange"
)

// matchChunk is how many records MatchKeys examines per turn of the read
// lock. Between turns writers get in and a cancelled call stops, so that a
// pattern run over a large database neither stalls the store nor outlives
// its caller.
const matchChunk = 1024

// levenshteinCheckRows is how many rows of the edit-distance table are
// computed between looks at the caller's context: long keys compared within
// a large distance cost a lot per key.
const levenshteinCheckRows = 256

// MatchKeys lists live keys matching m, at most limit of them (0: no limit).
// Prefix and regex matches come in key order; similar matches come by
// increasing Levenshtein distance, then key, counted in bytes or, with
// m.UTF8, in characters. A negative MaxDistance means 1, as in Kyoto
// Tycoon; 0 matches the origin only.
//
// Kyoto Tycoon hands keys to C string functions in two places, and the
// store does the same so that both answer alike: a regex (RE2 here, matched
// byte by byte as POSIX expressions are in the C locale) sees a key only up
// to its first NUL byte, and a UTF-8 similarity match decodes
// the origin only up to its first NUL and reads both origin and keys with
// Kyoto Cabinet's lenient decoder (see kcChars).
//
// The database is walked a chunk at a time, like Scan, so records written
// meanwhile are seen or not depending on where they fall.
func (s *Store) MatchKeys(ctx context.Context, db string, m backend.Match, limit int64) ([][]byte, error) {
	d, err := s.database(db)
	if err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("embedded: match limit %d is negative (0 means no limit): %w", limit, backend.ErrInvalid)
	}
	var (
		keep     func(key []byte) bool
		from, to []byte
	)
	switch m.Kind {
	case backend.MatchPrefix:
		prefix := m.Prefix
		keep = func(key []byte) bool { return bytes.HasPrefix(key, prefix) }
		if len(prefix) > 0 {
			from, to = prefix, keyrange.PrefixEnd(prefix)
		}
	case backend.MatchRegex:
		re, err := regexp.Compile(latin1(m.Regex))
		if err != nil {
			return nil, fmt.Errorf("embedded: bad regular expression %q: %v: %w", m.Regex, err, backend.ErrInvalid)
		}
		keep = func(key []byte) bool { return re.MatchString(latin1(string(cString(key)))) }
	case backend.MatchSimilar:
		return s.matchSimilar(ctx, d, m, limit)
	default:
		return nil, fmt.Errorf("embedded: unknown match kind %d (want prefix, regex or similar): %w", int(m.Kind), backend.ErrInvalid)
	}
	var out [][]byte
	err = s.walkKeys(ctx, d, from, to, func(keys [][]byte) bool {
		for _, k := range keys {
			if keep(k) {
				out = append(out, own(k))
				if limit > 0 && int64(len(out)) >= limit {
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkKeys hands fn the live keys of d in [from, to) (nil: open), in key
// order, matchChunk records per turn of the read lock; fn returns false to
// stop. The keys are the store's own: they never change, so fn may read
// them after the lock is released, but it must copy what it keeps.
func (s *Store) walkKeys(ctx context.Context, d *database, from, to []byte, fn func(keys [][]byte) bool) error {
	resume, inclusive := from, true
	for {
		var (
			keys     [][]byte
			last     []byte
			examined int
		)
		err := s.view(ctx, d, func(d *database, now time.Time) error {
			visit := func(r record) bool {
				if to != nil && bytes.Compare(r.key, to) >= 0 {
					return false
				}
				if !inclusive && bytes.Equal(r.key, resume) {
					return true
				}
				last = r.key
				examined++
				if !r.expired(now) {
					keys = append(keys, r.key)
				}
				return examined < matchChunk
			}
			if resume == nil {
				d.recs.Ascend(visit)
			} else {
				d.recs.AscendGreaterOrEqual(record{key: resume}, visit)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) > 0 && !fn(keys) {
			return nil
		}
		if examined < matchChunk {
			return nil
		}
		resume, inclusive = last, false
	}
}

func (s *Store) matchSimilar(ctx context.Context, d *database, m backend.Match, limit int64) ([][]byte, error) {
	maxDist := m.MaxDistance
	if maxDist < 0 {
		maxDist = 1
	}
	maxDist = min(maxDist, math.MaxInt32) // keeps limit+1 from overflowing
	type hit struct {
		key  []byte
		dist int
	}
	var hits []hit
	var originChars []rune
	if m.UTF8 {
		originChars = kcChars(cString(m.Origin))
	}
	stop := func() bool { return ctx.Err() != nil }
	err := s.walkKeys(ctx, d, nil, nil, func(keys [][]byte) bool {
		for _, k := range keys {
			var dist int
			if m.UTF8 {
				dist = levenshtein(originChars, kcChars(k), maxDist, stop)
			} else {
				dist = levenshtein(m.Origin, k, maxDist, stop)
			}
			if dist <= maxDist {
				hits = append(hits, hit{key: k, dist: dist})
			}
		}
		return true
	})
	if err == nil {
		// The last chunk's distances may have been cut short.
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	// The walk is in key order, so a stable sort by distance keeps keys
	// ordered within a distance.
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].dist < hits[j].dist })
	if limit > 0 && int64(len(hits)) > limit {
		hits = hits[:limit]
	}
	out := make([][]byte, len(hits))
	for i, h := range hits {
		out[i] = own(h.key)
	}
	return out, nil
}

// latin1 maps every byte of s to the character of the same number, so that
// a regular expression matches byte by byte, as Kyoto Tycoon's POSIX
// expressions do in the C locale: "." is one byte, not one UTF-8 character.
func latin1(s string) string {
	r := make([]rune, len(s))
	for i := range len(s) {
		r[i] = rune(s[i])
	}
	return string(r)
}

// cString returns b up to its first NUL byte: what a C string function sees
// of it.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// kcChars decodes b into characters the way Kyoto Cabinet's UTF-8 decoder
// does, which is not Go's: a lead byte takes as many following bytes as it
// announces whatever they are (a NUL among them, or the end of b, leaves
// the lead byte alone instead), the result is kept only when it is not an
// overlong form, and bytes 0xfe and 0xff are dropped. A stray continuation
// byte is read as the lead of a two-byte sequence.
func kcChars(b []byte) []rune {
	at := func(i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := uint32(b[i])
		var n int
		var lowest uint32
		switch {
		case c < 0x80:
			out = append(out, rune(c))
			continue
		case c < 0xe0:
			n, lowest, c = 1, 0x80, c&0x1f
		case c < 0xf0:
			n, lowest, c = 2, 0x800, c&0x0f
		case c < 0xf8:
			n, lowest, c = 3, 0x10000, c&0x07
		case c < 0xfc:
			n, lowest, c = 4, 0x200000, c&0x03
		case c < 0xfe:
			n, lowest, c = 5, 0x4000000, c&0x01
		default:
			continue
		}
		complete := true
		for j := 1; j <= n; j++ {
			if at(i+j) == 0 {
				complete = false
				break
			}
		}
		if !complete {
			continue
		}
		for j := 1; j <= n; j++ {
			c = c<<6 | uint32(at(i+j)&0x3f)
		}
		if c >= lowest {
			out = append(out, rune(c))
		}
		i += n
	}
	return out
}

// levenshtein returns the edit distance between a and b, or limit+1 as soon
// as it is known to exceed limit. Only the cells within limit of the
// diagonal can stay within limit, so only those are computed: the cost is
// len(a) times 2*limit+1 at most. stop is consulted every
// levenshteinCheckRows rows; when it reports true the result is limit+1 and
// the caller must discard it.
func levenshtein[T comparable](a, b []T, limit int, stop func() bool) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	inf := limit + 1
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = min(j, inf)
	}
	for i := 1; i <= len(a); i++ {
		if i%levenshteinCheckRows == 0 && stop() {
			return inf
		}
		lo, hi := max(1, i-limit), min(len(b), i+limit)
		// The cell left of the band reads as out of reach; so does the one
		// right of it for the next row, which would otherwise see a value
		// left over from an earlier row.
		if lo == 1 {
			cur[0] = min(i, inf)
		} else {
			cur[lo-1] = inf
		}
		rowMin := cur[lo-1]
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost, inf)
			rowMin = min(rowMin, cur[j])
		}
		if hi < len(b) {
			cur[hi+1] = inf
		}
		if rowMin > limit {
			return inf
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], inf)
}
