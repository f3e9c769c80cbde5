package ktwire_test

import (
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// Atoi skips every byte from 1 to ' ' before the number, as Kyoto
// Cabinet's atoi does, not only the blanks C's isspace names.
func TestAtoiSkipsControlBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"42": 42, " \t-7x": -7, "\x01\x1f+12": 12, "": 0, "x1": 0, "\x0012": 0,
	} {
		if got := ktwire.Atoi(in); got != want {
			t.Errorf("Atoi(%q) = %d, want %d", in, got, want)
		}
	}
}
