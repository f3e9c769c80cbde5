package server

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// expirer is every request with the `expiration` oneof.
type expirer interface {
	GetTtl() *durationpb.Duration
	GetExpireTime() *timestamppb.Timestamp
}

// toExpiry converts a request's expiration oneof; field prefixes the field
// name in messages (for bulk entries).
func toExpiry(field string, r expirer) (backend.Expiry, error) {
	if ttl := r.GetTtl(); ttl != nil {
		if err := ttl.CheckValid(); err != nil {
			return backend.Expiry{}, invalidField(field+"ttl", "%sttl: %v", field, err)
		}
		d := ttl.AsDuration()
		if d <= 0 {
			return backend.Expiry{}, invalidField(field+"ttl", "%sttl must be positive, got %v; leave expiration unset for a record that never expires", field, d)
		}
		return backend.Expiry{TTL: d}, nil
	}
	if at := r.GetExpireTime(); at != nil {
		if err := at.CheckValid(); err != nil {
			return backend.Expiry{}, invalidField(field+"expire_time", "%sexpire_time: %v", field, err)
		}
		// An empty Timestamp message reads as the epoch, and the earliest
		// valid one as Go's zero time, which means "never" to backends: both
		// are far more likely a client's mistake than a wish for a record
		// that is expired on arrival, so they are refused rather than stored.
		t := at.AsTime()
		if !t.After(time.Unix(0, 0)) {
			return backend.Expiry{}, invalidField(field+"expire_time", "%sexpire_time %s is not after 1970-01-01T00:00:00Z; leave expiration unset for a record that never expires", field, t.Format(time.RFC3339Nano))
		}
		return backend.Expiry{At: t}, nil
	}
	return backend.Expiry{}, nil
}

// timestamp converts an expiration time for a response: the zero time means
// never and leaves the field unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func toRecord(r backend.Record) *ktgrpcv1.Record {
	return &ktgrpcv1.Record{Key: r.Key, Value: r.Value, ExpireTime: timestamp(r.ExpireTime)}
}

// checkKey rejects keys the gateway will not forward. field names the field in
// messages, so that a bulk request points at the offending entry.
func (s *Server) checkKey(field string, key []byte) error {
	if len(key) == 0 {
		return invalidField(field, "%s must not be empty", field)
	}
	if len(key) > s.opts.MaxKeySize {
		return invalidField(field, "%s is %d bytes; the limit is %d bytes", field, len(key), s.opts.MaxKeySize)
	}
	return nil
}

func (s *Server) checkValue(field string, value []byte) error {
	if len(value) > s.opts.MaxValueSize {
		return invalidField(field, "%s is %d bytes; the limit is %d bytes", field, len(value), s.opts.MaxValueSize)
	}
	return nil
}

// checkKeys validates the keys of a bulk request.
func (s *Server) checkKeys(keys [][]byte) error {
	for i, k := range keys {
		if err := s.checkKey(indexed("keys", i), k); err != nil {
			return err
		}
	}
	return nil
}

// quoteBytes renders a key for a message, cut short so that a long key
// cannot swamp the message.
func quoteBytes(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}
