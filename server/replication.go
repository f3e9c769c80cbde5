package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/hub"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Progress intervals for Subscribe.
const (
	DefaultProgressInterval = time.Second
	MinProgressInterval     = 10 * time.Millisecond
)

type replicationService struct {
	ktgrpcv1.UnimplementedReplicationServer
	s *Server
}

// operations pairs the proto enum with the backend's operations; the
// numbering happens to agree, but nothing promises that.
func operations() []struct {
	api ktgrpcv1.Operation
	op  backend.Operation
} {
	return []struct {
		api ktgrpcv1.Operation
		op  backend.Operation
	}{
		{ktgrpcv1.Operation_OPERATION_SET, backend.OpSet},
		{ktgrpcv1.Operation_OPERATION_REMOVE, backend.OpRemove},
		{ktgrpcv1.Operation_OPERATION_CLEAR, backend.OpClear},
		{ktgrpcv1.Operation_OPERATION_APPEND, backend.OpAppend},
		{ktgrpcv1.Operation_OPERATION_INCREMENT, backend.OpIncrement},
		{ktgrpcv1.Operation_OPERATION_INCREMENT_DOUBLE, backend.OpIncrementDouble},
		{ktgrpcv1.Operation_OPERATION_SYNC, backend.OpSync},
		{ktgrpcv1.Operation_OPERATION_OPTIMIZE, backend.OpOptimize},
		{ktgrpcv1.Operation_OPERATION_MISC, backend.OpMisc},
	}
}

func opToBackend(op ktgrpcv1.Operation) (backend.Operation, bool) {
	for _, p := range operations() {
		if p.api == op {
			return p.op, true
		}
	}
	return 0, false
}

func opFromBackend(op backend.Operation) ktgrpcv1.Operation {
	for _, p := range operations() {
		if p.op == op {
			return p.api
		}
	}
	return ktgrpcv1.Operation_OPERATION_UNSPECIFIED
}

// MaxEventsPerMessage caps a request's max_events_per_message.
const MaxEventsPerMessage = 1024

func (r *replicationService) Subscribe(req *ktgrpcv1.SubscribeRequest, stream ktgrpcv1.Replication_SubscribeServer) error {
	s := r.s
	opts, interval, err := s.subscribeOptions(req)
	if err != nil {
		return err
	}
	return s.follow(stream.Context(), opts, interval, followOut{
		stream: stream,
		batch:  int(min(req.GetMaxEventsPerMessage(), MaxEventsPerMessage)),
		again:  "subscribe again",
		progress: func(pos uint64) any {
			return &ktgrpcv1.SubscribeResponse{Kind: &ktgrpcv1.SubscribeResponse_Progress{Progress: &ktgrpcv1.Progress{Position: pos}}}
		},
	})
}

// followOut is where follow sends a stream's messages.
type followOut struct {
	stream grpc.ServerStream
	// watch: the stream is a Watch, whose messages are WatchResponses.
	watch bool
	// batch is the most events a message may carry; 1 or less sends each
	// in a message of its own.
	batch int
	// again is what a client that stalled before its first position does.
	again    string
	progress func(pos uint64) any
	// start, when set, runs with the subscription's first position before
	// anything else is sent, sending with send.
	start func(ctx context.Context, pos uint64, send func(any) error) error
}

// follow runs a subscription on the hub and streams it until the client
// goes away, the server stops or the subscription fails.
//
// The handler's goroutine reads the hub and builds the messages; each
// message goes out on a goroutine of its own (sendWithin), which the
// handler abandons, ending the stream, when the client has not taken it
// within the stall timeout: only returning from the handler frees a send
// blocked in flow control. An idle stream thus holds one goroutine, not
// two, and the hub's paced wakeups keep the sends few (one a wakeup).
// Closing the hub subscription first frees what the stream holds at once.
func (s *Server) follow(parent context.Context, opts backend.SubscribeOptions, interval time.Duration, out followOut) error {
	ctx, cancel := s.streamContext(parent)
	defer cancel()
	sub, err := s.hub.Open(ctx, opts)
	if err != nil {
		return streamError(ctx, err)
	}
	defer sub.Close()
	f := &follower{s: s, ctx: ctx, out: out, interval: interval, filter: filterIdentity(opts)}
	f.at, f.known = opts.After, !opts.Now
	err = f.run(sub)
	var stalled *errStalled
	switch {
	case errors.As(err, &stalled):
		again := out.again
		if f.known {
			again = fmt.Sprintf("resume with after=%d", f.at)
		}
		return status.Errorf(codes.ResourceExhausted, "%s; the stream was ended to free the gateway for others; %s", stalled, again)
	case ctx.Err() != nil:
		// Shutting down, or the client went away.
		return streamError(ctx, context.Cause(ctx))
	}
	return streamError(ctx, err)
}

// filterIdentity is a string that two subscriptions share exactly when
// they ask for the same filter.
func filterIdentity(opts backend.SubscribeOptions) string {
	f := opts.Filter
	return fmt.Sprintf("dbs=%q prefix=%q ops=%v key=%v,%q origin=%d,%d", f.DBs, f.KeyPrefix, f.Ops, f.Key != nil, f.Key, f.NotOrigin, opts.ServerID)
}

// follower is the sending side of follow.
type follower struct {
	s        *Server
	ctx      context.Context
	out      followOut
	interval time.Duration
	// filter names the subscription's filter, for sharing the encoding of
	// its messages with subscribers that have the same.
	filter string
	// at is the position of the last message the client took; known is
	// false until there is one for a stream from now. They name the resume
	// position when a stalled stream is ended.
	at    uint64
	known bool

	started, caughtUp bool
	pos, reported     uint64
	// tick, armed while a progress report waits, paces them.
	tick  *time.Timer
	armed bool
}

func (f *follower) run(sub *hub.Subscription) error {
	f.tick = time.NewTimer(f.interval)
	f.tick.Stop()
	defer f.tick.Stop()
	return sub.Run(f.ctx, hub.Consumer{Updates: f.updates, Wake: f.tick.C, Idle: f.idle})
}

// send sends one message at position at.
func (f *follower) send(at uint64, m any) error {
	if err := f.s.sendWithin(f.ctx, func() error { return f.out.stream.SendMsg(m) }); err != nil {
		return err
	}
	f.at, f.known = at, true
	return nil
}

func (f *follower) updates(ups []backend.Update) error {
	if !f.started {
		f.started = true
		if f.out.start != nil {
			// The first update fixes the position the start is tagged
			// with: a progress is the position itself; an event (the
			// stream began before the hub caught up) has nothing before
			// it since the start.
			u := ups[0]
			pos := u.Position
			if u.Event != nil {
				pos--
			} else {
				ups = ups[1:]
			}
			// Until the snapshot is complete a client that stalls must
			// start again, so its sends tell no position.
			sendSnapshot := func(m any) error {
				return f.s.sendWithin(f.ctx, func() error { return f.out.stream.SendMsg(m) })
			}
			if err := f.out.start(f.ctx, pos, sendSnapshot); err != nil {
				return err
			}
			f.at, f.known = pos, true
			f.pos, f.reported, f.caughtUp = pos, pos, u.Event == nil
		}
	}
	for len(ups) > 0 {
		// A run of events goes out in as few messages as allowed.
		n := 0
		for n < len(ups) && ups[n].Event != nil {
			n++
		}
		if n > 0 {
			if err := f.sendEvents(ups[:n]); err != nil {
				return err
			}
			ups = ups[n:]
			continue
		}
		f.pos = ups[0].Position
		ups = ups[1:]
		if !f.caughtUp {
			// The first update without an event marks the end of the
			// replay (or, with filters, a withheld run within it); telling
			// the position right away lets a consumer checkpoint without
			// waiting for a tick. Later ones wait for the tick, so a busy,
			// filtered log costs one message per interval.
			f.caughtUp = true
			if err := f.sendProgress(); err != nil {
				return err
			}
		} else if f.pos > f.reported && !f.armed {
			f.armed = true
			f.tick.Reset(f.interval)
		}
	}
	return nil
}

// idle runs when the progress tick fires.
func (f *follower) idle() error {
	f.armed = false
	if f.pos > f.reported {
		return f.sendProgress()
	}
	return nil
}

func (f *follower) sendProgress() error {
	f.reported = f.pos
	return f.send(f.pos, f.out.progress(f.pos))
}

// sendEvents sends a run of events, several to a message where the client
// asked for it.
func (f *follower) sendEvents(ups []backend.Update) error {
	for len(ups) > 0 {
		n, m, err := f.s.encodings.message(ups, f.out.watch, f.out.batch, f.s.opts.MaxMessageSize, f.filter)
		if err != nil {
			return err
		}
		f.pos = ups[n-1].Position
		if err := f.send(f.pos, m); err != nil {
			return err
		}
		f.reported = f.pos
		ups = ups[n:]
	}
	return nil
}

// Snapshot batch sizes for Watch.
const (
	DefaultSnapshotBatch = 1000
	MaxSnapshotBatch     = 10000
)

func (r *replicationService) Watch(req *ktgrpcv1.WatchRequest, stream ktgrpcv1.Replication_WatchServer) error {
	s := r.s
	interval, err := progressInterval(req.GetProgressInterval())
	if err != nil {
		return err
	}
	batch := int(req.GetSnapshotBatchSize())
	switch {
	case batch == 0:
		batch = DefaultSnapshotBatch
	case batch > MaxSnapshotBatch:
		return invalidField("snapshot_batch_size", "snapshot_batch_size is %d; the limit is %d", batch, MaxSnapshotBatch)
	}
	opts := backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{req.GetDb()}}}
	switch t := req.GetTarget().(type) {
	case *ktgrpcv1.WatchRequest_Key:
		if len(t.Key) == 0 {
			return invalidField("key", "key is empty; to watch every key of the database, set prefix to empty instead")
		}
		if len(t.Key) > s.opts.MaxKeySize {
			return invalidField("key", "key is %d bytes; the limit is %d bytes", len(t.Key), s.opts.MaxKeySize)
		}
		opts.Filter.Key = t.Key
	case *ktgrpcv1.WatchRequest_Prefix:
		if len(t.Prefix) > s.opts.MaxKeySize {
			return invalidField("prefix", "prefix is %d bytes; the limit is %d bytes", len(t.Prefix), s.opts.MaxKeySize)
		}
		opts.Filter.KeyPrefix = t.Prefix
	}
	out := followOut{
		stream: stream,
		watch:  true,
		batch:  int(min(req.GetMaxEventsPerMessage(), MaxEventsPerMessage)),
		again:  "watch again",
		progress: func(pos uint64) any {
			return &ktgrpcv1.WatchResponse{Kind: &ktgrpcv1.WatchResponse_Progress{Progress: &ktgrpcv1.Progress{Position: pos}}}
		},
	}
	if req.GetAfter() != 0 {
		opts.After = req.GetAfter()
	} else {
		opts.Now = true
		out.start = func(ctx context.Context, pos uint64, send func(any) error) error {
			return s.watchSnapshot(ctx, req, batch, pos, send)
		}
	}
	return s.follow(stream.Context(), opts, interval, out)
}

// watchSnapshot sends the records Watch targets, read after the stream's
// start position was fixed, so that every change at or before it shows.
func (s *Server) watchSnapshot(ctx context.Context, req *ktgrpcv1.WatchRequest, batch int, pos uint64, sendMsg func(any) error) error {
	send := func(recs []*ktgrpcv1.Record, last bool) error {
		return sendMsg(&ktgrpcv1.WatchResponse{Kind: &ktgrpcv1.WatchResponse_Snapshot{
			Snapshot: &ktgrpcv1.WatchSnapshot{Records: recs, Position: pos, Last: last},
		}})
	}
	if key := req.GetKey(); key != nil {
		rec, found, err := s.b.Get(ctx, req.GetDb(), key)
		if err != nil {
			return err
		}
		var recs []*ktgrpcv1.Record
		if found {
			recs = append(recs, toRecord(rec))
		}
		return send(recs, true)
	}
	// Each batch is held until the next arrives, so that the last one
	// carries the mark.
	var held []*ktgrpcv1.Record
	err := s.b.Scan(ctx, req.GetDb(), backend.ScanOptions{Prefix: req.GetPrefix(), BatchSize: batch}, func(recs []backend.Record) error {
		if held != nil {
			if err := send(held, false); err != nil {
				return err
			}
		}
		held = make([]*ktgrpcv1.Record, len(recs))
		for i, r := range recs {
			held[i] = toRecord(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return send(held, true)
}

// progressInterval reads a progress_interval field.
func progressInterval(pi *durationpb.Duration) (time.Duration, error) {
	if pi == nil {
		return DefaultProgressInterval, nil
	}
	if err := pi.CheckValid(); err != nil {
		return 0, invalidField("progress_interval", "progress_interval: %v", err)
	}
	d := pi.AsDuration()
	if d == 0 {
		return DefaultProgressInterval, nil
	}
	if d < MinProgressInterval {
		return 0, invalidField("progress_interval", "progress_interval must be at least %v, got %v; 0 means %v", MinProgressInterval, d, DefaultProgressInterval)
	}
	return d, nil
}

func (s *Server) subscribeOptions(req *ktgrpcv1.SubscribeRequest) (backend.SubscribeOptions, time.Duration, error) {
	var opts backend.SubscribeOptions
	interval, err := progressInterval(req.GetProgressInterval())
	if err != nil {
		return opts, 0, err
	}
	switch st := req.GetStart().(type) {
	case *ktgrpcv1.SubscribeRequest_After:
		opts.After = st.After
	case *ktgrpcv1.SubscribeRequest_Now:
		// now: false would otherwise fall back to replaying the whole log,
		// the opposite of what a reader of the request expects.
		if !st.Now {
			return opts, 0, invalidField("now", "now must be true when set; to replay the retained log, set after: 0 instead")
		}
		opts.Now = true
	}
	if len(req.GetKeyPrefix()) > s.opts.MaxKeySize {
		return opts, 0, invalidField("key_prefix", "key_prefix is %d bytes; the limit is %d bytes", len(req.GetKeyPrefix()), s.opts.MaxKeySize)
	}
	opts.ServerID = req.GetServerId()
	opts.Filter = backend.Filter{DBs: req.GetDbs(), KeyPrefix: req.GetKeyPrefix()}
	for i, op := range req.GetOperations() {
		b, ok := opToBackend(op)
		if !ok {
			return opts, 0, invalidField(indexed("operations", i), "%s is %v; name an operation such as OPERATION_SET", indexed("operations", i), op)
		}
		opts.Filter.Ops = append(opts.Filter.Ops, b)
	}
	return opts, interval, nil
}

func toEvent(e *backend.Event) *ktgrpcv1.Event {
	return &ktgrpcv1.Event{
		Position:       e.Position,
		OriginServerId: e.OriginSID,
		Db:             e.DB,
		Operation:      opFromBackend(e.Op),
		Key:            e.Key,
		Value:          e.Value,
		ExpireTime:     timestamp(e.ExpireTime),
		Command:        e.Command,
		Args:           e.Args,
		IntDelta:       e.IntDelta,
		DoubleDelta:    e.DoubleDelta,
		KeepLast:       e.KeepLast,
		Raw:            e.Raw,
	}
}
