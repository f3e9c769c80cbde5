package dial

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		url, name string
	}{
		{"", "embedded"},
		{"embedded:", "embedded"},
		{"embedded:?dbs=users,cache:hash", "embedded"},
		{"kt://127.0.0.1:1", "kt://127.0.0.1:1"},
		{"tt://127.0.0.1:1", "tt://127.0.0.1:1"},
	} {
		b, err := Open(ctx, tc.url)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if !strings.HasPrefix(b.Name(), tc.name) {
			t.Errorf("Open(%q).Name() = %q; want prefix %q", tc.url, b.Name(), tc.name)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Open(%q).Close(): %v", tc.url, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	for _, raw := range []string{"redis://x:1", "embedded:?bogus=1", "kt://127.0.0.1:1?bogus=1", "tt://127.0.0.1:1?bogus=1", "%zz"} {
		b, err := Open(context.Background(), raw)
		if err == nil {
			t.Errorf("Open(%q) succeeded; want an error", raw)
			continue
		}
		// A failed Open must return a nil interface, not a typed nil.
		if b != nil {
			t.Errorf("Open(%q) returned a non-nil backend with error %v", raw, err)
		}
		if !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Open(%q) err = %v; want one wrapping backend.ErrInvalid", raw, err)
		}
	}
}
