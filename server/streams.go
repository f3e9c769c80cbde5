package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/stats"
)

// Defaults of the stream limits in Options.
const (
	DefaultMaxCursorStreams        = 1024
	DefaultMaxCursorStreamsPerConn = 128
	DefaultStallTimeout            = 30 * time.Second
)

// streamLimits counts the Cursor.Open and Cursor.Scan streams that hold
// backend resources, on the whole gateway and per client connection, so
// that one client cannot take every cursor the backend can open.
type streamLimits struct {
	max, perConn int

	mu     sync.Mutex
	total  int
	byConn map[*connTag]int
}

// connTag identifies a client connection: connTagger puts one in the
// context of every connection, and so of every stream on it.
// It is not zero-sized, so that every one has its own address.
type connTag struct{ _ byte }

type connTagKey struct{}

// connTagger is the stats.Handler that tags connections; it records
// nothing.
type connTagger struct{}

func (connTagger) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	// Every HTTP/JSON caller shares the in-process connection; the
	// gateway-wide limit still counts their streams.
	if _, ok := info.LocalAddr.(inprocAddr); ok {
		return ctx
	}
	return context.WithValue(ctx, connTagKey{}, &connTag{})
}
func (connTagger) HandleConn(context.Context, stats.ConnStats) {}
func (connTagger) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (connTagger) HandleRPC(context.Context, stats.RPCStats) {}

// acquire counts one more stream for the connection of ctx, or fails with
// RESOURCE_EXHAUSTED naming the limit reached. The returned function
// releases it; it may be called more than once.
func (l *streamLimits) acquire(ctx context.Context) (func(), error) {
	tag, _ := ctx.Value(connTagKey{}).(*connTag)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return nil, limitExceeded("max-cursor-streams",
			"%d cursor and scan streams are open on the gateway, its limit (server option MaxCursorStreams, serve --max-cursor-streams); close one, or retry later", l.max)
	}
	if tag != nil && l.byConn[tag] >= l.perConn {
		return nil, limitExceeded("max-cursor-streams-per-conn",
			"%d cursor and scan streams are open on this client connection, its limit (server option MaxCursorStreamsPerConn, serve --max-cursor-streams-per-conn); close one first", l.perConn)
	}
	l.total++
	if tag != nil {
		l.byConn[tag]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if tag != nil {
				if l.byConn[tag]--; l.byConn[tag] == 0 {
					delete(l.byConn, tag)
				}
			}
		})
	}, nil
}

// errStalled marks a send that the client did not take within the stall
// timeout.
type errStalled struct{ after time.Duration }

// sendWithin runs send, which delivers one message to the stream's client,
// and gives up when the client has not taken it within the stall timeout:
// a client that stops reading must not keep the stream, and whatever the
// stream holds in the backend, for ever. The send goes on in the
// background until the stream ends, which returning from the handler
// brings about.
func (s *Server) sendWithin(ctx context.Context, send func() error) error {
	// The send and the clock race to decide its outcome: a send that
	// returns as the clock runs out has delivered its message, and the
	// caller must count it (a scan's resume key names the last record
	// sent), so exactly one side claims the outcome.
	const sending, finished, abandoned = 0, 1, 2
	var state atomic.Int32
	done := make(chan error, 1)
	go func() {
		err := send()
		if state.CompareAndSwap(sending, finished) {
			done <- err
		}
	}()
	t := time.NewTimer(s.opts.StallTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		if state.CompareAndSwap(sending, abandoned) {
			return &errStalled{after: s.opts.StallTimeout}
		}
		return <-done
	case <-ctx.Done():
		if state.CompareAndSwap(sending, abandoned) {
			return context.Cause(ctx)
		}
		return <-done
	}
}

func (e *errStalled) Error() string {
	return "the client read nothing for " + e.after.String()
}
