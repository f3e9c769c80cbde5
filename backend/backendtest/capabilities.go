package backendtest

import (
	"errors"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// testCapabilitiesHonest checks each capability that is an option of a core
// call, or the Atomic interface, against what the backend does: listed, the
// call is not refused as unsupported; not listed, it is. The gateway
// refuses unlisted options before the backend sees them, so a backend that
// lists too little hides a feature and one that lists too much lets calls
// through that then fail.
func testCapabilitiesHonest(e *env) {
	k, missing := e.key("cap"), e.key("cap-missing")
	e.must(e.b.Set(e.ctx, e.db, k, []byte("12345678"), backend.Expiry{}, backend.WriteOptions{}))
	hour := backend.Expiry{TTL: time.Hour}
	checks := []struct {
		c    backend.Capability
		call func() error
	}{
		{backend.CapExpiry, func() error {
			return e.b.Set(e.ctx, e.db, k, []byte("v"), hour, backend.WriteOptions{})
		}},
		{backend.CapMatchRegex, func() error {
			_, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchRegex, Regex: "cap"}, 0)
			return err
		}},
		{backend.CapMatchSimilar, func() error {
			_, err := e.b.MatchKeys(e.ctx, e.db, backend.Match{Kind: backend.MatchSimilar, Origin: k, MaxDistance: 1}, 0)
			return err
		}},
		{backend.CapAppendKeepLast, func() error {
			return e.b.Append(e.ctx, e.db, k, []byte("ab"), backend.Expiry{}, 4)
		}},
		{backend.CapIncrementOptions, func() error {
			_, _, err := e.b.Increment(e.ctx, e.db, missing, 1, backend.IncrementOptions{MustExist: true})
			return err
		}},
		{backend.CapAtomic, func() error {
			_, _, err := atomicOf(e.b).Seize(e.ctx, e.db, missing)
			return err
		}},
	}
	for _, c := range checks {
		err := c.call()
		listed := backend.Has(e.b, c.c)
		switch unsupported := errors.Is(err, backend.ErrUnsupported); {
		case listed && unsupported:
			e.t.Errorf("%T lists %q but refuses it: %v", e.b, c.c, err)
		case listed && err != nil:
			e.t.Errorf("%q: %v", c.c, err)
		case !listed && !unsupported:
			e.t.Errorf("%T does not list %q but does not refuse it: err = %v", e.b, c.c, err)
		}
	}
	for _, c := range e.b.Capabilities() {
		if c.Describe() == string(c) {
			e.t.Errorf("%T lists %q, which the backend package does not know", e.b, c)
		}
	}
}
