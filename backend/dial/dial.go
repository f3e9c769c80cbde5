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
		return nil, fmt.Errorf("backend URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "embedded":
		return embedded.Open(u)
	case "kt":
		return kt.Open(ctx, u)
	case "tt":
		return tt.Open(ctx, u)
	default:
		return nil, fmt.Errorf("backend URL %q: unknown scheme %q (want embedded:, kt://host:port or tt://host:port)", rawURL, u.Scheme)
	}
}
