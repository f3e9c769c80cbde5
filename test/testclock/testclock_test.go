package testclock_test

import (
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/test/testclock"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestManualMovesOnlyWhenTold(t *testing.T) {
	c := testclock.NewManual(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v; want %v", got, start)
	}
	soon, later := c.After(time.Second), c.After(time.Minute)
	if !fired(c.After(0)) {
		t.Error("After(0) did not fire at once")
	}
	c.Advance(999 * time.Millisecond)
	if fired(soon) {
		t.Error("a 1 s timer fired after 999 ms")
	}
	c.Advance(time.Millisecond)
	if !fired(soon) || fired(later) {
		t.Error("after 1 s: want the 1 s timer fired and the 1 min one waiting")
	}
	c.Set(start.Add(time.Hour))
	if !fired(later) || !c.Now().Equal(start.Add(time.Hour)) {
		t.Error("Set past the deadline did not fire the 1 min timer")
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Error("Set backwards did not move the clock")
	}
}

func TestFromSources(t *testing.T) {
	m := testclock.NewManual(start)
	if testclock.From(m) != testclock.Clock(m) {
		t.Error("From(*Manual) is not the clock itself")
	}
	if got := testclock.From(m.Now).Now(); !got.Equal(start) {
		t.Errorf("From(m.Now).Now() = %v; want %v", got, start)
	}
	if c := testclock.From((*testclock.Manual)(nil)); c != nil {
		t.Errorf("From of a nil Manual = %v; want nil", c)
	}
	if c := testclock.From((func() time.Time)(nil)); c != nil {
		t.Errorf("From of a nil function = %v; want nil", c)
	}
	if d := time.Since(testclock.From(testclock.Wall{}).Now()); d < 0 || d > time.Hour {
		t.Errorf("the wall clock is %v away from time.Now", d)
	}
}

func TestManualFiresWithItsTime(t *testing.T) {
	start := time.Unix(100, 0)
	c := testclock.NewManual(start)
	now := c.After(0)
	later := c.After(2 * time.Second)
	select {
	case <-now:
	default:
		t.Error("After(0) did not fire at once")
	}
	c.Advance(time.Second)
	select {
	case <-later:
		t.Fatal("fired a second early")
	default:
	}
	c.Advance(time.Second)
	select {
	case at := <-later:
		if !at.Equal(start.Add(2 * time.Second)) {
			t.Errorf("fired with %v", at)
		}
	default:
		t.Error("did not fire at its deadline")
	}
}
