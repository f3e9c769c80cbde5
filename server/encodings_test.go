package server

import (
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
