package backend

import "context"

// RoundTripObserver hears about every request an adapter sends to its
// server, for latency metrics and trace spans. The gateway puts one in a
// call's context with WithRoundTripObserver; adapters report through
// StartRoundTrip.
type RoundTripObserver interface {
	// RoundTrip is called before a request goes out. The context it returns
	// is used for the request (it may carry a trace span); end is called
	// once with the request's outcome.
	RoundTrip(ctx context.Context, backendName, op string) (_ context.Context, end func(error))
}

type observerKey struct{}

// WithRoundTripObserver returns a context whose backend round trips are
// reported to o.
func WithRoundTripObserver(ctx context.Context, o RoundTripObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// StartRoundTrip reports the start of a request to the observer in ctx, if
// any, and returns the context to send it with and the function to call
// with its outcome. Without an observer it costs one context lookup, so
// adapters call it unconditionally.
func StartRoundTrip(ctx context.Context, backendName, op string) (context.Context, func(error)) {
	o, ok := ctx.Value(observerKey{}).(RoundTripObserver)
	if !ok {
		return ctx, endNothing
	}
	return o.RoundTrip(ctx, backendName, op)
}

func endNothing(error) {}

// PoolStats is a backend's connection pool as metrics show it.
type PoolStats struct {
	// Size is the most connections the pool opens.
	Size int
	// Open is the connections open now, idle or in use.
	Open int
	// Idle is the open connections waiting for a call.
	Idle int
	// InUse is the connections a call or cursor holds. Connections that
	// replication streams hold for themselves are not counted.
	InUse int
	// Waits counts the times a call found every connection in use and
	// had to wait for one.
	Waits int64
	// Dials counts the connections opened so far.
	Dials int64
	// Discards counts the connections closed because their state was
	// unknown after an error, or because the server closed them.
	Discards int64
	// Recovered counts the connections kept although a call gave up on
	// them before the reply: the late reply was read in the background.
	Recovered int64
}

// PoolReporter is implemented by backends that keep a connection pool.
type PoolReporter interface {
	// BackendPoolStats reports the pool's connections now.
	BackendPoolStats() PoolStats
}
