package kt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// TestKTCheckRetained rotates the test server's update log into small files
// and removes the older ones: a start position whose changes went with them
// is out of range, naming the oldest retained position; one from which
// nothing is missing passes, and Subscribe from it starts at that change.
func TestKTCheckRetained(t *testing.T) {
	srv := kttest.Start(t, kttest.WithUlogLimit(200))
	b := mustOpen(t, "kt://"+srv.Addr())
	ctx := t.Context()
	var positions []uint64
	for i := range 20 {
		if err := b.Set(ctx, "", []byte(fmt.Sprintf("k%02d", i)), []byte(strings.Repeat("v", 40)), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := b.Subscribe(ctx, backend.SubscribeOptions{}, func(u backend.Update) error {
		if u.Event == nil {
			return errStop
		}
		positions = append(positions, u.Event.Position)
		return nil
	})
	if !errors.Is(err, errStop) || len(positions) != 20 {
		t.Fatalf("replay: %d events, %v", len(positions), err)
	}
	for _, after := range []uint64{0, 1, positions[0], positions[10]} {
		if err := b.CheckRetained(ctx, after); err != nil {
			t.Errorf("nothing removed: CheckRetained(%d) = %v", after, err)
		}
	}

	files, err := b.ListUpdateLogs(ctx)
	if err != nil || len(files) < 3 {
		t.Fatalf("ulog_list: %+v, %v; want several files", files, err)
	}
	if err := b.RemoveUpdateLogs(ctx, &files[1].MaxPosition); err != nil {
		t.Fatal(err)
	}
	left, err := b.ListUpdateLogs(ctx)
	if err != nil || len(left) != len(files)-2 || left[0].Path != files[2].Path {
		t.Fatalf("after removing two files: %+v, %v", left, err)
	}
	// The oldest change left is the first after the removed files' newest.
	oldestIdx := 0
	for positions[oldestIdx] <= files[1].MaxPosition {
		oldestIdx++
	}
	oldest := positions[oldestIdx]
	for _, c := range []struct {
		after uint64
		ok    bool
	}{
		{0, true},
		{1, false},
		{positions[0], false},
		{positions[oldestIdx-1] - 1, false},
		// Holding every change up to the one just before the oldest
		// left loses nothing. (The newest removed change itself passes
		// only when no position lies between the two: ulog_list does
		// not name it.)
		{oldest - 1, true},
		{oldest, true},
		{positions[19], true},
	} {
		err := b.CheckRetained(ctx, c.after)
		switch {
		case c.ok && err != nil:
			t.Errorf("CheckRetained(%d) = %v; want it to pass", c.after, err)
		case !c.ok && (!errors.Is(err, backend.ErrOutOfRange) || !strings.Contains(err.Error(), "oldest retained position "+strconv.FormatUint(oldest, 10))):
			t.Errorf("CheckRetained(%d) = %v; want ErrOutOfRange naming %d", c.after, err, oldest)
		}
	}
	// The server itself starts such a stream at the oldest change left.
	var first uint64
	err = b.Subscribe(ctx, backend.SubscribeOptions{After: 1}, func(u backend.Update) error {
		first = u.Position
		return errStop
	})
	if !errors.Is(err, errStop) || first != oldest {
		t.Fatalf("stream after 1 started at %d (%v); want the oldest change left, %d", first, err, oldest)
	}
}

var errStop = errors.New("stop")

// TestKTCheckRetainedNoLog: a server without an update log leaves the
// refusal to Subscribe.
func TestKTCheckRetainedNoLog(t *testing.T) {
	srv := kttest.Start(t, kttest.WithConfig(kttest.ConfigNoUlog))
	b := mustOpen(t, "kt://"+srv.Addr())
	if err := b.CheckRetained(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
}
