package ktgrpc

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Watch is Subscribe that survives gateway restarts and network failures.
// It reads the options of Subscribe, and WithBackoff, WithMaxRetries and
// WithWait; with WithSnapshot it uses the gateway's Watch call instead,
// which starts with the current records of WithPrefix, or of the one key of
// WithKey (see WithSnapshot).
//
// Watch remembers the position of the last message it yielded, change or
// OpProgress, and when the stream fails with an error worth retrying, it
// waits (WithBackoff) and subscribes again after that position. Resuming is
// exclusive, so across any number of reconnections every change is yielded
// once, in log order, as long as the backend still retains the log from
// that position. The gateway refuses to resume from a position the backend
// has dropped where it can tell (the embedded store, Kyoto Tycoon), and
// Watch then ends with an error matching ErrOutOfRange; Tokyo Tyrant
// silently starts at its oldest retained change instead, so keep its
// update log longer than any outage to ride out.
//
// Errors worth retrying are those of a gateway that is away or restarting,
// or of a connection that broke: ErrUnavailable, and a stream reset by the
// peer (RST_STREAM) or ended without a status; and ErrExhausted, a consumer
// that fell too far behind the gateway's window, which resumes after its
// last position like the others. Any other error, such as ErrInvalid for a
// bad filter or ErrOutOfRange for a position the log no longer holds, ends the sequence as its last element, and so does the last
// error when WithMaxRetries runs out, wrapped in one that counts the
// retries. Transient errors are not yielded.
//
// To checkpoint, persist the Position of each Event handled, OpProgress
// included: progress moves the position past changes withheld by filters,
// so that a restart need not read them again. A consumer that restarts
// passes the saved position to WithAfter and continues exactly after it.
// With WithNow the position is known from the first message on; a failure
// before it subscribes from now again.
//
// When ctx ends, the last element is an error matching ctx.Err(), such as
// context.Canceled. A stream that the gateway closes without an error,
// which it does not do while following, ends the sequence too. Before each retry Watch asks the connection to dial
// again at once when it is a *grpc.ClientConn, so that its backoff, not the
// connection's longer one, sets the pace of reconnection.
func (c *Client) Watch(ctx context.Context, opts ...Option) iter.Seq2[Event, error] {
	s := c.settings(opts)
	initial, maxWait := s.backoffInitial, s.backoffMax
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if maxWait <= 0 {
		maxWait = DefaultBackoffMax
	}
	maxWait = max(maxWait, initial)
	wait := s.wait
	if wait == nil {
		wait = sleepCtx
	}
	return func(yield func(Event, error) bool) {
		if s.snapshot && (len(s.ops) > 0 || s.now) {
			yield(Event{}, fmt.Errorf("ktgrpc: Watch: WithSnapshot cannot be combined with WithOps or WithNow: %w", ErrInvalid))
			return
		}
		pos, now := s.after, s.now
		retries := 0
		for {
			received := false
			var err error
			var seq iter.Seq2[Event, error]
			if s.snapshot {
				seq = c.watchCall(ctx, &s, pos)
			} else {
				seq = c.subscribe(ctx, &s, pos, now)
			}
			for ev, e := range seq {
				if e != nil {
					err = e
					break
				}
				received = true
				// A position never moves back, so a backend that reports an
				// older one in a progress message cannot cause a replay. A
				// snapshot's records do not move it: until the snapshot is
				// complete, a retry takes it again.
				if ev.Op != OpRecord && (now || ev.Position > pos) {
					pos, now = ev.Position, false
				}
				if !yield(ev, nil) {
					return
				}
			}
			switch {
			case err == nil:
				return // the gateway closed the stream cleanly
			case ctx.Err() != nil:
				yield(Event{}, ctxError(ctx, err))
				return
			case !retryable(err):
				yield(Event{}, err)
				return
			}
			if received {
				retries = 0
			}
			if s.maxRetries > 0 && retries >= s.maxRetries {
				yield(Event{}, fmt.Errorf("ktgrpc: Watch: gave up after %d retries: %w", retries, err))
				return
			}
			if werr := wait(ctx, backoff(initial, maxWait, retries)); werr != nil {
				yield(Event{}, ctxError(ctx, fmt.Errorf("ktgrpc: Watch: waiting to retry: %w", werr)))
				return
			}
			retries++
			if c.reconnect != nil {
				c.reconnect()
			}
		}
	}
}

// ctxError returns err when it matches ctx's error, and otherwise ctx's
// error: a stream cut short by the context can fail with another code,
// which would mislead a caller checking for context.Canceled.
func ctxError(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("ktgrpc: Watch: %w", cerr)
}

// retryable reports whether a failed subscription may succeed if made
// again: the gateway is unavailable (stopping, restarting, unreachable), or
// the stream broke in transit. A reset stream is reported with the code the
// reset carries (Internal for INTERNAL_ERROR, Canceled for CANCEL, ...), so
// it is recognised by gRPC's message; Watch rules out its own cancellation
// before asking.
func retryable(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted:
		return true
	case codes.OK, codes.InvalidArgument, codes.NotFound, codes.OutOfRange, codes.Unimplemented,
		codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition:
		return false
	}
	msg := st.Message()
	return strings.Contains(msg, "RST_STREAM") ||
		st.Code() == codes.Internal && strings.Contains(msg, "server closed the stream without sending trailers")
}

// backoff returns the wait before retry number retry (0 for the first):
// initial doubled retry times, capped at maxWait, then drawn uniformly from
// its upper half.
func backoff(initial, maxWait time.Duration, retry int) time.Duration {
	d := initial
	for range retry {
		if d >= maxWait/2 {
			d = maxWait
			break
		}
		d *= 2
	}
	d = min(d, maxWait)
	return d - rand.N(d/2+1)
}

// sleepCtx waits for d or until ctx ends, returning ctx's error then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// watchCall is one Watch call of the gateway: the snapshot when after is 0,
// then the changes.
func (c *Client) watchCall(ctx context.Context, s *settings, after uint64) iter.Seq2[Event, error] {
	req := &ktgrpcv1.WatchRequest{Db: s.db, Target: &ktgrpcv1.WatchRequest_Prefix{Prefix: []byte(s.prefix)}, After: after, MaxEventsPerMessage: eventsPerMessage}
	if s.key != nil {
		req.Target = &ktgrpcv1.WatchRequest_Key{Key: []byte(*s.key)}
	}
	if s.progress != 0 {
		req.ProgressInterval = durationpb.New(s.progress)
	}
	return streamSeq(ctx, "Watch", c.replication.Watch, req, func(resp *ktgrpcv1.WatchResponse, yield func(Event, error) bool) bool {
		switch k := resp.GetKind().(type) {
		case *ktgrpcv1.WatchResponse_Snapshot:
			for _, r := range k.Snapshot.GetRecords() {
				if !yield(Event{Position: k.Snapshot.GetPosition(), Op: OpRecord, DB: s.db, Key: string(r.GetKey()), Value: r.GetValue(), ExpireTime: fromTimestamp(r.GetExpireTime())}, nil) {
					return false
				}
			}
			if k.Snapshot.GetLast() {
				return yield(Event{Position: k.Snapshot.GetPosition(), Op: OpProgress}, nil)
			}
			return true
		case *ktgrpcv1.WatchResponse_Event:
			return yield(fromEvent(k.Event), nil)
		case *ktgrpcv1.WatchResponse_Events:
			return yieldEvents(k.Events, yield)
		case *ktgrpcv1.WatchResponse_Progress:
			return yield(Event{Position: k.Progress.GetPosition(), Op: OpProgress}, nil)
		}
		return true
	})
}
