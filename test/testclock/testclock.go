// Package testclock is the clock the tests inject into stores and test
// servers instead of sleeping: a Manual clock moves only when the test says
// so, and fires the timers it handed out once their deadline is reached.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time source with timers: what the test servers read for
// timestamps and wait on for heartbeats.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Wall is the real clock.
type Wall struct{}

// Now returns time.Now().
func (Wall) Now() time.Time { return time.Now() }

// After is time.After.
func (Wall) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Func is a bare time source: its Now is the function, its timers run on the
// wall clock.
type Func func() time.Time

// Now calls f.
func (f Func) Now() time.Time { return f() }

// After is time.After.
func (Func) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Source is what a WithClock option takes: a Manual clock, the Wall clock or
// a bare now function (a method value such as clock.Now, or a literal).
type Source interface {
	*Manual | Wall | func() time.Time
}

// From turns a Source into a Clock; a nil Manual or function gives nil.
func From[S Source](s S) Clock {
	switch v := any(s).(type) {
	case *Manual:
		if v != nil {
			return v
		}
	case func() time.Time:
		if v != nil {
			return Func(v)
		}
	case Wall:
		return v
	}
	return nil
}

// Manual is a Clock that moves only when Advance or Set is called. Channels
// returned by After fire once the clock has reached their deadline. It is
// safe for concurrent use.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a Manual clock that reads start until moved.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time once it has moved
// at least d past now. A d of zero or less fires at once.
func (c *Manual) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock forward by d and fires every After channel whose
// deadline has been reached.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t, backwards too, and fires every After channel
// whose deadline has been reached.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

func (c *Manual) setLocked(t time.Time) {
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}
