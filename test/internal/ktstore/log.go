// Package ktstore holds what the Kyoto Tycoon test server (test/kttest)
// needs of an embedded.Store beyond the backend interface, built on the
// Store's public API: a pull-style reader of its update log with Kyoto
// Tycoon's way of starting from a position that is gone.
package ktstore

import (
	"context"
	"errors"
	"sync"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

// Log reads a Store's update log without subscribing, as a Kyoto Tycoon
// replication master and its update-log listing do. It is safe for
// concurrent use.
type Log struct {
	s *embedded.Store
	// ctx ends the goroutine behind a pending wait channel.
	ctx context.Context

	mu sync.Mutex
	// wake is the pending wait channel, nil when none: it is closed at the
	// first event after wakeAt, or when the store closes or ctx ends.
	wake   chan struct{}
	wakeAt uint64
}

// NewLog returns a reader of s's update log. ctx bounds the waits it
// starts; end it when the reader is no longer used.
func NewLog(ctx context.Context, s *embedded.Store) *Log {
	return &Log{s: s, ctx: ctx}
}

// errStop ends a subscription that has read what it needs.
var errStop = errors.New("ktstore: read enough")

// ReadLog returns up to max retained events with positions after after
// (exclusive), oldest first, and a channel that is closed at the next
// append (or when the store closes), so that a reader that has caught up
// can wait. A position older than the retained log starts at the oldest
// retained event without an error, as Kyoto Tycoon's update-log reader
// does.
func (l *Log) ReadLog(ctx context.Context, after uint64, max int) ([]backend.Event, <-chan struct{}, error) {
	var events []backend.Event
	end := after
	read := func(from uint64) error {
		return l.s.Subscribe(ctx, backend.SubscribeOptions{After: from}, func(u backend.Update) error {
			end = u.Position
			if u.Event == nil {
				// Caught up: without a filter, only the end of the log
				// comes without an event.
				return errStop
			}
			events = append(events, *u.Event)
			if len(events) >= max {
				return errStop
			}
			return nil
		})
	}
	err := errStop
	if max > 0 {
		err = read(after)
		if errors.Is(err, backend.ErrOutOfRange) {
			// Every retained event is after a position older than them.
			err = read(0)
		}
	}
	if !errors.Is(err, errStop) {
		return nil, nil, err
	}
	return events, l.waitAfter(end), nil
}

// waitAfter returns a channel closed at the first event after pos. Callers
// caught up at the same position share one wait; a wait for an older
// position ends at once, as there are events after it.
func (l *Log) waitAfter(pos uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wake != nil && l.wakeAt == pos {
		return l.wake
	}
	wake := make(chan struct{})
	l.wake, l.wakeAt = wake, pos
	go func() {
		_ = l.s.Subscribe(l.ctx, backend.SubscribeOptions{After: pos}, func(u backend.Update) error {
			if u.Event == nil {
				return nil
			}
			return errStop
		})
		l.mu.Lock()
		if l.wake == wake {
			l.wake = nil
		}
		l.mu.Unlock()
		close(wake)
	}()
	return wake
}
