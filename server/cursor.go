package server

import (
	"bytes"
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// DefaultScanBatch is the records per ScanResponse when the request leaves
// batch_size at 0.
const DefaultScanBatch = 256

type cursorService struct {
	ktgrpcv1.UnimplementedCursorServer
	s *Server
}

func (c *cursorService) Scan(req *ktgrpcv1.ScanRequest, stream ktgrpcv1.Cursor_ScanServer) error {
	s := c.s
	if req.GetLimit() < 0 {
		return invalidField("limit", "limit must not be negative, got %d; 0 means no limit", req.GetLimit())
	}
	for _, f := range []struct {
		name string
		v    []byte
	}{{"start_key", req.GetStartKey()}, {"end_key", req.GetEndKey()}, {"prefix", req.GetPrefix()}} {
		if len(f.v) > s.opts.MaxKeySize {
			return invalidField(f.name, "%s is %d bytes; the limit is %d bytes", f.name, len(f.v), s.opts.MaxKeySize)
		}
	}
	// A reverse scan still takes the range as [start_key, end_key); swapping
	// them, the usual slip, would otherwise answer with silence.
	if len(req.GetStartKey()) > 0 && len(req.GetEndKey()) > 0 && bytes.Compare(req.GetStartKey(), req.GetEndKey()) > 0 {
		return invalidField("start_key", "start_key %s sorts after end_key %s, so the range is empty; the range is [start_key, end_key) in both directions, and reverse walks it from end_key down",
			quoteBytes(req.GetStartKey()), quoteBytes(req.GetEndKey()))
	}
	batch := int(req.GetBatchSize())
	if batch == 0 {
		batch = DefaultScanBatch
	}
	opts := backend.ScanOptions{
		Start:     req.GetStartKey(),
		End:       req.GetEndKey(),
		Prefix:    req.GetPrefix(),
		Reverse:   req.GetReverse(),
		Limit:     req.GetLimit(),
		KeysOnly:  req.GetKeysOnly(),
		BatchSize: batch,
	}
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	release, err := s.limits.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	var last []byte // the key of the last record sent
	send := func(resp *ktgrpcv1.ScanResponse) error {
		err := s.sendWithin(ctx, func() error { return stream.Send(resp) })
		if err == nil {
			last = resp.Records[len(resp.Records)-1].GetKey()
		}
		return err
	}
	err = s.b.Scan(ctx, req.GetDb(), opts, func(recs []backend.Record) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return s.sendScanBatch(recs, send)
	})
	var stalled *errStalled
	if errors.As(err, &stalled) {
		var unordered *backend.UnorderedScanError
		return scanStalled(stream, req, last, stalled, errors.As(err, &unordered))
	}
	return streamError(ctx, err)
}

// scanStalled ends a Scan whose client stopped reading, saying where a new
// Scan picks up: in the message, and in the trailer as resume-start-key-bin
// (forward) or resume-end-key-bin (reverse). The key is that of the last
// batch whose send returned; the send given up on may still complete before
// the stream ends (it was slow rather than blocked), so a client resumes
// after the last key it received when that is later. A scan that walked in the
// backend's own order (unordered) gets no resume key: the records after the
// last one sent are not those with greater keys, so only a new scan from
// the start covers them.
func scanStalled(stream ktgrpcv1.Cursor_ScanServer, req *ktgrpcv1.ScanRequest, last []byte, stalled *errStalled, unordered bool) error {
	msg := stalled.Error() + "; the scan was ended to free the backend for others"
	if last == nil {
		return status.Error(codes.ResourceExhausted, msg+"; nothing was sent, so repeat the same request")
	}
	if unordered {
		return status.Error(codes.ResourceExhausted, msg+"; the database is unordered (its records come in the server's order, not by key), so a scan cannot resume after the last key sent: repeat the same request, which starts over and sends the records already sent again")
	}
	if req.GetReverse() {
		stream.SetTrailer(metadata.Pairs("resume-end-key-bin", string(last)))
		return status.Errorf(codes.ResourceExhausted, "%s; to resume, repeat the request with end_key %s (the last key known to be sent, exclusive; a batch that was being sent may still arrive, and then its last key is the one to resume before)", msg, quoteBytes(last))
	}
	next := append(bytes.Clone(last), 0)
	stream.SetTrailer(metadata.Pairs("resume-start-key-bin", string(next)))
	return status.Errorf(codes.ResourceExhausted, "%s; to resume, repeat the request with start_key %s (the last key known to be sent, followed by a zero byte; a batch that was being sent may still arrive, and then resume after its last key)", msg, quoteBytes(next))
}

// sendScanBatch sends one backend batch, split further where the records
// would not fit in one message: batch_size counts records, and large values
// could otherwise push a message over the size limit.
func (s *Server) sendScanBatch(recs []backend.Record, send func(*ktgrpcv1.ScanResponse) error) error {
	resp := &ktgrpcv1.ScanResponse{}
	size := 0
	for _, r := range recs {
		pr := toRecord(r)
		n := 1 + protowire.SizeBytes(proto.Size(pr))
		if len(resp.Records) > 0 && size+n > s.opts.MaxMessageSize {
			if err := send(resp); err != nil {
				return err
			}
			resp, size = &ktgrpcv1.ScanResponse{}, 0
		}
		resp.Records = append(resp.Records, pr)
		size += n
	}
	if len(resp.Records) == 0 {
		return nil
	}
	return send(resp)
}

func (c *cursorService) Open(stream ktgrpcv1.Cursor_OpenServer) error {
	s := c.s
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()

	// Recv blocks without regard to the server's stop, so it runs on its own
	// goroutine and the loop below can also wait for the stop. The goroutine
	// ends when the stream does, which returning from this handler causes.
	reqs := make(chan *ktgrpcv1.OpenRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()

	var (
		cur     backend.Cursor
		db      string
		release = func() {}
	)
	defer func() { release() }()
	defer func() {
		if cur != nil {
			if err := cur.Close(); err != nil {
				s.log.Warn("closing cursor", "backend", s.b.Name(), "db", db, "error", err)
			}
		}
	}()
	for {
		var req *ktgrpcv1.OpenRequest
		select {
		case <-ctx.Done():
			return streamError(ctx, context.Cause(ctx))
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case req = <-reqs:
		}
		exp, err := s.checkCursorRequest(req)
		if err != nil {
			return err
		}
		if cur == nil {
			db = req.GetDb()
			if release, err = s.limits.acquire(ctx); err != nil {
				release = func() {}
				return err
			}
			opened, err := s.b.OpenCursor(ctx, db)
			if err != nil {
				return streamError(ctx, err)
			}
			cur = opened
		} else if req.GetDb() != "" && req.GetDb() != db {
			return invalidField("db", "db must stay %q, as set by the stream's first request, got %q; open another stream for another database", db, req.GetDb())
		}
		resp, err := cursorOp(ctx, cur, req, exp)
		if err != nil {
			return streamError(ctx, err)
		}
		if err := s.sendWithin(ctx, func() error { return stream.Send(resp) }); err != nil {
			var stalled *errStalled
			if errors.As(err, &stalled) {
				return status.Errorf(codes.ResourceExhausted, "%s; the stream was ended and its cursor closed to free the backend for others", stalled)
			}
			return streamError(ctx, err)
		}
	}
}

func (s *Server) checkCursorRequest(req *ktgrpcv1.OpenRequest) (backend.Expiry, error) {
	op := req.GetOperation()
	switch op {
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_UNSPECIFIED:
		return backend.Expiry{}, invalidField("operation", "operation must be set to a CursorOperation such as CURSOR_OPERATION_JUMP")
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP, ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK:
		if len(req.Key) > s.opts.MaxKeySize {
			return backend.Expiry{}, invalidField("key", "key is %d bytes; the limit is %d bytes", len(req.Key), s.opts.MaxKeySize)
		}
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE:
		if err := s.checkValue("value", req.GetValue()); err != nil {
			return backend.Expiry{}, err
		}
		return s.expiry("", req)
	default:
		if _, known := ktgrpcv1.CursorOperation_name[int32(op)]; !known {
			return backend.Expiry{}, invalidField("operation", "operation %d is not a known CursorOperation", op)
		}
	}
	return backend.Expiry{}, nil
}

// cursorOp runs one validated request on cur.
func cursorOp(ctx context.Context, cur backend.Cursor, req *ktgrpcv1.OpenRequest, exp backend.Expiry) (*ktgrpcv1.OpenResponse, error) {
	var (
		resp ktgrpcv1.OpenResponse
		rec  backend.Record
		err  error
	)
	switch req.GetOperation() {
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP:
		resp.Ok, err = cur.Jump(ctx, req.Key)
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK:
		resp.Ok, err = cur.JumpBack(ctx, req.Key)
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP:
		resp.Ok, err = cur.Step(ctx)
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP_BACK:
		resp.Ok, err = cur.StepBack(ctx)
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET:
		rec, resp.Ok, err = cur.Get(ctx, req.GetStep())
		resp.Key, resp.Value, resp.ExpireTime = rec.Key, rec.Value, timestamp(rec.ExpireTime)
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY:
		resp.Key, resp.Ok, err = cur.GetKey(ctx, req.GetStep())
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_VALUE:
		resp.Value, resp.Ok, err = cur.GetValue(ctx, req.GetStep())
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE:
		resp.Ok, err = cur.SetValue(ctx, req.GetValue(), exp, req.GetStep())
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE:
		resp.Ok, err = cur.Remove(ctx)
	case ktgrpcv1.CursorOperation_CURSOR_OPERATION_SEIZE:
		rec, resp.Ok, err = cur.Seize(ctx)
		resp.Key, resp.Value, resp.ExpireTime = rec.Key, rec.Value, timestamp(rec.ExpireTime)
	}
	if err != nil {
		return nil, err
	}
	return &resp, nil
}
