package server

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// TestEventEncodings: an event is encoded once per message type, the bytes
// are the message every stream would have sent, and the memory is bounded.
func TestEventEncodings(t *testing.T) {
	var c eventEncodings
	e := &backend.Event{Position: 7, DB: "0", Op: backend.OpSet, Key: []byte("k"), Value: []byte("v"), Command: "set"}
	sub, err := c.get(e, false)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.get(e, false); again != sub {
		t.Fatal("the same event was encoded twice")
	}
	var sr ktgrpcv1.SubscribeResponse
	if err := proto.Unmarshal(sub.b, &sr); err != nil || !proto.Equal(sr.GetEvent(), toEvent(e)) {
		t.Fatalf("Subscribe encoding decodes to %v, %v; want %v", &sr, err, toEvent(e))
	}
	watch, err := c.get(e, true)
	if err != nil {
		t.Fatal(err)
	}
	var wr ktgrpcv1.WatchResponse
	if err := proto.Unmarshal(watch.b, &wr); err != nil || !proto.Equal(wr.GetEvent(), toEvent(e)) {
		t.Fatalf("Watch encoding decodes to %v, %v; want %v", &wr, err, toEvent(e))
	}
	for i := range 2 * eventEncodingsKept {
		if _, err := c.get(&backend.Event{Position: uint64(100 + i)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.cur) + len(c.prev); n > 2*eventEncodingsKept {
		t.Fatalf("%d encodings kept, want at most %d", n, 2*eventEncodingsKept)
	}
	if again, _ := c.get(e, false); again == sub {
		t.Fatal("an old event's encoding was kept past the bound")
	}
}

// TestEventBatchEncoding: several events make one EventBatch message of the
// stream's type, with the events in order, no more than asked for and, past
// the first, within the size limit; one event, or a batch of 1, is the
// single-event message.
func TestEventBatchEncoding(t *testing.T) {
	var c eventEncodings
	var ups []backend.Update
	for i := range 5 {
		e := &backend.Event{Position: uint64(10 + i), Op: backend.OpSet, Key: []byte{'k', byte('0' + i)}, Value: []byte("value")}
		ups = append(ups, backend.Update{Position: e.Position, Event: e})
	}
	decode := func(m any) (*ktgrpcv1.SubscribeResponse, *ktgrpcv1.WatchResponse) {
		t.Helper()
		sub, watch := &ktgrpcv1.SubscribeResponse{}, &ktgrpcv1.WatchResponse{}
		bs, err := newRequestCodec().Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b := bs.Materialize()
		if err := proto.Unmarshal(b, sub); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(b, watch); err != nil {
			t.Fatal(err)
		}
		return sub, watch
	}
	one, err := c.get(ups[0].Event, false)
	if err != nil {
		t.Fatal(err)
	}
	size := len(one.b) // the same for every event here
	for _, tc := range []struct {
		watch          bool
		batch, maxSize int
		want           int
	}{
		{false, 0, 1 << 20, 1},
		{false, 1, 1 << 20, 1},
		{false, 3, 1 << 20, 3},
		{true, 64, 1 << 20, 5},
		{false, 64, 16 + size + size/2, 1}, // two events do not fit
		{true, 64, 16 + 2*size, 2},
	} {
		n, m, err := c.message(ups, tc.watch, tc.batch, tc.maxSize, fmt.Sprint(tc))
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("%+v: %d events taken, want %d", tc, n, tc.want)
			continue
		}
		sub, watch := decode(m)
		var got []*ktgrpcv1.Event
		switch {
		case n == 1 && !tc.watch:
			got = []*ktgrpcv1.Event{sub.GetEvent()}
		case n == 1:
			got = []*ktgrpcv1.Event{watch.GetEvent()}
		case !tc.watch:
			got = sub.GetEvents().GetEvents()
		default:
			got = watch.GetEvents().GetEvents()
		}
		if len(got) != n {
			t.Fatalf("%+v: the message carries %d events, want %d", tc, len(got), n)
		}
		for i, ev := range got {
			if !proto.Equal(ev, toEvent(ups[i].Event)) {
				t.Errorf("%+v: event %d is %v, want %v", tc, i, ev, toEvent(ups[i].Event))
			}
		}
	}
}

// TestEventBatchShared: subscribers with the same filter that are sent the
// same run of events share one encoded message; a subscriber with another
// filter whose run has the same ends and length, but other events between
// them, gets its own.
func TestEventBatchShared(t *testing.T) {
	var c eventEncodings
	var evs []*backend.Event
	for i := range 5 {
		evs = append(evs, &backend.Event{Position: uint64(10 + i), Op: backend.OpSet, Key: []byte{'k', byte('0' + i)}})
	}
	updates := func(idx ...int) []backend.Update {
		var ups []backend.Update
		for _, i := range idx {
			ups = append(ups, backend.Update{Position: evs[i].Position, Event: evs[i]})
		}
		return ups
	}
	keys := func(m any) []string {
		t.Helper()
		bs, err := newRequestCodec().Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var sr ktgrpcv1.SubscribeResponse
		if err := proto.Unmarshal(bs.Materialize(), &sr); err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, e := range sr.GetEvents().GetEvents() {
			ks = append(ks, string(e.GetKey()))
		}
		return ks
	}
	_, a, err := c.message(updates(0, 1, 4), false, 64, 1<<20, "filter A")
	if err != nil {
		t.Fatal(err)
	}
	_, again, _ := c.message(updates(0, 1, 4), false, 64, 1<<20, "filter A")
	if again != a {
		t.Error("the same run for the same filter was encoded twice")
	}
	_, b, _ := c.message(updates(0, 3, 4), false, 64, 1<<20, "filter B")
	if b == a {
		t.Fatal("another filter's run with the same ends and length got the first filter's message")
	}
	if got := fmt.Sprint(keys(a), keys(b)); got != "[k0 k1 k4] [k0 k3 k4]" {
		t.Errorf("the messages carry %s, want [k0 k1 k4] [k0 k3 k4]", got)
	}
	for i := range 2 * batchEncodingsKept {
		e := &backend.Event{Position: uint64(100 + i)}
		if _, _, err := c.message([]backend.Update{{Event: e}, {Event: e}}, false, 64, 1<<20, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.batches.cur) + len(c.batches.prev); n > 2*batchEncodingsKept {
		t.Fatalf("%d batch messages kept, want at most %d", n, 2*batchEncodingsKept)
	}
}
