// Package kt is the backend adapter for Kyoto Tycoon.
package kt

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Backend is a KT adapter. It implements backend.Backend.
type Backend struct {
	backend.Backend
}

// Open connects to the server named by u (kt://host:port).
func Open(ctx context.Context, u *url.URL) (*Backend, error) {
	return nil, fmt.Errorf("%s: adapter not available yet: %w", u.Redacted(), backend.ErrUnsupported)
}
