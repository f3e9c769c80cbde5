package kt

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// KT's clock counts whole seconds, and a record's xt is the last second in
// which it is still visible: it is gone from xt+1 on. An expiration time in
// the API is the first instant a record is gone, as in the embedded store;
// the functions below convert between the two.

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
		// The record is gone from the first whole second at or after At,
		// so its last second is the one before. Epoch seconds below 1
		// cannot be written as a negative xt; any time that early has
		// passed anyway.
		gone := e.At.Unix()
		if e.At.Nanosecond() > 0 {
			gone++
		}
		return -max(gone-1, 1), false, nil
	default:
		return 0, true, nil
	}
}

// expireTime converts an absolute xt as the server reports it (in get_bulk,
// RPC replies and replicated values) into the first instant the record is
// gone; the zero time means never.
func expireTime(xt int64) time.Time {
	t := ktwire.XTTime(xt)
	if t.IsZero() {
		return t
	}
	return t.Add(time.Second)
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
	return expireTime(n)
}
