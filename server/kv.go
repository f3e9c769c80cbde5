package server

import (
	"context"
	"math"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

type kvService struct {
	ktgrpcv1.UnimplementedKVServer
	s *Server
}

func (k *kvService) Get(ctx context.Context, req *ktgrpcv1.GetRequest) (*ktgrpcv1.GetResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	rec, found, err := k.s.b.Get(ctx, req.GetDb(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	if !found {
		return &ktgrpcv1.GetResponse{}, nil
	}
	return &ktgrpcv1.GetResponse{Found: true, Value: rec.Value, ExpireTime: timestamp(rec.ExpireTime)}, nil
}

func (k *kvService) GetBulk(ctx context.Context, req *ktgrpcv1.GetBulkRequest) (*ktgrpcv1.GetBulkResponse, error) {
	if err := k.s.checkKeys(req.GetKeys()); err != nil {
		return nil, err
	}
	if len(req.GetKeys()) == 0 {
		return &ktgrpcv1.GetBulkResponse{}, nil
	}
	recs, err := k.s.b.GetBulk(ctx, req.GetDb(), req.GetKeys(), req.GetAtomic())
	if err != nil {
		return nil, toStatus(err)
	}
	out := make([]*ktgrpcv1.Record, len(recs))
	for i, r := range recs {
		out[i] = toRecord(r)
	}
	return &ktgrpcv1.GetBulkResponse{Records: out}, nil
}

func (k *kvService) Set(ctx context.Context, req *ktgrpcv1.SetRequest) (*ktgrpcv1.SetResponse, error) {
	exp, err := k.s.checkWrite("", req.GetKey(), req.GetValue(), req)
	if err != nil {
		return nil, err
	}
	opts := backend.WriteOptions{NoReply: req.GetNoReply()}
	if err := k.s.b.Set(ctx, req.GetDb(), req.GetKey(), req.GetValue(), exp, opts); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.SetResponse{}, nil
}

func (k *kvService) SetBulk(ctx context.Context, req *ktgrpcv1.SetBulkRequest) (*ktgrpcv1.SetBulkResponse, error) {
	entries := make([]backend.Entry, len(req.GetRecords()))
	for i, r := range req.GetRecords() {
		exp, err := k.s.checkWrite(indexed("records", i)+".", r.GetKey(), r.GetValue(), r)
		if err != nil {
			return nil, err
		}
		entries[i] = backend.Entry{Key: r.GetKey(), Value: r.GetValue(), Expiry: exp}
	}
	if len(entries) == 0 {
		return &ktgrpcv1.SetBulkResponse{}, nil
	}
	opts := backend.WriteOptions{Atomic: req.GetAtomic(), NoReply: req.GetNoReply()}
	n, err := k.s.b.SetBulk(ctx, req.GetDb(), entries, opts)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.SetBulkResponse{Stored: n}, nil
}

func (k *kvService) Add(ctx context.Context, req *ktgrpcv1.AddRequest) (*ktgrpcv1.AddResponse, error) {
	exp, err := k.s.checkWrite("", req.GetKey(), req.GetValue(), req)
	if err != nil {
		return nil, err
	}
	applied, err := k.s.b.Add(ctx, req.GetDb(), req.GetKey(), req.GetValue(), exp)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.AddResponse{Applied: applied}, nil
}

func (k *kvService) Replace(ctx context.Context, req *ktgrpcv1.ReplaceRequest) (*ktgrpcv1.ReplaceResponse, error) {
	exp, err := k.s.checkWrite("", req.GetKey(), req.GetValue(), req)
	if err != nil {
		return nil, err
	}
	atomic, err := feature[backend.Atomic](k.s, backend.CapAtomic, "KV.Replace")
	if err != nil {
		return nil, err
	}
	applied, err := atomic.Replace(ctx, req.GetDb(), req.GetKey(), req.GetValue(), exp)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.ReplaceResponse{Applied: applied}, nil
}

func (k *kvService) Append(ctx context.Context, req *ktgrpcv1.AppendRequest) (*ktgrpcv1.AppendResponse, error) {
	exp, err := k.s.checkWrite("", req.GetKey(), req.GetValue(), req)
	if err != nil {
		return nil, err
	}
	if req.GetKeepLast() > 0 {
		if err := k.s.require(backend.CapAppendKeepLast, "KV.Append with keep_last"); err != nil {
			return nil, err
		}
	}
	err = k.s.b.Append(ctx, req.GetDb(), req.GetKey(), req.GetValue(), exp, int(req.GetKeepLast()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.AppendResponse{}, nil
}

func (k *kvService) Remove(ctx context.Context, req *ktgrpcv1.RemoveRequest) (*ktgrpcv1.RemoveResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	removed, err := k.s.b.Remove(ctx, req.GetDb(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.RemoveResponse{Removed: removed}, nil
}

func (k *kvService) RemoveBulk(ctx context.Context, req *ktgrpcv1.RemoveBulkRequest) (*ktgrpcv1.RemoveBulkResponse, error) {
	if err := k.s.checkKeys(req.GetKeys()); err != nil {
		return nil, err
	}
	if len(req.GetKeys()) == 0 {
		return &ktgrpcv1.RemoveBulkResponse{}, nil
	}
	n, err := k.s.b.RemoveBulk(ctx, req.GetDb(), req.GetKeys(), req.GetAtomic())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.RemoveBulkResponse{Removed: n}, nil
}

func (k *kvService) Check(ctx context.Context, req *ktgrpcv1.CheckRequest) (*ktgrpcv1.CheckResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	info, found, err := k.s.b.Check(ctx, req.GetDb(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	if !found {
		return &ktgrpcv1.CheckResponse{}, nil
	}
	return &ktgrpcv1.CheckResponse{Found: true, ValueSize: info.ValueSize, ExpireTime: timestamp(info.ExpireTime)}, nil
}

func (k *kvService) Seize(ctx context.Context, req *ktgrpcv1.SeizeRequest) (*ktgrpcv1.SeizeResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	atomic, err := feature[backend.Atomic](k.s, backend.CapAtomic, "KV.Seize")
	if err != nil {
		return nil, err
	}
	rec, found, err := atomic.Seize(ctx, req.GetDb(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	if !found {
		return &ktgrpcv1.SeizeResponse{}, nil
	}
	return &ktgrpcv1.SeizeResponse{Found: true, Value: rec.Value, ExpireTime: timestamp(rec.ExpireTime)}, nil
}

func (k *kvService) CompareAndSwap(ctx context.Context, req *ktgrpcv1.CompareAndSwapRequest) (*ktgrpcv1.CompareAndSwapResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	// Presence matters here: the generated code keeps an absent optional
	// bytes field nil and a present empty one non-nil, which is exactly the
	// backend's "must not exist" / "remove" convention.
	if err := k.s.checkValue("old_value", req.OldValue); err != nil {
		return nil, err
	}
	if err := k.s.checkValue("new_value", req.NewValue); err != nil {
		return nil, err
	}
	exp, err := k.s.expiry("", req)
	if err != nil {
		return nil, err
	}
	atomic, err := feature[backend.Atomic](k.s, backend.CapAtomic, "KV.CompareAndSwap")
	if err != nil {
		return nil, err
	}
	swapped, err := atomic.CompareAndSwap(ctx, req.GetDb(), req.GetKey(), req.OldValue, req.NewValue, exp)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.CompareAndSwapResponse{Swapped: swapped}, nil
}

func (k *kvService) Increment(ctx context.Context, req *ktgrpcv1.IncrementRequest) (*ktgrpcv1.IncrementResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	if req.Initial != nil && req.GetMustExist() {
		return nil, initialWithMustExist()
	}
	exp, err := k.s.expiry("", req)
	if err != nil {
		return nil, err
	}
	if err := k.s.checkIncrement("KV.Increment", req.GetMustExist(), req.GetInitial() != 0); err != nil {
		return nil, err
	}
	opts := backend.IncrementOptions{Initial: req.Initial, MustExist: req.GetMustExist(), Expiry: exp}
	v, applied, err := k.s.b.Increment(ctx, req.GetDb(), req.GetKey(), req.GetDelta(), opts)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.IncrementResponse{Applied: applied, Value: v}, nil
}

func (k *kvService) IncrementDouble(ctx context.Context, req *ktgrpcv1.IncrementDoubleRequest) (*ktgrpcv1.IncrementDoubleResponse, error) {
	if err := k.s.checkKey("key", req.GetKey()); err != nil {
		return nil, err
	}
	if d := req.GetDelta(); math.IsNaN(d) || math.IsInf(d, 0) {
		return nil, invalidField("delta", "delta must be a finite number, got %v", d)
	}
	if req.Initial != nil && (math.IsNaN(*req.Initial) || math.IsInf(*req.Initial, 0)) {
		return nil, invalidField("initial", "initial must be a finite number, got %v", *req.Initial)
	}
	if req.Initial != nil && req.GetMustExist() {
		return nil, initialWithMustExist()
	}
	exp, err := k.s.expiry("", req)
	if err != nil {
		return nil, err
	}
	if err := k.s.checkIncrement("KV.IncrementDouble", req.GetMustExist(), req.GetInitial() != 0); err != nil {
		return nil, err
	}
	opts := backend.IncrementDoubleOptions{Initial: req.Initial, MustExist: req.GetMustExist(), Expiry: exp}
	v, applied, err := k.s.b.IncrementDouble(ctx, req.GetDb(), req.GetKey(), req.GetDelta(), opts)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.IncrementDoubleResponse{Applied: applied, Value: v}, nil
}

func (k *kvService) MatchKeys(ctx context.Context, req *ktgrpcv1.MatchKeysRequest) (*ktgrpcv1.MatchKeysResponse, error) {
	if req.GetLimit() < 0 {
		return nil, invalidField("limit", "limit must not be negative, got %d; 0 means no limit", req.GetLimit())
	}
	var m backend.Match
	// The backend owns the regular-expression syntax (RE2 here, Kyoto
	// Tycoon's own elsewhere), so only emptiness is checked.
	switch p := req.GetPattern().(type) {
	case *ktgrpcv1.MatchKeysRequest_Prefix:
		if len(p.Prefix) == 0 {
			return nil, invalidField("prefix", "prefix must not be empty; use Cursor.Scan to list every key")
		}
		if len(p.Prefix) > k.s.opts.MaxKeySize {
			return nil, invalidField("prefix", "prefix is %d bytes; the limit is %d bytes", len(p.Prefix), k.s.opts.MaxKeySize)
		}
		m = backend.Match{Kind: backend.MatchPrefix, Prefix: p.Prefix}
	case *ktgrpcv1.MatchKeysRequest_Regex:
		if p.Regex == "" {
			return nil, invalidField("regex", "regex must not be empty; use Cursor.Scan to list every key")
		}
		if err := k.s.require(backend.CapMatchRegex, "KV.MatchKeys by regex"); err != nil {
			return nil, err
		}
		m = backend.Match{Kind: backend.MatchRegex, Regex: p.Regex}
	case *ktgrpcv1.MatchKeysRequest_Similar:
		sim := p.Similar
		if sim == nil || len(sim.GetOrigin()) == 0 {
			return nil, invalidField("similar.origin", "similar.origin must not be empty")
		}
		if len(sim.GetOrigin()) > k.s.opts.MaxKeySize {
			return nil, invalidField("similar.origin", "similar.origin is %d bytes; the limit is %d bytes", len(sim.GetOrigin()), k.s.opts.MaxKeySize)
		}
		dist := int(sim.GetMaxDistance())
		if dist == 0 {
			dist = 1
		}
		if err := k.s.require(backend.CapMatchSimilar, "KV.MatchKeys by similarity"); err != nil {
			return nil, err
		}
		m = backend.Match{Kind: backend.MatchSimilar, Origin: sim.GetOrigin(), MaxDistance: dist, UTF8: sim.GetUtf8()}
	default:
		return nil, invalidField("pattern", "pattern must be set: one of prefix, regex or similar")
	}
	keys, err := k.s.b.MatchKeys(ctx, req.GetDb(), m, req.GetLimit())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.MatchKeysResponse{Keys: keys}, nil
}

// initialWithMustExist refuses a request whose initial value could never be
// used: must_exist leaves a missing record missing, so the caller has
// misunderstood one of the two fields.
func initialWithMustExist() error {
	return invalidField("initial", "initial has no effect with must_exist, which never creates the record; set one of them")
}

// checkWrite validates the key, value and expiration of a write; prefix names
// the enclosing entry in messages for bulk requests.
func (s *Server) checkWrite(prefix string, key, value []byte, r expirer) (backend.Expiry, error) {
	if err := s.checkKey(prefix+"key", key); err != nil {
		return backend.Expiry{}, err
	}
	if err := s.checkValue(prefix+"value", value); err != nil {
		return backend.Expiry{}, err
	}
	return s.expiry(prefix, r)
}

// expiry converts a request's expiration like toExpiry, and refuses one
// when the backend's records do not expire, naming the field that set it.
func (s *Server) expiry(prefix string, r expirer) (backend.Expiry, error) {
	exp, err := toExpiry(prefix, r)
	if err != nil || exp.Never() {
		return exp, err
	}
	field := prefix + "expire_time"
	if exp.TTL != 0 {
		field = prefix + "ttl"
	}
	return exp, s.require(backend.CapExpiry, field)
}

// checkIncrement refuses the increment options the backend cannot honour.
func (s *Server) checkIncrement(call string, mustExist, nonZeroInitial bool) error {
	switch {
	case mustExist:
		return s.require(backend.CapIncrementOptions, call+" with must_exist")
	case nonZeroInitial:
		return s.require(backend.CapIncrementOptions, call+" with a non-zero initial")
	}
	return nil
}
