package kt

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// xtOf converts an expiry into KT's xt: a positive number of seconds from
// now for a TTL (rounded up, so a record never expires early), the negated
// epoch second for an absolute time, and never=true for neither. KT reads
// xt=0 as "expires now", so "never" must be sent as INT64_MAX (binary) or
// left out (RPC).
func xtOf(e backend.Expiry) (xt int64, never bool, err error) {
	switch {
	case e.TTL < 0:
		return 0, false, fmt.Errorf("kt: a TTL must be positive, got %v: %w", e.TTL, backend.ErrInvalid)
	case e.TTL > 0:
		return int64((e.TTL + time.Second - 1) / time.Second), false, nil
	case !e.At.IsZero():
		// Epoch seconds below 1 cannot be written as a negative xt; any time
		// that early has passed anyway.
		return -max(e.At.Unix(), 1), false, nil
	default:
		return 0, true, nil
	}
}

// binaryXT is the xt of a binary set_bulk record.
func binaryXT(e backend.Expiry) (int64, error) {
	xt, never, err := xtOf(e)
	if never {
		return ktwire.XTNever, err
	}
	return xt, err
}

// addXT adds the RPC xt parameter, which is left out for "never".
func (p *params) addXT(e backend.Expiry) error {
	xt, never, err := xtOf(e)
	if err != nil || never {
		return err
	}
	p.int("xt", xt)
	return nil
}

// replyXT reads the absolute xt of an RPC reply; it is absent for records
// that never expire.
func replyXT(r *reply) time.Time {
	v, ok := r.get("xt")
	if !ok {
		return time.Time{}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return ktwire.XTTime(n)
}
