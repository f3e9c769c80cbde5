package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Special origins of IncrementOrig and IncrementDoubleOrig, with the values
// Kyoto Tycoon uses for orig=try and orig=set.
const (
	// OrigTry makes IncrementOrig fail (applied=false) on a missing record.
	OrigTry int64 = math.MinInt64
	// OrigSet makes IncrementOrig store num itself, whatever the current
	// value (which must still be 8 bytes long if it exists).
	OrigSet int64 = math.MaxInt64
)

// origMode is how a missing or existing record's value is combined with the
// addend.
type origMode int

const (
	origAdd origMode = iota // missing: initial + num; existing: current + num
	origTry                 // missing: fail
	origSet                 // result is num
)

// Increment adds delta to an 8-byte big-endian integer record and returns
// the new value. A missing record starts from *opts.Initial (or 0) unless
// opts.MustExist; a record that is not 8 bytes long is an error wrapping
// backend.ErrIncompatible. A delta of 0 on an existing record returns the
// value without writing, so the expiration is not refreshed.
func (s *Store) Increment(ctx context.Context, db string, key []byte, delta int64, opts backend.IncrementOptions) (value int64, applied bool, err error) {
	mode, initial := origAdd, int64(0)
	if opts.MustExist {
		mode = origTry
	} else if opts.Initial != nil {
		initial = *opts.Initial
	}
	return s.increment(ctx, db, key, delta, initial, mode, opts.Expiry)
}

// IncrementOrig is Increment with Kyoto Tycoon's orig parameter: the start
// value of a missing record, or OrigTry or OrigSet.
func (s *Store) IncrementOrig(ctx context.Context, db string, key []byte, num, orig int64, exp backend.Expiry) (value int64, applied bool, err error) {
	switch orig {
	case OrigTry:
		return s.increment(ctx, db, key, num, 0, origTry, exp)
	case OrigSet:
		return s.increment(ctx, db, key, num, 0, origSet, exp)
	default:
		return s.increment(ctx, db, key, num, orig, origAdd, exp)
	}
}

func (s *Store) increment(ctx context.Context, db string, key []byte, num, initial int64, mode origMode, exp backend.Expiry) (value int64, applied bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return 0, false, err
	}
	if err := notTable(d, "increment", "counters"); err != nil {
		return 0, false, err
	}
	err = s.update(ctx, d, "increment", func(t *txn) error {
		cur, found, purged := t.lookup(key)
		switch {
		case found && len(cur.value) != 8:
			return fmt.Errorf("embedded: increment: value of key %s is %d bytes, not an 8-byte integer: %w; Increment keeps counters as 8-byte big-endian integers, so count under a key that only Increment writes, or remove this one first", quoteKey(key), len(cur.value), backend.ErrIncompatible)
		case found && mode == origSet:
			value = num
		case found && num == 0:
			value, applied = int64(binary.BigEndian.Uint64(cur.value)), true
			return nil
		case found:
			value = int64(binary.BigEndian.Uint64(cur.value)) + num
		case mode == origTry:
			if purged {
				t.logRemove(key)
			}
			return nil
		case mode == origSet:
			value = num
		default:
			value = initial + num
		}
		buf := make([]byte, 8)
		binary.BigEndian.PutUint64(buf, uint64(value))
		t.store(own(key), buf, exp)
		applied = true
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return value, applied, nil
}

// IncrementDouble adds delta to a 16-byte decimal record (Kyoto Tycoon's
// layout: big-endian int64 integer part, then big-endian int64 fraction
// scaled by 10^15) and returns the new value. The sum is computed in that
// fixed-point form, as Kyoto Tycoon does, so the stored bytes match it. The
// rules for missing records, delta 0 and wrong sizes are Increment's.
//
// The amount and the initial value are first read as Kyoto Tycoon reads
// the decimal text a client sends (KTAtof of the shortest plain decimal
// form): at most 16 significant digits, so a record holds the same bytes
// whether it was incremented here or on a real server.
func (s *Store) IncrementDouble(ctx context.Context, db string, key []byte, delta float64, opts backend.IncrementDoubleOptions) (value float64, applied bool, err error) {
	mode, initial := origAdd, 0.0
	if opts.MustExist {
		mode = origTry
	} else if opts.Initial != nil {
		initial = ktWireDouble(*opts.Initial)
	}
	return s.incrementDouble(ctx, db, key, ktWireDouble(delta), initial, mode, opts.Expiry)
}

// IncrementDoubleOrig is IncrementDouble with Kyoto Tycoon's orig parameter:
// the start value of a missing record, or -Inf for orig=try and +Inf for
// orig=set.
func (s *Store) IncrementDoubleOrig(ctx context.Context, db string, key []byte, num, orig float64, exp backend.Expiry) (value float64, applied bool, err error) {
	switch {
	case math.IsInf(orig, -1):
		return s.incrementDouble(ctx, db, key, num, 0, origTry, exp)
	case math.IsInf(orig, 1):
		return s.incrementDouble(ctx, db, key, num, 0, origSet, exp)
	default:
		return s.incrementDouble(ctx, db, key, num, orig, origAdd, exp)
	}
}

func (s *Store) incrementDouble(ctx context.Context, db string, key []byte, num, initial float64, mode origMode, exp backend.Expiry) (value float64, applied bool, err error) {
	d, err := s.database(db)
	if err != nil {
		return 0, false, err
	}
	dnum, err := toDecimal("increment_double amount", num)
	if err != nil {
		return 0, false, err
	}
	if _, err := toDecimal("increment_double initial value", initial); err != nil {
		return 0, false, err
	}
	dstart, err := toDecimal("increment_double initial value plus amount", initial+num)
	if err != nil {
		return 0, false, err
	}
	if err := notTable(d, "increment_double", "numbers"); err != nil {
		return 0, false, err
	}
	err = s.update(ctx, d, "increment_double", func(t *txn) error {
		cur, found, purged := t.lookup(key)
		var res decimal
		switch {
		case found && len(cur.value) != 16:
			return fmt.Errorf("embedded: increment_double: value of key %s is %d bytes, not a 16-byte decimal number: %w; IncrementDouble keeps its numbers in Kyoto Tycoon's 16-byte fixed-point form, so use a key that only IncrementDouble writes, or remove this one first", quoteKey(key), len(cur.value), backend.ErrIncompatible)
		case found && mode == origSet:
			res = dnum
		case found && num == 0:
			value, applied = decodeDecimal(cur.value).float(), true
			return nil
		case found:
			res = decodeDecimal(cur.value).add(dnum)
		case mode == origTry:
			if purged {
				t.logRemove(key)
			}
			return nil
		case mode == origSet:
			res = dnum
		default:
			// Kyoto Tycoon adds the start value in floating point, then
			// splits the sum.
			res = dstart
		}
		t.store(own(key), res.encode(), exp)
		value, applied = res.float(), true
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return value, applied, nil
}

// decimalUnit is the fraction scale of a stored decimal.
const decimalUnit = 1_000_000_000_000_000

// decimal is Kyoto Tycoon's fixed-point number: integ + fract/10^15, both
// parts carrying the sign.
type decimal struct {
	integ, fract int64
}

// toDecimal converts f, which must be finite and within int64 range, as
// Kyoto Tycoon does: the fraction times 10^15 is computed in x87 extended
// precision (a 64-bit mantissa, rounded to nearest) and then truncated, so
// 1e-07 becomes 99999999, not 100000000.
func toDecimal(what string, f float64) (decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 9.2e18 {
		return decimal{}, fmt.Errorf("embedded: %s %v is not a finite number within ±9.2e18: %w", what, f, backend.ErrInvalid)
	}
	i, frac := math.Modf(f)
	scaled := new(big.Float).SetPrec(64).SetMode(big.ToNearestEven)
	scaled.Mul(big.NewFloat(frac), big.NewFloat(decimalUnit))
	fract, _ := scaled.Int64() // truncates toward zero
	return decimal{integ: int64(i), fract: fract}, nil
}

func decodeDecimal(b []byte) decimal {
	return decimal{integ: int64(binary.BigEndian.Uint64(b[:8])), fract: int64(binary.BigEndian.Uint64(b[8:16]))}
}

func (d decimal) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[:8], uint64(d.integ))
	binary.BigEndian.PutUint64(b[8:], uint64(d.fract))
	return b
}

func (d decimal) float() float64 {
	return float64(d.integ) + float64(d.fract)/decimalUnit
}

// add sums part by part and carries only a fraction that reached +10^15,
// exactly as Kyoto Tycoon does: the parts may then differ in sign (1 plus
// -0.125 is stored as 1 and -0.125e15) or a negative fraction may exceed
// -10^15, and clients reading the raw record see the same bytes as from the
// real server.
func (d decimal) add(o decimal) decimal {
	i, f := d.integ+o.integ, d.fract+o.fract
	if f >= decimalUnit {
		i, f = i+1, f-decimalUnit
	}
	return decimal{integ: i, fract: f}
}
