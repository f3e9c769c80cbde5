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
)

// MatchKeys lists live keys matching m, at most limit of them (0: no limit).
// Prefix and regex matches come in key order (regexes are RE2, matched
// against the raw key bytes); similar matches come by increasing Levenshtein
// distance, then key, counted in bytes or, with m.UTF8, in characters. A
// negative MaxDistance means 1, as in Kyoto Tycoon; 0 matches the origin
// only.
func (s *Store) MatchKeys(ctx context.Context, db string, m backend.Match, limit int64) ([][]byte, error) {
	d, err := s.database(db)
	if err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("embedded: match limit %d is negative (0 means no limit): %w", limit, backend.ErrInvalid)
	}
	var keep func(key []byte) bool
	switch m.Kind {
	case backend.MatchPrefix:
		prefix := m.Prefix
		keep = func(key []byte) bool { return bytes.HasPrefix(key, prefix) }
	case backend.MatchRegex:
		re, err := regexp.Compile(m.Regex)
		if err != nil {
			return nil, fmt.Errorf("embedded: bad regular expression %q: %v: %w", m.Regex, err, backend.ErrInvalid)
		}
		keep = re.Match
	case backend.MatchSimilar:
		return s.matchSimilar(ctx, d, m, limit)
	default:
		return nil, fmt.Errorf("embedded: unknown match kind %d (want prefix, regex or similar): %w", int(m.Kind), backend.ErrInvalid)
	}
	var out [][]byte
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		visit := func(r record) bool {
			if m.Kind == backend.MatchPrefix && !bytes.HasPrefix(r.key, m.Prefix) {
				return false // past the prefix range in key order
			}
			if !r.expired(now) && keep(r.key) {
				out = append(out, own(r.key))
			}
			return limit == 0 || int64(len(out)) < limit
		}
		if m.Kind == backend.MatchPrefix {
			d.recs.AscendGreaterOrEqual(record{key: m.Prefix}, visit)
		} else {
			d.recs.Ascend(visit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
	var originRunes []rune
	if m.UTF8 {
		originRunes = []rune(string(m.Origin))
	}
	err := s.view(ctx, d, func(d *database, now time.Time) error {
		d.recs.Ascend(func(r record) bool {
			if r.expired(now) {
				return true
			}
			var dist int
			if m.UTF8 {
				dist = levenshtein(originRunes, []rune(string(r.key)), maxDist)
			} else {
				dist = levenshtein(m.Origin, r.key, maxDist)
			}
			if dist <= maxDist {
				hits = append(hits, hit{key: r.key, dist: dist})
			}
			return true
		})
		return nil
	})
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

// levenshtein returns the edit distance between a and b, or limit+1 as soon
// as it is known to exceed limit.
func levenshtein[T comparable](a, b []T, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit+1)
}
