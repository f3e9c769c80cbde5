package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/backend"
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

func (r *replicationService) Subscribe(req *ktgrpcv1.SubscribeRequest, stream ktgrpcv1.Replication_SubscribeServer) error {
	s := r.s
	opts, interval, err := s.subscribeOptions(req)
	if err != nil {
		return err
	}
	return s.follow(stream.Context(), opts, interval, followOut{
		event: func(e *backend.Event) error {
			m, err := s.encodings.get(e, false)
			if err != nil {
				return err
			}
			return stream.SendMsg(m)
		},
		progress: func(pos uint64) error {
			return stream.Send(&ktgrpcv1.SubscribeResponse{Kind: &ktgrpcv1.SubscribeResponse_Progress{Progress: &ktgrpcv1.Progress{Position: pos}}})
		},
	})
}

// followOut is where follow sends a stream's messages. start, when set,
// runs with the subscription's first position before anything is sent.
type followOut struct {
	event    func(*backend.Event) error
	progress func(pos uint64) error
	start    func(ctx context.Context, pos uint64) error
}

// follow runs a subscription on the hub and streams it until the client
// goes away, the server stops or the subscription fails.
func (s *Server) follow(parent context.Context, opts backend.SubscribeOptions, interval time.Duration, out followOut) error {
	ctx, cancel := s.streamContext(parent)
	defer cancel()

	// The hub calls fn on its own schedule; handing the updates over a
	// channel keeps every Send on this goroutine, interleaved with the
	// progress ticks.
	updates := make(chan backend.Update)
	subDone := make(chan error, 1)
	go func() {
		subDone <- s.hub.Subscribe(ctx, opts, func(u backend.Update) error {
			select {
			case updates <- u:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	finished := false
	defer func() {
		// The hub must be done with the subscription before the handler
		// returns, so that nothing outlives the RPC.
		cancel()
		if !finished {
			<-subDone
		}
	}()

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var (
		pos, reported uint64
		caughtUp      bool
		held          *backend.Update
		// delivered is the position of the last message the client took;
		// known is false until there is one for a stream from now.
		delivered = opts.After
		known     = !opts.Now
	)
	// send delivers one message at position at. A client that stops
	// reading, so that the message stays blocked in flow control, is ended
	// after the stall timeout like a cursor stream: returning ends the hub
	// subscription and frees what it holds.
	send := func(at uint64, msg func() error) error {
		if err := s.sendWithin(ctx, msg); err != nil {
			var stalled *errStalled
			if !errors.As(err, &stalled) {
				if ctx.Err() != nil {
					// Shutting down, or the client went away.
					return streamError(ctx, context.Cause(ctx))
				}
				return err
			}
			resume := "subscribe again"
			if known {
				resume = fmt.Sprintf("resume with after=%d", delivered)
			}
			return status.Errorf(codes.ResourceExhausted, "%s; the stream was ended to free the gateway for others; %s", stalled, resume)
		}
		delivered, known = at, true
		return nil
	}
	if out.start != nil {
		// The first update fixes the position the start is tagged with: a
		// progress is the position itself; an event (the stream began
		// before the hub caught up) has nothing before it since the start.
		select {
		case <-ctx.Done():
			return streamError(ctx, context.Cause(ctx))
		case err := <-subDone:
			finished = true
			if err == nil {
				return nil
			}
			return streamError(ctx, err)
		case u := <-updates:
			pos = u.Position
			if u.Event != nil {
				pos = u.Position - 1
				held = &u
			}
		}
		if err := out.start(ctx, pos); err != nil {
			var stalled *errStalled
			if errors.As(err, &stalled) {
				return status.Errorf(codes.ResourceExhausted, "%s; the stream was ended to free the gateway for others; watch again", stalled)
			}
			return streamError(ctx, err)
		}
		delivered, known = pos, true
		reported, caughtUp = pos, held == nil
	}
	sendProgress := func() error {
		reported = pos
		p := pos
		return send(p, func() error { return out.progress(p) })
	}
	handle := func(u backend.Update) error {
		pos = u.Position
		switch {
		case u.Event != nil:
			reported = pos
			e := u.Event
			return send(pos, func() error { return out.event(e) })
		case !caughtUp:
			// The first update without an event marks the end of the
			// replay (or, with filters, a withheld run within it); telling
			// the position right away lets a consumer checkpoint without
			// waiting for a tick. Later ones wait for the ticker, so a
			// busy, filtered log costs one message per interval.
			caughtUp = true
			return sendProgress()
		}
		return nil
	}
	if held != nil {
		if err := handle(*held); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return streamError(ctx, context.Cause(ctx))
		case err := <-subDone:
			finished = true
			if err == nil {
				return nil
			}
			return streamError(ctx, err)
		case u := <-updates:
			if err := handle(u); err != nil {
				return err
			}
		case <-ticker.C:
			if pos > reported {
				if err := sendProgress(); err != nil {
					return err
				}
			}
		}
	}
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
		event: func(e *backend.Event) error {
			m, err := s.encodings.get(e, true)
			if err != nil {
				return err
			}
			return stream.SendMsg(m)
		},
		progress: func(pos uint64) error {
			return stream.Send(&ktgrpcv1.WatchResponse{Kind: &ktgrpcv1.WatchResponse_Progress{Progress: &ktgrpcv1.Progress{Position: pos}}})
		},
	}
	if req.GetAfter() != 0 {
		opts.After = req.GetAfter()
	} else {
		opts.Now = true
		out.start = func(ctx context.Context, pos uint64) error {
			return s.watchSnapshot(ctx, req, batch, pos, stream)
		}
	}
	return s.follow(stream.Context(), opts, interval, out)
}

// watchSnapshot sends the records Watch targets, read after the stream's
// start position was fixed, so that every change at or before it shows.
func (s *Server) watchSnapshot(ctx context.Context, req *ktgrpcv1.WatchRequest, batch int, pos uint64, stream ktgrpcv1.Replication_WatchServer) error {
	send := func(recs []*ktgrpcv1.Record, last bool) error {
		return s.sendWithin(ctx, func() error {
			return stream.Send(&ktgrpcv1.WatchResponse{Kind: &ktgrpcv1.WatchResponse_Snapshot{
				Snapshot: &ktgrpcv1.WatchSnapshot{Records: recs, Position: pos, Last: last},
			}})
		})
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
