package ktgrpc

import (
	"context"
	"time"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Info describes a record without its value, as Check returns it.
type Info struct {
	// Size is the value's length in bytes.
	Size int64
	// ExpireTime is when the record expires; the zero time means never.
	ExpireTime time.Time
}

// Check reports a record's value size and expiration without transferring
// the value, or an error matching ErrNotFound when the record does not
// exist.
func (c *Client) Check(ctx context.Context, key string, opts ...Option) (Info, error) {
	s := c.settings(opts)
	resp, err := c.kv.Check(ctx, &ktgrpcv1.CheckRequest{Db: s.db, Key: []byte(key)})
	if err != nil {
		return Info{}, wrapErr("Check", err)
	}
	if !resp.GetFound() {
		return Info{}, notFound("Check", key)
	}
	return Info{Size: resp.GetValueSize(), ExpireTime: fromTimestamp(resp.GetExpireTime())}, nil
}

// Seize reads and removes a record in one atomic step and returns it, or an
// error matching ErrNotFound when it does not exist.
func (c *Client) Seize(ctx context.Context, key string, opts ...Option) (Record, error) {
	s := c.settings(opts)
	resp, err := c.kv.Seize(ctx, &ktgrpcv1.SeizeRequest{Db: s.db, Key: []byte(key)})
	if err != nil {
		return Record{}, wrapErr("Seize", err)
	}
	if !resp.GetFound() {
		return Record{}, notFound("Seize", key)
	}
	return Record{Key: key, Value: resp.GetValue(), ExpireTime: fromTimestamp(resp.GetExpireTime())}, nil
}

// CompareAndSwap replaces the value of key with newValue only if its current
// value is oldValue, atomically, and reports whether it did. A nil oldValue
// means "the record must not exist" and a nil newValue removes the record;
// an empty non-nil slice is the empty value. It reads WithDB, WithTTL and
// WithExpireAt (for the new record).
func (c *Client) CompareAndSwap(ctx context.Context, key string, oldValue, newValue []byte, opts ...Option) (bool, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.CompareAndSwapRequest{Db: s.db, Key: []byte(key), OldValue: oldValue, NewValue: newValue}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.CompareAndSwapRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.CompareAndSwapRequest_ExpireTime{ExpireTime: at}
	}
	resp, err := c.kv.CompareAndSwap(ctx, req)
	if err != nil {
		return false, wrapErr("CompareAndSwap", err)
	}
	return resp.GetSwapped(), nil
}

// IncrementFloat adds delta to the floating-point number stored under key,
// starting a missing record from 0 (WithInitialFloat says otherwise), and
// returns the new value. With WithMustExist a missing record is an error
// matching ErrNotFound. Read the number back with IncrementFloat(ctx, key,
// 0): the backend stores it in its own layout.
func (c *Client) IncrementFloat(ctx context.Context, key string, delta float64, opts ...Option) (float64, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.IncrementDoubleRequest{Db: s.db, Key: []byte(key), Delta: delta, Initial: s.initialF, MustExist: s.mustExist}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.IncrementDoubleRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.IncrementDoubleRequest_ExpireTime{ExpireTime: at}
	}
	resp, err := c.kv.IncrementDouble(ctx, req)
	if err != nil {
		return 0, wrapErr("IncrementDouble", err)
	}
	if !resp.GetApplied() {
		return 0, notFound("IncrementDouble", key)
	}
	return resp.GetValue(), nil
}

// MatchSimilar returns the keys within maxDistance edits (Levenshtein) of
// origin, nearest first, then in key order; 0 means 1. It reads WithDB,
// WithLimit and WithUTF8.
func (c *Client) MatchSimilar(ctx context.Context, origin string, maxDistance uint32, opts ...Option) ([]string, error) {
	s := c.settings(opts)
	return c.matchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Similar{
		Similar: &ktgrpcv1.Similarity{Origin: []byte(origin), MaxDistance: maxDistance, Utf8: s.utf8},
	}}, opts)
}

// stringKeys converts keys from the API's form.
func stringKeys(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = string(k)
	}
	return out
}
