package ktgrpc

import (
	"context"
	"time"
)

// WithWait replaces the pause of Watch between attempts, so that tests
// observe the delays instead of sleeping through them.
func WithWait(f func(ctx context.Context, d time.Duration) error) Option {
	return func(s *settings) { s.wait = f }
}
