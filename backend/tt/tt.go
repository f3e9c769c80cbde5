// Package tt is the backend adapter for Tokyo Tyrant.
package tt

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Backend is a TT adapter. It implements backend.Backend.
type Backend struct {
	backend.Backend
}

// Open connects to the server named by u (tt://host:port).
func Open(ctx context.Context, u *url.URL) (*Backend, error) {
	return nil, fmt.Errorf("%s: adapter not available yet: %w", u.Redacted(), backend.ErrUnsupported)
}
