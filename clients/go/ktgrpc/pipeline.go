package ktgrpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// ErrPipelineClosed is returned by the calls of a Pipeline or Batcher after
// Close.
var ErrPipelineClosed = errors.New("ktgrpc: pipeline closed")

// Pipeline is one KV.Pipeline stream shared by any number of goroutines:
// each call sends its request on the stream and waits for its own answer,
// so that concurrent calls cost one stream instead of one gRPC call each.
// Answers arrive as the gateway completes them, in any order. A request's
// failure is returned to its caller only; the stream goes on. When the
// stream itself ends (the gateway stopped, the connection broke), every
// waiting call and every later call returns why; open another Pipeline, or
// use a Batcher, which does.
type Pipeline struct {
	c      *Client
	cancel context.CancelFunc
	sendq  chan *ktgrpcv1.PipelineRequest
	ended  chan struct{} // closed when the stream has ended; err says why
	err    error
	nextID atomic.Uint64
	wg     sync.WaitGroup

	mu      sync.Mutex
	waiting map[uint64]chan *ktgrpcv1.PipelineResponse
}

// Pipeline opens a KV.Pipeline stream that lives until Close or until ctx
// ends. The client's default options apply to its calls.
func (c *Client) Pipeline(ctx context.Context) (*Pipeline, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.kv.Pipeline(ctx)
	if err != nil {
		cancel()
		return nil, wrapErr("Pipeline", err)
	}
	p := &Pipeline{
		c:       c,
		cancel:  cancel,
		sendq:   make(chan *ktgrpcv1.PipelineRequest),
		ended:   make(chan struct{}),
		waiting: map[uint64]chan *ktgrpcv1.PipelineResponse{},
	}
	p.wg.Add(2)
	// One sender, because a gRPC stream takes one Send at a time; it waits
	// in Send when the gateway is at its bound of requests in flight.
	go func() {
		defer p.wg.Done()
		for {
			select {
			case req := <-p.sendq:
				if err := stream.Send(req); err != nil {
					// Recv reports the stream's status.
					return
				}
			case <-p.ended:
				return
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		for {
			resp, err := stream.Recv()
			if err != nil {
				p.end(wrapErr("Pipeline", err))
				return
			}
			p.mu.Lock()
			ch, ok := p.waiting[resp.GetId()]
			delete(p.waiting, resp.GetId())
			p.mu.Unlock()
			if ok {
				ch <- resp
			}
		}
	}()
	return p, nil
}

// end records why the stream ended and releases every waiting call.
func (p *Pipeline) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.ended:
		return
	default:
	}
	p.err = err
	close(p.ended)
	p.cancel()
}

// Close ends the stream. Calls still waiting return ErrPipelineClosed.
func (p *Pipeline) Close() error {
	p.end(ErrPipelineClosed)
	p.wg.Wait()
	return nil
}

// Err returns why the stream ended, or nil while it is open.
func (p *Pipeline) Err() error {
	select {
	case <-p.ended:
		return p.err
	default:
		return nil
	}
}

// Do sends one request, whose Id it sets, and returns its answer. An
// answer carrying an error is returned as that error, named after op. Do
// returns when ctx ends, without waiting for the answer.
func (p *Pipeline) Do(ctx context.Context, op string, req *ktgrpcv1.PipelineRequest) (*ktgrpcv1.PipelineResponse, error) {
	id := p.nextID.Add(1)
	req.Id = id
	ch := make(chan *ktgrpcv1.PipelineResponse, 1)
	p.mu.Lock()
	select {
	case <-p.ended:
		p.mu.Unlock()
		return nil, p.err
	default:
	}
	p.waiting[id] = ch
	p.mu.Unlock()
	select {
	case p.sendq <- req:
	case <-ctx.Done():
		// Never sent: nothing will answer it.
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
		return nil, wrapErr(op, status.FromContextError(ctx.Err()).Err())
	case <-p.ended:
		return nil, p.err
	}
	// A call that stops waiting leaves its entry for the answer to remove,
	// so that its id is never reused while the gateway still has it.
	select {
	case resp := <-ch:
		if e := resp.GetError(); e != nil {
			st := status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()})
			return nil, wrapErr(op, st.Err())
		}
		return resp, nil
	case <-ctx.Done():
		return nil, wrapErr(op, status.FromContextError(ctx.Err()).Err())
	case <-p.ended:
		return nil, p.err
	}
}

// Get is Client.Get over the stream: it returns the value of key, or an
// error matching ErrNotFound when the record does not exist. It reads
// WithDB.
func (p *Pipeline) Get(ctx context.Context, key string, opts ...Option) ([]byte, error) {
	s := p.c.settings(opts)
	resp, err := p.Do(ctx, "Get", &ktgrpcv1.PipelineRequest{Op: &ktgrpcv1.PipelineRequest_Get{Get: &ktgrpcv1.GetRequest{Db: s.db, Key: []byte(key)}}})
	if err != nil {
		return nil, err
	}
	if !resp.GetGet().GetFound() {
		return nil, notFound("Get", key)
	}
	return resp.GetGet().GetValue(), nil
}

// Set is Client.Set over the stream; it reads the options Client.Set reads.
func (p *Pipeline) Set(ctx context.Context, key string, value []byte, opts ...Option) error {
	req := p.c.settings(opts).setRequest(key, value)
	_, err := p.Do(ctx, "Set", &ktgrpcv1.PipelineRequest{Op: &ktgrpcv1.PipelineRequest_Set{Set: req}})
	return err
}

// Remove is Client.Remove over the stream: it deletes key and reports
// whether it existed. It reads WithDB.
func (p *Pipeline) Remove(ctx context.Context, key string, opts ...Option) (bool, error) {
	s := p.c.settings(opts)
	resp, err := p.Do(ctx, "Remove", &ktgrpcv1.PipelineRequest{Op: &ktgrpcv1.PipelineRequest_Remove{Remove: &ktgrpcv1.RemoveRequest{Db: s.db, Key: []byte(key)}}})
	if err != nil {
		return false, err
	}
	return resp.GetRemove().GetRemoved(), nil
}

// Batcher spreads Get, Set and Remove calls from any number of goroutines
// over a few KV.Pipeline streams, opened on first use and opened again
// after one ends. Each call waits for its own answer and honours its own
// context. Use one Batcher for many small calls on one connection; the
// gateway bounds each stream's requests in flight (--pipeline-depth), so
// more streams allow more at once.
type Batcher struct {
	c       *Client
	ctx     context.Context
	cancel  context.CancelFunc
	next    atomic.Uint64
	mu      sync.Mutex
	streams []*Pipeline // nil entries are opened on use
	closed  bool
}

// NewBatcher returns a Batcher over n streams (at least 1).
func (c *Client) NewBatcher(n int) *Batcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &Batcher{c: c, ctx: ctx, cancel: cancel, streams: make([]*Pipeline, max(n, 1))}
}

// pipeline returns an open stream, round robin, opening it when needed.
func (b *Batcher) pipeline() (*Pipeline, error) {
	i := int(b.next.Add(1) % uint64(len(b.streams)))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrPipelineClosed
	}
	if p := b.streams[i]; p != nil && p.Err() == nil {
		return p, nil
	}
	p, err := b.c.Pipeline(b.ctx)
	if err != nil {
		return nil, err
	}
	b.streams[i] = p
	return p, nil
}

// Get reads key as Client.Get does.
func (b *Batcher) Get(ctx context.Context, key string, opts ...Option) ([]byte, error) {
	p, err := b.pipeline()
	if err != nil {
		return nil, err
	}
	return p.Get(ctx, key, opts...)
}

// Set writes key as Client.Set does.
func (b *Batcher) Set(ctx context.Context, key string, value []byte, opts ...Option) error {
	p, err := b.pipeline()
	if err != nil {
		return err
	}
	return p.Set(ctx, key, value, opts...)
}

// Remove deletes key as Client.Remove does.
func (b *Batcher) Remove(ctx context.Context, key string, opts ...Option) (bool, error) {
	p, err := b.pipeline()
	if err != nil {
		return false, err
	}
	return p.Remove(ctx, key, opts...)
}

// Close ends the streams; calls still waiting return ErrPipelineClosed.
func (b *Batcher) Close() error {
	b.mu.Lock()
	b.closed = true
	streams := b.streams
	b.mu.Unlock()
	b.cancel()
	var errs []error
	for _, p := range streams {
		if p != nil {
			if err := p.Close(); err != nil {
				errs = append(errs, fmt.Errorf("ktgrpc: close pipeline: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
