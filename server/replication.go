package server

import (
	"context"
	"time"

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

	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()

	// The backend calls fn on its own schedule; handing the updates over a
	// channel keeps every Send on this goroutine, interleaved with the
	// progress ticks.
	updates := make(chan backend.Update)
	subDone := make(chan error, 1)
	go func() {
		subDone <- s.b.Subscribe(ctx, opts, func(u backend.Update) error {
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
		// The backend must be done with the subscription before the handler
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
	)
	sendProgress := func() error {
		reported = pos
		return stream.Send(&ktgrpcv1.SubscribeResponse{
			Kind: &ktgrpcv1.SubscribeResponse_Progress{Progress: &ktgrpcv1.Progress{Position: pos}},
		})
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
			pos = u.Position
			switch {
			case u.Event != nil:
				if err := stream.Send(&ktgrpcv1.SubscribeResponse{
					Kind: &ktgrpcv1.SubscribeResponse_Event{Event: toEvent(u.Event)},
				}); err != nil {
					return err
				}
				reported = pos
			case !caughtUp:
				// The backend's first update without an event marks the end
				// of the replay (or, with filters, a withheld run within
				// it); telling the position right away lets a consumer
				// checkpoint without waiting for a tick. Later ones wait for
				// the ticker, so a busy, filtered log costs one message per
				// interval.
				caughtUp = true
				if err := sendProgress(); err != nil {
					return err
				}
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

func (s *Server) subscribeOptions(req *ktgrpcv1.SubscribeRequest) (backend.SubscribeOptions, time.Duration, error) {
	var opts backend.SubscribeOptions
	interval := DefaultProgressInterval
	if pi := req.GetProgressInterval(); pi != nil {
		if err := pi.CheckValid(); err != nil {
			return opts, 0, invalidf("progress_interval: %v", err)
		}
		if d := pi.AsDuration(); d != 0 {
			if d < MinProgressInterval {
				return opts, 0, invalidf("progress_interval must be at least %v, got %v; 0 means %v", MinProgressInterval, d, DefaultProgressInterval)
			}
			interval = d
		}
	}
	switch st := req.GetStart().(type) {
	case *ktgrpcv1.SubscribeRequest_After:
		opts.After = st.After
	case *ktgrpcv1.SubscribeRequest_Now:
		// now: false would otherwise fall back to replaying the whole log,
		// the opposite of what a reader of the request expects.
		if !st.Now {
			return opts, 0, invalidf("now must be true when set; to replay the retained log, set after: 0 instead")
		}
		opts.Now = true
	}
	if len(req.GetKeyPrefix()) > s.opts.MaxKeySize {
		return opts, 0, invalidf("key_prefix is %d bytes; the limit is %d bytes", len(req.GetKeyPrefix()), s.opts.MaxKeySize)
	}
	opts.ServerID = req.GetServerId()
	opts.Filter = backend.Filter{DBs: req.GetDbs(), KeyPrefix: req.GetKeyPrefix()}
	for i, op := range req.GetOperations() {
		b, ok := opToBackend(op)
		if !ok {
			return opts, 0, invalidf("%s is %v; name an operation such as OPERATION_SET", indexed("operations", i), op)
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
