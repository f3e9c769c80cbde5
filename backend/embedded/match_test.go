package embedded

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

func TestMatchKeys(t *testing.T) {
	s, _ := newStore(t, Options{})
	for _, k := range []string{"apple", "apricot", "banana", "applet", "cherry", "東京", "apply"} {
		mustSet(t, s, "", k, "1", backend.Expiry{})
	}
	mustSet(t, s, "", "apples", "1", ttl(-time.Second)) // expired: never matched
	tests := []struct {
		name  string
		m     backend.Match
		limit int64
		want  []string
	}{
		{"prefix", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("ap")}, 0, []string{"apple", "applet", "apply", "apricot"}},
		{"prefix limit", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("ap")}, 2, []string{"apple", "applet"}},
		{"prefix none", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("zz")}, 0, nil},
		{"regex", backend.Match{Kind: backend.MatchRegex, Regex: "an"}, 0, []string{"banana"}},
		{"regex anchored limit", backend.Match{Kind: backend.MatchRegex, Regex: "^a.*t$"}, 1, []string{"applet"}},
		// From "applee": apple 1, applet 1, apply 2.
		{"similar by distance then key", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("applee"), MaxDistance: 2}, 0, []string{"apple", "applet", "apply"}},
		{"similar limit", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("applee"), MaxDistance: 2}, 1, []string{"apple"}},
		{"similar distance 0", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("banana")}, 0, []string{"banana"}},
		{"similar negative distance means 1", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("banan"), MaxDistance: -3}, 0, []string{"banana"}},
		{"similar bytes", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("東京都"), MaxDistance: 1}, 0, nil},
		{"similar utf8", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("東京都"), MaxDistance: 1, UTF8: true}, 0, []string{"東京"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := s.MatchKeys(ctx, "", tt.m, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, string(k))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("MatchKeys = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestMatchSimilarOrder(t *testing.T) {
	s, _ := newStore(t, Options{})
	// Distances from "abcd": abcd 0, abce 1, zbcd 1, ab 2, abcdef 2, xbcx 2.
	for _, k := range []string{"xbcx", "abcdef", "zbcd", "ab", "abce", "abcd", "far away"} {
		mustSet(t, s, "", k, "", backend.Expiry{})
	}
	keys, err := s.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchSimilar, Origin: []byte("abcd"), MaxDistance: 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, string(k))
	}
	if want := []string{"abcd", "abce", "zbcd", "ab", "abcdef", "xbcx"}; !slices.Equal(got, want) {
		t.Errorf("order = %q; want %q (distance, then key)", got, want)
	}
}

func TestMatchKeysErrors(t *testing.T) {
	s, _ := newStore(t, Options{})
	for name, m := range map[string]backend.Match{
		"bad regex": {Kind: backend.MatchRegex, Regex: "["},
		"no kind":   {},
	} {
		if _, err := s.MatchKeys(ctx, "", m, 0); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("%s: err = %v; want ErrInvalid", name, err)
		}
	}
	if _, err := s.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix}, -1); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("negative limit: err = %v; want ErrInvalid", err)
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 5, 0},
		{"kitten", "sitting", 5, 3},
		{"kitten", "sitting", 2, 3}, // capped at limit+1
		{"abc", "", 5, 3},
		{"flaw", "lawn", 5, 2},
	}
	for _, tt := range tests {
		if got := levenshtein([]byte(tt.a), []byte(tt.b), tt.limit, never); got != tt.want {
			t.Errorf("levenshtein(%q, %q, %d) = %d; want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}

func never() bool { return false }

// fullLevenshtein is the textbook table, the reference for the banded one.
func fullLevenshtein(a, b []byte) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// The banded computation must agree with the full table wherever the
// distance is within the limit, and report limit+1 otherwise.
func TestLevenshteinBandMatchesFullTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() []byte {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		return b
	}
	for range 5000 {
		a, b, limit := word(), word(), rng.IntN(6)
		want := min(fullLevenshtein(a, b), limit+1)
		if got := levenshtein(a, b, limit, never); got != want {
			t.Fatalf("levenshtein(%q, %q, %d) = %d; want %d", a, b, limit, got, want)
		}
	}
}

func TestLevenshteinStops(t *testing.T) {
	a := make([]byte, 4*levenshteinCheckRows)
	calls := 0
	got := levenshtein(a, a, len(a), func() bool { calls++; return true })
	if got != len(a)+1 || calls != 1 {
		t.Errorf("levenshtein with stop = %d after %d looks; want %d after the first look", got, calls, len(a)+1)
	}
}

// MatchKeys walks the database a chunk at a time; nothing may be lost or
// repeated at the chunk boundaries, expired records included.
func TestMatchKeysAcrossChunks(t *testing.T) {
	s, clock := newStore(t, Options{})
	n := 2*matchChunk + 10
	var want []string
	for i := range n {
		k := fmt.Sprintf("k%05d", i)
		exp := backend.Expiry{}
		if i%matchChunk == matchChunk-1 || i%matchChunk == 0 {
			exp = ttl(time.Second) // at both sides of every chunk boundary
		} else {
			want = append(want, k)
		}
		mustSet(t, s, "", k, "v", exp)
	}
	mustSet(t, s, "", "z", "v", backend.Expiry{})
	clock.Advance(time.Second)

	strs := func(keys [][]byte) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = string(k)
		}
		return out
	}
	for name, m := range map[string]backend.Match{
		"prefix":  {Kind: backend.MatchPrefix, Prefix: []byte("k")},
		"regex":   {Kind: backend.MatchRegex, Regex: "^k"},
		"similar": {Kind: backend.MatchSimilar, Origin: []byte("k00000"), MaxDistance: 5},
	} {
		keys, err := s.MatchKeys(ctx, "", m, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := strs(keys)
		if name == "similar" {
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d keys, want %d: a chunk boundary lost or repeated a key", name, len(got), len(want))
		}
	}
	keys, err := s.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchPrefix, Prefix: []byte("k")}, int64(matchChunk+3))
	if err != nil || !slices.Equal(strs(keys), want[:matchChunk+3]) {
		t.Errorf("prefix with a limit past a chunk: %d keys, %v", len(keys), err)
	}
}

// A call cancelled during a long walk stops at the next chunk rather than
// finishing the walk.
func TestWalkKeysStopsWhenCancelled(t *testing.T) {
	s, _ := newStore(t, Options{})
	for i := range 3 * matchChunk {
		mustSet(t, s, "", fmt.Sprintf("k%05d", i), "v", backend.Expiry{})
	}
	cctx, cancel := context.WithCancel(ctx)
	chunks := 0
	err := s.walkKeys(cctx, s.dbs[0], nil, nil, func([][]byte) bool {
		chunks++
		cancel()
		return true
	})
	if !errors.Is(err, context.Canceled) || chunks != 1 {
		t.Errorf("walk = %v after %d chunks; want context.Canceled after 1", err, chunks)
	}
}
