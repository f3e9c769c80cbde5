package backend_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

type recorder struct{ events []string }

func (r *recorder) RoundTrip(ctx context.Context, name, op string) (context.Context, func(error)) {
	r.events = append(r.events, "start "+name+" "+op)
	return context.WithValue(ctx, r, op), func(err error) { r.events = append(r.events, "end "+op+" "+err.Error()) }
}

func TestStartRoundTrip(t *testing.T) {
	ctx := context.Background()
	got, end := backend.StartRoundTrip(ctx, "kt", "get")
	if got != ctx {
		t.Fatal("without an observer the context was replaced")
	}
	end(nil)
	if n := testing.AllocsPerRun(100, func() {
		_, end := backend.StartRoundTrip(ctx, "kt", "get")
		end(nil)
	}); n != 0 {
		t.Errorf("a round trip without an observer allocates %v times", n)
	}

	r := &recorder{}
	got, end = backend.StartRoundTrip(backend.WithRoundTripObserver(ctx, r), "tt", "put")
	if got.Value(r) != "put" {
		t.Fatal("the observer's context was not handed back")
	}
	end(errors.New("boom"))
	if len(r.events) != 2 || r.events[0] != "start tt put" || r.events[1] != "end put boom" {
		t.Fatalf("events = %q", r.events)
	}
}
