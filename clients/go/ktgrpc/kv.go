package ktgrpc

import (
	"context"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Entry is a record whose value has type V.
type Entry[V any] struct {
	// Key is the record's key.
	Key string
	// Value is the record's value (empty with WithKeysOnly).
	Value V
	// ExpireTime is when the record expires; the zero time means never.
	ExpireTime time.Time
}

// Record is a record with its raw value.
type Record = Entry[[]byte]

// Get returns the value of key, or an error matching ErrNotFound when the
// record does not exist.
func (c *Client) Get(ctx context.Context, key string, opts ...Option) ([]byte, error) {
	rec, err := c.GetRecord(ctx, key, opts...)
	return rec.Value, err
}

// GetString is Get for a string value.
func (c *Client) GetString(ctx context.Context, key string, opts ...Option) (string, error) {
	v, err := c.Get(ctx, key, opts...)
	return string(v), err
}

// GetRecord is Get that also returns the record's expiration.
func (c *Client) GetRecord(ctx context.Context, key string, opts ...Option) (Record, error) {
	s := c.settings(opts)
	resp, err := c.kv.Get(ctx, &ktgrpcv1.GetRequest{Db: s.db, Key: []byte(key)})
	if err != nil {
		return Record{}, wrapErr("Get", err)
	}
	if !resp.GetFound() {
		return Record{}, notFound("Get", key)
	}
	return Record{Key: key, Value: resp.GetValue(), ExpireTime: fromTimestamp(resp.GetExpireTime())}, nil
}

// Set stores value under key, overwriting any existing record. It reads
// WithDB, WithTTL, WithExpireAt and WithNoReply.
func (c *Client) Set(ctx context.Context, key string, value []byte, opts ...Option) error {
	_, err := c.kv.Set(ctx, c.settings(opts).setRequest(key, value))
	return wrapErr("Set", err)
}

// setRequest is the request of Set.
func (s settings) setRequest(key string, value []byte) *ktgrpcv1.SetRequest {
	req := &ktgrpcv1.SetRequest{Db: s.db, Key: []byte(key), Value: value, NoReply: s.noReply}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.SetRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.SetRequest_ExpireTime{ExpireTime: at}
	}
	return req
}

// SetString is Set for a string value.
func (c *Client) SetString(ctx context.Context, key, value string, opts ...Option) error {
	return c.Set(ctx, key, []byte(value), opts...)
}

// Add stores value under key only if the key does not exist yet, and
// reports whether it did.
func (c *Client) Add(ctx context.Context, key string, value []byte, opts ...Option) (bool, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.AddRequest{Db: s.db, Key: []byte(key), Value: value}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.AddRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.AddRequest_ExpireTime{ExpireTime: at}
	}
	resp, err := c.kv.Add(ctx, req)
	if err != nil {
		return false, wrapErr("Add", err)
	}
	return resp.GetApplied(), nil
}

// Replace stores value under key only if the key exists, and reports
// whether it did.
func (c *Client) Replace(ctx context.Context, key string, value []byte, opts ...Option) (bool, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.ReplaceRequest{Db: s.db, Key: []byte(key), Value: value}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.ReplaceRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.ReplaceRequest_ExpireTime{ExpireTime: at}
	}
	resp, err := c.kv.Replace(ctx, req)
	if err != nil {
		return false, wrapErr("Replace", err)
	}
	return resp.GetApplied(), nil
}

// Append appends value to the record under key, creating it if missing.
func (c *Client) Append(ctx context.Context, key string, value []byte, opts ...Option) error {
	s := c.settings(opts)
	req := &ktgrpcv1.AppendRequest{Db: s.db, Key: []byte(key), Value: value}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.AppendRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.AppendRequest_ExpireTime{ExpireTime: at}
	}
	_, err := c.kv.Append(ctx, req)
	return wrapErr("Append", err)
}

// Increment adds delta to the number stored under key, starting a missing
// record from 0, and returns the new value. The gateway stores the number
// in the backend's own integer layout, so read it back with Increment(ctx,
// key, 0) rather than Get.
func (c *Client) Increment(ctx context.Context, key string, delta int64, opts ...Option) (int64, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.IncrementRequest{Db: s.db, Key: []byte(key), Delta: delta}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.IncrementRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.IncrementRequest_ExpireTime{ExpireTime: at}
	}
	resp, err := c.kv.Increment(ctx, req)
	if err != nil {
		return 0, wrapErr("Increment", err)
	}
	return resp.GetValue(), nil
}

// Remove deletes the record under key and reports whether it existed.
func (c *Client) Remove(ctx context.Context, key string, opts ...Option) (bool, error) {
	s := c.settings(opts)
	resp, err := c.kv.Remove(ctx, &ktgrpcv1.RemoveRequest{Db: s.db, Key: []byte(key)})
	if err != nil {
		return false, wrapErr("Remove", err)
	}
	return resp.GetRemoved(), nil
}

// GetMulti reads many records in one call and returns the values of the
// keys that exist; missing keys are absent from the map. It reads WithDB
// and WithAtomic.
func (c *Client) GetMulti(ctx context.Context, keys []string, opts ...Option) (map[string][]byte, error) {
	recs, err := c.GetMultiRecords(ctx, keys, opts...)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(recs))
	for _, r := range recs {
		out[r.Key] = r.Value
	}
	return out, nil
}

// GetMultiRecords is GetMulti returning the records found, in the order of
// keys, with their expirations.
func (c *Client) GetMultiRecords(ctx context.Context, keys []string, opts ...Option) ([]Record, error) {
	s := c.settings(opts)
	resp, err := c.kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Db: s.db, Keys: byteKeys(keys), Atomic: s.atomic})
	if err != nil {
		return nil, wrapErr("GetBulk", err)
	}
	out := make([]Record, len(resp.GetRecords()))
	for i, r := range resp.GetRecords() {
		out[i] = fromRecord(r)
	}
	return out, nil
}

// SetMulti stores every record of the map in one call and returns how many
// were stored. It reads WithDB, WithTTL, WithExpireAt (applied to every
// record), WithAtomic and WithNoReply. The records go out in key order, so
// that the update log of a SetMulti is the same from run to run.
func (c *Client) SetMulti(ctx context.Context, records map[string][]byte, opts ...Option) (int64, error) {
	s := c.settings(opts)
	ttl, at := s.expiration()
	req := &ktgrpcv1.SetBulkRequest{Db: s.db, Atomic: s.atomic, NoReply: s.noReply}
	for _, k := range slices.Sorted(maps.Keys(records)) {
		e := &ktgrpcv1.SetBulkRequest_Entry{Key: []byte(k), Value: records[k]}
		switch {
		case ttl != nil:
			e.Expiration = &ktgrpcv1.SetBulkRequest_Entry_Ttl{Ttl: ttl}
		case at != nil:
			e.Expiration = &ktgrpcv1.SetBulkRequest_Entry_ExpireTime{ExpireTime: at}
		}
		req.Records = append(req.Records, e)
	}
	resp, err := c.kv.SetBulk(ctx, req)
	if err != nil {
		return 0, wrapErr("SetBulk", err)
	}
	return resp.GetStored(), nil
}

// RemoveMulti deletes many records in one call and returns how many
// existed. It reads WithDB and WithAtomic.
func (c *Client) RemoveMulti(ctx context.Context, keys []string, opts ...Option) (int64, error) {
	s := c.settings(opts)
	resp, err := c.kv.RemoveBulk(ctx, &ktgrpcv1.RemoveBulkRequest{Db: s.db, Keys: byteKeys(keys), Atomic: s.atomic})
	if err != nil {
		return 0, wrapErr("RemoveBulk", err)
	}
	return resp.GetRemoved(), nil
}

// MatchPrefix returns the keys that start with prefix, in key order on
// ordered databases. It reads WithDB and WithLimit.
func (c *Client) MatchPrefix(ctx context.Context, prefix string, opts ...Option) ([]string, error) {
	return c.matchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Prefix{Prefix: []byte(prefix)}}, opts)
}

// MatchRegex returns the keys that match the regular expression re (RE2 on
// the embedded store, the server's syntax on Kyoto Tycoon). It reads WithDB
// and WithLimit.
func (c *Client) MatchRegex(ctx context.Context, re string, opts ...Option) ([]string, error) {
	return c.matchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: re}}, opts)
}

// matchKeys completes req, which carries the pattern, with the options.
func (c *Client) matchKeys(ctx context.Context, req *ktgrpcv1.MatchKeysRequest, opts []Option) ([]string, error) {
	s := c.settings(opts)
	req.Db, req.Limit = s.db, s.limit
	resp, err := c.kv.MatchKeys(ctx, req)
	if err != nil {
		return nil, wrapErr("MatchKeys", err)
	}
	out := make([]string, len(resp.GetKeys()))
	for i, k := range resp.GetKeys() {
		out[i] = string(k)
	}
	return out, nil
}

func byteKeys(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

func fromRecord(r *ktgrpcv1.Record) Record {
	return Record{Key: string(r.GetKey()), Value: r.GetValue(), ExpireTime: fromTimestamp(r.GetExpireTime())}
}

// fromTimestamp maps an unset expiration to the zero time ("never").
func fromTimestamp(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
