// Package dial opens a backend.Backend from a URL, so that the binary and the
// tests choose a store the same way.
package dial

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/kt"
	"github.com/ktgrpc/ktgrpc/backend/tt"
)

// Default is the backend used when none is configured.
const Default = "embedded:"

// Open returns the backend named by rawURL: "embedded:..." (the default when
// rawURL is empty), "kt://host:port" or "tt://host:port".
func Open(ctx context.Context, rawURL string) (backend.Backend, error) {
	if rawURL == "" {
		rawURL = Default
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("backend URL %q: %v: %w", rawURL, err, backend.ErrInvalid)
	}
	// Each case checks err itself: returning a nil *T as backend.Backend
	// would give the caller a non-nil interface.
	switch u.Scheme {
	case "embedded":
		b, err := embedded.Open(u)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "kt":
		b, err := kt.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "tt":
		b, err := tt.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return b, nil
	default:
		return nil, fmt.Errorf("backend URL %q: unknown scheme %q (want embedded:, kt://host:port or tt://host:port): %w", rawURL, u.Scheme, backend.ErrInvalid)
	}
}
