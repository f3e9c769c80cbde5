package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// DefaultPipelineDepth is Options.PipelineDepth when left at 0: enough
// requests in progress to keep a backend's connection pool busy from one
// stream, few enough that a stream's answers waiting to be sent stay small.
const DefaultPipelineDepth = 64

// pipelineOps are the unary KV handlers a pipelined request runs, each
// behind the checks of its unary call.
type pipelineOps struct {
	get, set, remove, getBulk, setBulk, removeBulk grpc.UnaryHandler
}

// pipelineInterceptors builds the handlers of the pipelined operations: the
// unary methods themselves, behind the pipeline's request metrics, panic
// recovery, the caller-ended mapping and the checks of unaryChecks (rights,
// read-only mode, rate, deadline and bulk-size limits), each run under its
// unary method's name.
func (s *Server) pipelineInterceptors(obs *observability) *pipelineOps {
	ics := append(obs.pipeline(), unaryRecovery(s.log), unaryCallerEnded)
	ics = append(ics, s.unaryChecks(obs)...)
	kv := &kvService{s: s}
	wrap := func(method string, h grpc.UnaryHandler) grpc.UnaryHandler {
		info := &grpc.UnaryServerInfo{Server: kv, FullMethod: method}
		for i := len(ics) - 1; i >= 0; i-- {
			ic, next := ics[i], h
			h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
		}
		return h
	}
	return &pipelineOps{
		get:        wrap(ktgrpcv1.KV_Get_FullMethodName, handler(kv.Get)),
		set:        wrap(ktgrpcv1.KV_Set_FullMethodName, handler(kv.Set)),
		remove:     wrap(ktgrpcv1.KV_Remove_FullMethodName, handler(kv.Remove)),
		getBulk:    wrap(ktgrpcv1.KV_GetBulk_FullMethodName, handler(kv.GetBulk)),
		setBulk:    wrap(ktgrpcv1.KV_SetBulk_FullMethodName, handler(kv.SetBulk)),
		removeBulk: wrap(ktgrpcv1.KV_RemoveBulk_FullMethodName, handler(kv.RemoveBulk)),
	}
}

// handler adapts a unary method to grpc.UnaryHandler.
func handler[Req, Resp any](method func(context.Context, Req) (Resp, error)) grpc.UnaryHandler {
	return func(ctx context.Context, req any) (any, error) { return method(ctx, req.(Req)) }
}

// run answers one request. Every failure, including a request with no
// operation, is the answer's error.
func (p *pipelineOps) run(ctx context.Context, req *ktgrpcv1.PipelineRequest) *ktgrpcv1.PipelineResponse {
	var (
		h  grpc.UnaryHandler
		in any
	)
	switch op := req.GetOp().(type) {
	case *ktgrpcv1.PipelineRequest_Get:
		h, in = p.get, op.Get
	case *ktgrpcv1.PipelineRequest_Set:
		h, in = p.set, op.Set
	case *ktgrpcv1.PipelineRequest_Remove:
		h, in = p.remove, op.Remove
	case *ktgrpcv1.PipelineRequest_GetBulk:
		h, in = p.getBulk, op.GetBulk
	case *ktgrpcv1.PipelineRequest_SetBulk:
		h, in = p.setBulk, op.SetBulk
	case *ktgrpcv1.PipelineRequest_RemoveBulk:
		h, in = p.removeBulk, op.RemoveBulk
	default:
		return errorAnswer(req.GetId(), invalidf("request %d has no operation: set one of get, set, remove, get_bulk, set_bulk or remove_bulk", req.GetId()))
	}
	out, err := h(ctx, in)
	if err != nil {
		return errorAnswer(req.GetId(), err)
	}
	resp := &ktgrpcv1.PipelineResponse{Id: req.GetId()}
	switch r := out.(type) {
	case *ktgrpcv1.GetResponse:
		resp.Result = &ktgrpcv1.PipelineResponse_Get{Get: r}
	case *ktgrpcv1.SetResponse:
		resp.Result = &ktgrpcv1.PipelineResponse_Set{Set: r}
	case *ktgrpcv1.RemoveResponse:
		resp.Result = &ktgrpcv1.PipelineResponse_Remove{Remove: r}
	case *ktgrpcv1.GetBulkResponse:
		resp.Result = &ktgrpcv1.PipelineResponse_GetBulk{GetBulk: r}
	case *ktgrpcv1.SetBulkResponse:
		resp.Result = &ktgrpcv1.PipelineResponse_SetBulk{SetBulk: r}
	case *ktgrpcv1.RemoveBulkResponse:
		resp.Result = &ktgrpcv1.PipelineResponse_RemoveBulk{RemoveBulk: r}
	default:
		return errorAnswer(req.GetId(), status.Errorf(codes.Internal, "internal error: request %d answered with %T", req.GetId(), out))
	}
	return resp
}

// errorAnswer is the answer to request id that failed with err.
func errorAnswer(id uint64, err error) *ktgrpcv1.PipelineResponse {
	st := rpctypes.WithDefaultInfo(status.Convert(err)).Proto()
	return &ktgrpcv1.PipelineResponse{Id: id, Result: &ktgrpcv1.PipelineResponse_Error{
		Error: &ktgrpcv1.RequestStatus{Code: st.GetCode(), Message: st.GetMessage(), Details: st.GetDetails()},
	}}
}

// pipelineAnswer is an answer on its way out; dup marks the answer to a
// duplicate id, whose sending leaves the original request in flight.
type pipelineAnswer struct {
	resp *ktgrpcv1.PipelineResponse
	dup  bool
}

// Pipeline serves KV.Pipeline. Three goroutines share the stream: the
// receiver reads requests and starts each on its own goroutine, the sender
// writes the answers as they come, and this one waits for the end. A slot
// taken before each read and given back after its answer is sent bounds
// the requests in progress plus the answers waiting to be sent: with every
// slot taken the receiver reads no more, so a client that does not read its
// answers fills the stream's flow-control window and is held there.
func (k *kvService) Pipeline(stream ktgrpcv1.KV_PipelineServer) error {
	s := k.s
	sctx, stop := s.streamContext(stream.Context())
	defer stop()
	ctx, cancel := context.WithCancelCause(sctx)
	depth := s.opts.PipelineDepth
	var (
		slots   = make(chan struct{}, depth)
		answers = make(chan pipelineAnswer, depth) // never full: each answer holds a slot
		errc    = make(chan error, 2)              // the receiver's and the sender's
		done    = make(chan struct{})              // every request read and answered
		running sync.WaitGroup

		mu       sync.Mutex
		inFlight = map[uint64]struct{}{} // ids whose answers are not sent yet
		ended    bool                    // under mu: no request starts any more
	)
	// The requests may still reference their messages; the stream is not
	// finished with until they have returned, and cancel makes them return.
	// ended keeps the receiver from starting one while Wait waits.
	defer func() {
		cancel(context.Canceled)
		mu.Lock()
		ended = true
		mu.Unlock()
		running.Wait()
	}()

	take := func() bool {
		select {
		case slots <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		for {
			if !take() {
				return
			}
			req, err := stream.Recv()
			if err != nil {
				<-slots
				if !errors.Is(err, io.EOF) {
					errc <- err
					return
				}
				// Every slot back means every answer sent.
				for range depth {
					if !take() {
						return
					}
				}
				close(done)
				return
			}
			id := req.GetId()
			mu.Lock()
			if ended {
				mu.Unlock()
				return
			}
			_, dup := inFlight[id]
			if !dup {
				inFlight[id] = struct{}{}
				running.Add(1)
			}
			mu.Unlock()
			if dup {
				answers <- pipelineAnswer{resp: errorAnswer(id, invalidf("id %d is already in use by a request that has not been answered; give each request in flight its own id", id)), dup: true}
				continue
			}
			go func() {
				defer running.Done()
				answers <- pipelineAnswer{resp: s.pipeline.run(ctx, req)}
			}()
		}
	}()
	go func() {
		// A client that reads nothing for the stall timeout ends the stream,
		// as on the other streams.
		stalled := time.AfterFunc(time.Hour, func() {
			cancel(&errStalled{after: s.opts.StallTimeout})
		})
		stalled.Stop()
		defer stalled.Stop()
		for {
			var a pipelineAnswer
			select {
			case a = <-answers:
			case <-ctx.Done():
				return
			}
			// The id is free once its answer is on its way: a client that
			// reads the answer may reuse the id at once, before Send
			// returns here.
			if !a.dup {
				mu.Lock()
				delete(inFlight, a.resp.GetId())
				mu.Unlock()
			}
			stalled.Reset(s.opts.StallTimeout)
			err := stream.Send(a.resp)
			stalled.Stop()
			if err != nil {
				errc <- err
				return
			}
			<-slots
		}
	}()

	select {
	case <-done:
		return nil
	case err := <-errc:
		return streamError(ctx, err)
	case <-ctx.Done():
		err := context.Cause(ctx)
		var stalled *errStalled
		if errors.As(err, &stalled) {
			return status.Errorf(codes.ResourceExhausted, "%s; the pipeline was ended with %d requests unanswered", stalled, len(slots))
		}
		return streamError(ctx, err)
	}
}
