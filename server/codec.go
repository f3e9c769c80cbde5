package server

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	protov2 "google.golang.org/protobuf/proto"
)

// requestCodec is grpc's proto codec with one difference: a request that does
// not decode is the caller's fault, and must reach the caller as
// INVALID_ARGUMENT. grpc-go turns every Unmarshal error into INTERNAL, so
// Unmarshal reports success, notes the failure against the message, and the
// interceptors (badRequestUnary, badRequestStream) answer with it before any
// handler sees the message.
type requestCodec struct {
	encoding.CodecV2

	mu  sync.Mutex
	bad map[any]error // message -> why it did not decode
}

func newRequestCodec() *requestCodec {
	return &requestCodec{CodecV2: encoding.GetCodecV2(proto.Name), bad: map[any]error{}}
}

// Unmarshal decodes data into v; see requestCodec for why a failure is
// returned later.
func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(protov2.Message)
	if !ok {
		return err
	}
	protov2.Reset(m)
	c.mu.Lock()
	c.bad[v] = invalidRequest(m, data.Len(), err)
	c.mu.Unlock()
	return nil
}

// take returns, and forgets, the decoding failure of v.
func (c *requestCodec) take(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err, ok := c.bad[v]
	if ok {
		delete(c.bad, v)
	}
	return err
}

// invalidRequest explains a decoding failure in terms a client author can
// act on.
func invalidRequest(m protov2.Message, size int, err error) error {
	hint := "the bytes are not a valid protobuf encoding of it (truncated, a length or varint beyond the message, or a malformed tag)"
	if strings.Contains(err.Error(), "UTF-8") {
		hint = "a string field holds bytes that are not valid UTF-8; string fields (db, regex, names) must be UTF-8, keys and values are bytes fields"
	}
	return invalidf("the %d-byte request message could not be decoded as %s: %s (%v)",
		size, protov2.MessageName(m), hint, err)
}

// badRequestUnary answers a request that did not decode.
func (c *requestCodec) badRequestUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.take(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// badRequestStream ends a stream at the first message that did not decode.
func (c *requestCodec) badRequestStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &decodeCheckedStream{ServerStream: ss, c: c})
}

type decodeCheckedStream struct {
	grpc.ServerStream
	c *requestCodec
}

// RecvMsg receives m and fails when it did not decode.
func (st *decodeCheckedStream) RecvMsg(m any) error {
	if err := st.ServerStream.RecvMsg(m); err != nil {
		// A message that decoded badly but whose receive failed anyway
		// must not stay in the table.
		_ = st.c.take(m)
		return err
	}
	return st.c.take(m)
}
