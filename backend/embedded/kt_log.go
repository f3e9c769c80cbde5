package embedded

import (
	"context"

	"github.com/ktgrpc/ktgrpc/backend"
)

// ReadLog reads the update log without subscribing: up to max retained
// events with positions after after (exclusive), oldest first, and a
// channel that is closed at the next append (or when the store closes), so
// that a reader that has caught up can wait. It suits pull-style readers
// such as a Kyoto Tycoon replication master, which must know when it has
// caught up. A position older than the retained log starts at the oldest
// retained event without an error, as Kyoto Tycoon's update-log reader
// does. The events' slices must not be modified.
func (s *Store) ReadLog(ctx context.Context, after uint64, max int) ([]backend.Event, <-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, errClosed
	}
	events, err := s.log.since(after, max, true)
	if err != nil {
		return nil, nil, err
	}
	return events, s.waitChan(), nil
}
