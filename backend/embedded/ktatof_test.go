package embedded

import (
	"math"
	"testing"
)

func TestKTAtof(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
	}{
		{"1e2", 100},
		{"0.1", 0.1},
		{"  -2.5", -2.5},
		{"+3", 3},
		{"0.0000001", 1e-07},
		// Only 16 significant digits are read.
		{"123456.78901234568", 123456.7890123456},
		{"0.12345678901234567890", 0.1234567890123456},
		{"1.5e-3", 0.0015},
		{"12abc", 12},
		{"abc", 0},
		{"", 0},
	} {
		if got := KTAtof(c.in); got != c.want {
			t.Errorf("KTAtof(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := KTAtof(" -Inf"); !math.IsInf(got, -1) {
		t.Errorf("KTAtof(-Inf) = %v", got)
	}
	if got := KTAtof("nan"); !math.IsNaN(got) {
		t.Errorf("KTAtof(nan) = %v", got)
	}
}
