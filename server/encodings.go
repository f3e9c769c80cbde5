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

// Marshal encodes v, passing an encodedMessage through untouched.
func (c *requestCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *encodedMessage:
		// A SliceBuffer is never returned to a pool, so the bytes can be
		// shared by every stream that sends them.
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
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
// more than maxSize bytes. filter names the subscriber's filter; see
// batchKey.
//
// An encoded SubscribeResponse carrying one event is its field 1; so is
// every event of an EventBatch. A batch is therefore the batch field's
// header followed by the events' SubscribeResponse encodings, as they are,
// for SubscribeResponse and WatchResponse alike.
func (c *eventEncodings) message(ups []backend.Update, watch bool, batch, maxSize int, filter string) (int, any, error) {
	if batch <= 1 || len(ups) == 1 {
		m, err := c.get(ups[0].Event, watch)
		return 1, m, err
	}
	run := ups[:min(len(ups), batch)]
	k := batchKey{first: run[0].Event, last: run[len(run)-1].Event, n: len(run), watch: watch, filter: filter}
	c.mu.RLock()
	b, ok := c.batches.cur[k]
	if !ok {
		b, ok = c.batches.prev[k]
	}
	c.mu.RUnlock()
	if !ok {
		b = c.runFor(k)
	}
	// Subscribers woken together ask for the same run at once: one encodes
	// it while the others wait for it.
	b.once.Do(func() { b.n, b.m, b.err = c.encodeRun(run, watch, maxSize) })
	return b.n, b.m, b.err
}

// runFor returns the entry for k, adding an empty one if there is none.
func (c *eventEncodings) runFor(k batchKey) *encodedRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.batches.cur[k]
	if !ok {
		b, ok = c.batches.prev[k]
	}
	if !ok {
		b = &encodedRun{}
		if c.batches.cur == nil || len(c.batches.cur) >= batchEncodingsKept {
			c.batches.prev, c.batches.cur = c.batches.cur, make(map[batchKey]*encodedRun, batchEncodingsKept)
		}
		c.batches.cur[k] = b
	}
	return b
}

// encodeRun encodes the first events of run as one message: an EventBatch
// of them all where they fit in maxSize, else of those that do, else the
// first alone.
func (c *eventEncodings) encodeRun(run []backend.Update, watch bool, maxSize int) (int, any, error) {
	field := protowire.Number(subscribeBatchField)
	if watch {
		field = watchBatchField
	}
	// Room for the header: tag and length.
	maxSize -= 16
	parts := make([]*encodedMessage, 0, len(run))
	size := 0
	for _, u := range run {
		m, err := c.get(u.Event, false)
		if err != nil {
			return 0, nil, err
		}
		if len(parts) > 0 && size+len(m.b) > maxSize {
			break
		}
		parts = append(parts, m)
		size += len(m.b)
	}
	if len(parts) == 1 {
		m, err := c.get(run[0].Event, watch)
		return 1, m, err
	}
	b := protowire.AppendTag(make([]byte, 0, 16+size), field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for _, p := range parts {
		b = append(b, p.b...)
	}
	return len(parts), &encodedMessage{b: b}, nil
}

// batchEncodingsKept bounds the batch messages kept: enough for the
// distinct filters of the subscribers woken together, twice over.
const batchEncodingsKept = 1024

// batchKey names a run of events that a subscriber is about to be sent:
// its first and last event, how many it has, the message type and the
// subscriber's filter. The hub hands every subscriber the events of its one
// window in order, each once, so two subscribers with the same filter that
// both start a run at the same event and end it at the same event have the
// same events in between; their message is encoded once. (Events read on a
// catch-up reader of a subscriber's own are objects of its own, and so
// never match another subscriber's.)
type batchKey struct {
	first, last *backend.Event
	n           int
	watch       bool
	filter      string
}

// encodedRun is the message for a batchKey, encoded once.
type encodedRun struct {
	once sync.Once
	n    int
	m    any
	err  error
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
	// batches holds the newest batch messages in the same way.
	batches struct {
		cur, prev map[batchKey]*encodedRun
	}
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
