package ktgrpc

import (
	"context"
	"errors"
	"io"
	"iter"

	"google.golang.org/grpc"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Scan streams records in key order (descending with WithReverse) and
// yields them one by one. It reads WithDB, WithRange, WithPrefix,
// WithReverse, WithLimit, WithKeysOnly and WithBatchSize.
//
// An error ends the sequence as its last element. Breaking out of the loop
// cancels the stream.
//
//	for rec, err := range c.Scan(ctx, ktgrpc.WithPrefix("user:")) {
//		if err != nil {
//			return err
//		}
//		fmt.Printf("%s=%s\n", rec.Key, rec.Value)
//	}
func (c *Client) Scan(ctx context.Context, opts ...Option) iter.Seq2[Record, error] {
	s := c.settings(opts)
	req := &ktgrpcv1.ScanRequest{
		Db:        s.db,
		StartKey:  []byte(s.start),
		EndKey:    []byte(s.end),
		Prefix:    []byte(s.prefix),
		Reverse:   s.reverse,
		Limit:     s.limit,
		KeysOnly:  s.keysOnly,
		BatchSize: s.batchSize,
	}
	return streamSeq(ctx, "Scan", c.cursor.Scan, req, func(resp *ktgrpcv1.ScanResponse, yield func(Record, error) bool) bool {
		for _, r := range resp.GetRecords() {
			if !yield(fromRecord(r), nil) {
				return false
			}
		}
		return true
	})
}

// streamSeq runs a server-streaming call (method names it in errors) as a
// sequence: emit yields the items of each response and reports whether to
// go on. An error ends the sequence as its last element; breaking out of
// the loop cancels the stream.
func streamSeq[Req, Resp, T any](ctx context.Context, method string, call func(context.Context, *Req, ...grpc.CallOption) (grpc.ServerStreamingClient[Resp], error), req *Req, emit func(resp *Resp, yield func(T, error) bool) bool) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var zero T
		stream, err := call(ctx, req)
		if err != nil {
			yield(zero, wrapErr(method, err))
			return
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(zero, wrapErr(method, err))
				return
			}
			if !emit(resp, yield) {
				return
			}
		}
	}
}
