package server

import (
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// encodedMessage is a stream message marshalled in advance; the codec sends
// its bytes as they are. Compression, if any, still applies per stream.
type encodedMessage struct{ b []byte }

// encodedBatch is an EventBatch message made of a header of its own and
// the shared encodings of its events, sent without copying them.
type encodedBatch struct{ parts mem.BufferSlice }

// Marshal encodes v, passing an encodedMessage or encodedBatch through
// untouched.
func (c *requestCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *encodedMessage:
		// A SliceBuffer is never returned to a pool, so the bytes can be
		// shared by every stream that sends them.
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	case *encodedBatch:
		return m.parts, nil
	}
	return c.CodecV2.Marshal(v)
}

// Field numbers of the EventBatch in SubscribeResponse and WatchResponse.
const (
	subscribeBatchField = 3
	watchBatchField     = 4
)

// message returns the message that carries the events of the first n of
// ups, which all have one, at most batch of them and, beyond the first, no
// more than maxSize bytes.
//
// An encoded SubscribeResponse carrying one event is its field 1; so is
// every event of an EventBatch. A batch is therefore the batch field's
// header followed by the events' shared SubscribeResponse encodings, as
// they are, for SubscribeResponse and WatchResponse alike.
func (c *eventEncodings) message(ups []backend.Update, watch bool, batch, maxSize int) (int, any, error) {
	if batch <= 1 || len(ups) == 1 {
		m, err := c.get(ups[0].Event, watch)
		return 1, m, err
	}
	field := protowire.Number(subscribeBatchField)
	if watch {
		field = watchBatchField
	}
	// Room for the header: tag and length.
	maxSize -= 16
	parts := make(mem.BufferSlice, 1, 1+min(len(ups), batch))
	size := 0
	for _, u := range ups[:min(len(ups), batch)] {
		m, err := c.get(u.Event, false)
		if err != nil {
			return 0, nil, err
		}
		if len(parts) > 1 && size+len(m.b) > maxSize {
			break
		}
		parts = append(parts, mem.SliceBuffer(m.b))
		size += len(m.b)
	}
	if len(parts) == 2 {
		m, err := c.get(ups[0].Event, watch)
		return 1, m, err
	}
	hdr := protowire.AppendTag(make([]byte, 0, 16), field, protowire.BytesType)
	parts[0] = mem.SliceBuffer(protowire.AppendVarint(hdr, uint64(size)))
	return len(parts) - 1, &encodedBatch{parts: parts}, nil
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
