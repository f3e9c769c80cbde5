package embedded

import (
	"errors"
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
		if got := levenshtein([]byte(tt.a), []byte(tt.b), tt.limit); got != tt.want {
			t.Errorf("levenshtein(%q, %q, %d) = %d; want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}
