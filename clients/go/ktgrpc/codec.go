package ktgrpc

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"iter"
)

// Codec converts values of type V to and from the bytes stored in records.
// Implementations must be safe for concurrent use.
type Codec[V any] interface {
	// Encode returns the stored form of v.
	Encode(v V) ([]byte, error)
	// Decode parses a stored value.
	Decode(data []byte) (V, error)
}

// RawCodec stores byte slices as they are.
type RawCodec struct{}

// Encode returns v itself.
func (RawCodec) Encode(v []byte) ([]byte, error) { return v, nil }

// Decode returns data itself.
func (RawCodec) Decode(data []byte) ([]byte, error) { return data, nil }

// StringCodec stores strings as their bytes.
type StringCodec struct{}

// Encode returns the bytes of v.
func (StringCodec) Encode(v string) ([]byte, error) { return []byte(v), nil }

// Decode returns data as a string.
func (StringCodec) Decode(data []byte) (string, error) { return string(data), nil }

// JSONCodec stores values as JSON (encoding/json), readable from any
// language.
type JSONCodec[V any] struct{}

// Encode marshals v to JSON.
func (JSONCodec[V]) Encode(v V) ([]byte, error) { return json.Marshal(v) }

// Decode unmarshals JSON into a new V.
func (JSONCodec[V]) Decode(data []byte) (V, error) {
	var v V
	err := json.Unmarshal(data, &v)
	return v, err
}

// GobCodec stores values with encoding/gob, compact and exact for Go types
// but readable only from Go. Every value carries its own type description,
// so that records can be decoded one by one.
type GobCodec[V any] struct{}

// Encode gob-encodes v.
func (GobCodec[V]) Encode(v V) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode gob-decodes data into a new V.
func (GobCodec[V]) Decode(data []byte) (V, error) {
	var v V
	err := gob.NewDecoder(bytes.NewReader(data)).Decode(&v)
	return v, err
}

// Raw returns the codec for []byte values.
func Raw() Codec[[]byte] { return RawCodec{} }

// String returns the codec for string values.
func String() Codec[string] { return StringCodec{} }

// JSON returns the JSON codec for V.
func JSON[V any]() Codec[V] { return JSONCodec[V]{} }

// Gob returns the gob codec for V.
func Gob[V any]() Codec[V] { return GobCodec[V]{} }

// Typed is a view of a Client whose values have type V, converted by a
// Codec. Make one with NewTyped; it is safe for concurrent use.
//
//	users := ktgrpc.NewTyped(c.With(ktgrpc.WithDB("users")), ktgrpc.JSON[User]())
//	err := users.Set(ctx, "u1", User{Name: "Ann"})
type Typed[V any] struct {
	c     *Client
	codec Codec[V]
}

// NewTyped returns a view of c that encodes and decodes values with codec.
func NewTyped[V any](c *Client, codec Codec[V]) *Typed[V] {
	return &Typed[V]{c: c, codec: codec}
}

// Client returns the underlying Client.
func (t *Typed[V]) Client() *Client { return t.c }

// Get returns the decoded value of key, or an error matching ErrNotFound.
func (t *Typed[V]) Get(ctx context.Context, key string, opts ...Option) (V, error) {
	data, err := t.c.Get(ctx, key, opts...)
	if err != nil {
		var zero V
		return zero, err
	}
	return t.decode(key, data)
}

// Set encodes v and stores it under key, as Client.Set.
func (t *Typed[V]) Set(ctx context.Context, key string, v V, opts ...Option) error {
	data, err := t.encode(key, v)
	if err != nil {
		return err
	}
	return t.c.Set(ctx, key, data, opts...)
}

// Add encodes v and stores it only if key is new, as Client.Add.
func (t *Typed[V]) Add(ctx context.Context, key string, v V, opts ...Option) (bool, error) {
	data, err := t.encode(key, v)
	if err != nil {
		return false, err
	}
	return t.c.Add(ctx, key, data, opts...)
}

// Remove deletes key, as Client.Remove.
func (t *Typed[V]) Remove(ctx context.Context, key string, opts ...Option) (bool, error) {
	return t.c.Remove(ctx, key, opts...)
}

// GetMulti reads many keys and returns the decoded values of those that
// exist, as Client.GetMulti.
func (t *Typed[V]) GetMulti(ctx context.Context, keys []string, opts ...Option) (map[string]V, error) {
	recs, err := t.c.GetMultiRecords(ctx, keys, opts...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]V, len(recs))
	for _, r := range recs {
		v, err := t.decode(r.Key, r.Value)
		if err != nil {
			return nil, err
		}
		out[r.Key] = v
	}
	return out, nil
}

// SetMulti encodes and stores every record of the map in one call, as
// Client.SetMulti.
func (t *Typed[V]) SetMulti(ctx context.Context, records map[string]V, opts ...Option) (int64, error) {
	raw := make(map[string][]byte, len(records))
	for k, v := range records {
		data, err := t.encode(k, v)
		if err != nil {
			return 0, err
		}
		raw[k] = data
	}
	return t.c.SetMulti(ctx, raw, opts...)
}

// Scan yields decoded records, as Client.Scan. A value that does not decode
// ends the sequence with an error naming its key; for keys alone use
// Client.Scan with WithKeysOnly, whose empty values few codecs accept.
func (t *Typed[V]) Scan(ctx context.Context, opts ...Option) iter.Seq2[Entry[V], error] {
	return func(yield func(Entry[V], error) bool) {
		for rec, err := range t.c.Scan(ctx, opts...) {
			if err != nil {
				yield(Entry[V]{}, err)
				return
			}
			v, err := t.decode(rec.Key, rec.Value)
			if err != nil {
				yield(Entry[V]{}, err)
				return
			}
			if !yield(Entry[V]{Key: rec.Key, Value: v, ExpireTime: rec.ExpireTime}, nil) {
				return
			}
		}
	}
}

func (t *Typed[V]) encode(key string, v V) ([]byte, error) {
	data, err := t.codec.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("ktgrpc: encode value for %q: %w", key, err)
	}
	return data, nil
}

func (t *Typed[V]) decode(key string, data []byte) (V, error) {
	v, err := t.codec.Decode(data)
	if err != nil {
		return v, fmt.Errorf("ktgrpc: decode value of %q: %w", key, err)
	}
	return v, nil
}
