package goclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// TestErrorReasonsRoundTrip checks that what the gateway says reaches the
// caller whole: the reason, its metadata and the field at fault, beside
// the sentinels of the code and the reason.
func TestErrorReasonsRoundTrip(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	err := c.SetString(ctx, "", "v")
	var e *ktgrpc.Error
	if !errors.As(err, &e) || e.Reason != rpctypes.ReasonInvalidArgument || ktgrpc.ReasonOf(err) != rpctypes.ReasonInvalidArgument {
		t.Fatalf("Set with an empty key: %v (reason %q)", err, ktgrpc.ReasonOf(err))
	}
	if len(e.FieldViolations) != 1 || e.FieldViolations[0].Field != "key" {
		t.Fatalf("field violations %+v, want one naming key", e.FieldViolations)
	}

	mustSet(t, c, "text", "abc")
	_, err = c.Increment(ctx, "text", 1)
	if !errors.Is(err, ktgrpc.ErrPrecondition) || !errors.Is(err, ktgrpc.ErrIncompatible) || errors.Is(err, ktgrpc.ErrMismatch) {
		t.Fatalf("Increment of text: %v, want ErrPrecondition and ErrIncompatible only", err)
	}
	if r := ktgrpc.ReasonOf(err); r != rpctypes.ReasonIncompatibleValue {
		t.Fatalf("Increment of text: reason %q", r)
	}

	mustSet(t, c, "h", "v", ktgrpc.WithDB("cache"))
	err = seqErr(c.Scan(ctx, ktgrpc.WithDB("cache"), ktgrpc.WithReverse()))
	if !errors.Is(err, ktgrpc.ErrUnsupported) || errors.Is(err, ktgrpc.ErrCapabilityMissing) || ktgrpc.ReasonOf(err) != rpctypes.ReasonUnsupported {
		t.Fatalf("reverse scan of a hash database: %v (reason %q), want UNSUPPORTED, not a missing capability", err, ktgrpc.ReasonOf(err))
	}

	if _, err := c.Get(ctx, "missing"); ktgrpc.ReasonOf(err) != rpctypes.ReasonNotFound {
		t.Fatalf("Get of a missing key: reason %q", ktgrpc.ReasonOf(err))
	}
	if ktgrpc.ReasonOf(nil) != "" {
		t.Fatal("ReasonOf(nil) is not empty")
	}
}

// noAtomic is the embedded store without its atomic calls listed, as a
// backend without them looks to the gateway.
type noAtomic struct{ *embedded.Store }

func (noAtomic) Capabilities() []backend.Capability { return nil }

// A missing capability reaches the caller as ErrCapabilityMissing (and
// ErrUnsupported) naming the capability, through the client's own calls and
// through the stubs alike.
func TestCapabilityMissingRoundTrip(t *testing.T) {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c := ktgrpc.New(gatewaytest.Start(t, noAtomic{store}))
	ctx := context.Background()

	_, err = c.Replace(ctx, "k", []byte("v"))
	var e *ktgrpc.Error
	if !errors.As(err, &e) || !errors.Is(err, ktgrpc.ErrCapabilityMissing) || !errors.Is(err, ktgrpc.ErrUnsupported) {
		t.Fatalf("Replace without the atomic capability: %v", err)
	}
	if e.Reason != rpctypes.ReasonCapabilityMissing || e.Metadata[rpctypes.MetaCapability] != "atomic" || e.Metadata[rpctypes.MetaCall] != "KV.Replace" {
		t.Fatalf("Replace: reason %q, metadata %v", e.Reason, e.Metadata)
	}

	_, err = c.KV().Seize(ctx, &ktgrpcv1.SeizeRequest{Key: []byte("k")})
	if ktgrpc.ReasonOf(err) != rpctypes.ReasonCapabilityMissing || rpctypes.Metadata(err)[rpctypes.MetaCapability] != "atomic" {
		t.Fatalf("Seize through the stub: %v, reason %q", err, ktgrpc.ReasonOf(err))
	}
}
