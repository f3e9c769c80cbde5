package ttwire

import "math"

// FractScale is the factor of adddouble's fraction field: the fractional part
// travels as a count of trillionths.
const FractScale = 1e12

// Double is adddouble's 16-byte number: the integer part, cut toward zero,
// and the fractional part in trillionths with the same sign. It is kept in
// this form, not as a float64, so that decoding and re-encoding give back
// the same bytes.
type Double struct {
	Integ int64
	Fract int64
}

// maxExact is 2^63: the first magnitude whose integer part no longer fits an
// int64.
const maxExact = 9223372036854775808.0

// PackDouble converts f the way the server does. NaN and the infinities have
// reserved forms; a finite value whose integer part does not fit an int64 is
// packed as the infinity of its sign (see FitsDouble).
func PackDouble(f float64) Double {
	switch {
	case math.IsNaN(f):
		return Double{math.MinInt64, math.MinInt64}
	case f >= maxExact:
		return Double{math.MaxInt64, 0}
	case f <= -maxExact:
		return Double{math.MinInt64, 0}
	}
	ip, fp := math.Modf(f)
	return Double{Integ: int64(ip), Fract: int64(math.Trunc(fp * FractScale))}
}

// FitsDouble reports whether f survives PackDouble without becoming NaN or
// an infinity (up to the 10^-12 resolution of the fraction).
func FitsDouble(f float64) bool {
	return !math.IsNaN(f) && f < maxExact && f > -maxExact
}

// Float64 decodes the number the way the server does.
func (d Double) Float64() float64 {
	switch {
	case d.Integ == math.MinInt64 && d.Fract == math.MinInt64:
		return math.NaN()
	case d.Integ == math.MaxInt64:
		return math.Inf(1)
	case d.Integ == math.MinInt64:
		return math.Inf(-1)
	}
	return float64(d.Integ) + float64(d.Fract)/FractScale
}

func appendDouble(dst []byte, d Double) []byte {
	dst = appendU64(dst, uint64(d.Integ))
	return appendU64(dst, uint64(d.Fract))
}

func (d *rd) double() (Double, error) {
	i, err := d.i64()
	if err != nil {
		return Double{}, err
	}
	f, err := d.i64()
	return Double{Integ: i, Fract: f}, err
}
