package embedded

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// KTAtof reads a number the way Kyoto Tycoon reads the decimal text of its
// requests (kc::atof): leading blanks and a sign, "inf" and "nan", integer
// digits, then fraction digits only while fewer than 16 significant digits
// have been read, then an exponent, all computed in x87 extended precision
// (a 64-bit mantissa) and rounded to a double at the end. So
// "123456.78901234568" reads as 123456.7890123456: the server never sees
// the 17th digit. Test servers parse with it, and the store's
// IncrementDouble reads its amounts through it (see there).
func KTAtof(s string) float64 {
	i := 0
	for i < len(s) && s[i] > 0 && s[i] <= ' ' {
		i++
	}
	sign := 1.0
	if i < len(s) && s[i] == '-' {
		sign, i = -1, i+1
	} else if i < len(s) && s[i] == '+' {
		i++
	}
	if rest := s[i:]; len(rest) >= 3 {
		switch strings.ToLower(rest[:3]) {
		case "inf":
			return math.Inf(int(sign))
		case "nan":
			return math.NaN()
		}
	}
	ld := func() *big.Float { return new(big.Float).SetPrec(64).SetMode(big.ToNearestEven) }
	digit := func(c byte) *big.Float { return big.NewFloat(float64(c - '0')) }
	ten := big.NewFloat(10)
	num, col := ld(), 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		// num = num * 10 + *str - '0': three operations, three roundings.
		t := ld().Mul(num, ten)
		t = ld().Add(t, big.NewFloat(float64(s[i])))
		num = ld().Sub(t, big.NewFloat('0'))
		if num.Sign() > 0 {
			col++
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		fract, base := ld(), ld().SetInt64(10)
		for ; col < 16 && i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			fract = ld().Add(fract, ld().Quo(digit(s[i]), base))
			col++
			base = ld().Mul(base, ten)
		}
		num = ld().Add(num, fract)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		num = ld().Mul(num, ktPow10(ktwire.Atoi(s[i+1:])))
	}
	f, _ := num.Float64()
	return f * sign
}

// ktPow10 is 10^n in extended precision.
func ktPow10(n int64) *big.Float {
	switch {
	case n > 5000:
		return new(big.Float).SetInf(false)
	case n < -5000:
		return new(big.Float)
	}
	exact := new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(max(n, -n)), nil))
	out := new(big.Float).SetPrec(64).SetMode(big.ToNearestEven)
	if n >= 0 {
		return out.Set(exact)
	}
	return out.Quo(big.NewFloat(1), exact)
}

// ktWireDouble is f as Kyoto Tycoon receives it from a client that writes
// it in plain decimal notation with as many digits as it takes
// (strconv's 'f', -1).
func ktWireDouble(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	return KTAtof(strconv.FormatFloat(f, 'f', -1, 64))
}
