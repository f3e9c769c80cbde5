package server

import (
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// encodedMessage is a stream message marshalled in advance; the codec sends
// its bytes as they are. Compression, if any, still applies per stream.
type encodedMessage struct{ b []byte }

// Marshal encodes v, passing an encodedMessage through untouched.
func (c *requestCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*encodedMessage); ok {
		// A SliceBuffer is never returned to a pool, so the bytes can be
		// shared by every stream that sends them.
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// eventEncodingsKept bounds the events whose encodings are kept: at least
// as many as a burst that reaches every subscriber, and at most twice it.
const eventEncodingsKept = 4096

// eventEncodings keeps the encoded messages of recent events. The hub hands
// the same event to every subscriber, so an event that reaches a thousand
// unfiltered subscribers is marshalled once per message type, not a
// thousand times.
type eventEncodings struct {
	mu sync.RWMutex
	// cur and prev hold the newest encodings; cur becomes prev when full.
	// The keys keep their events alive, so an address is never reused
	// while it is a key.
	cur, prev map[encodingKey]*encodedMessage
}

type encodingKey struct {
	e     *backend.Event
	watch bool
}

// get returns the SubscribeResponse (or, with watch, WatchResponse)
// carrying e, encoded.
func (c *eventEncodings) get(e *backend.Event, watch bool) (*encodedMessage, error) {
	k := encodingKey{e, watch}
	c.mu.RLock()
	m, ok := c.cur[k]
	if !ok {
		m, ok = c.prev[k]
	}
	c.mu.RUnlock()
	if ok {
		return m, nil
	}
	var msg proto.Message
	if watch {
		msg = &ktgrpcv1.WatchResponse{Kind: &ktgrpcv1.WatchResponse_Event{Event: toEvent(e)}}
	} else {
		msg = &ktgrpcv1.SubscribeResponse{Kind: &ktgrpcv1.SubscribeResponse_Event{Event: toEvent(e)}}
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return nil, err
	}
	m = &encodedMessage{b: b}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || len(c.cur) >= eventEncodingsKept {
		c.prev, c.cur = c.cur, make(map[encodingKey]*encodedMessage, eventEncodingsKept)
	}
	c.cur[k] = m
	return m, nil
}
