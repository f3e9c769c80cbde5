package ktgrpc

import (
	"context"
	"errors"
	"io"
	"iter"

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
	return func(yield func(Record, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.cursor.Scan(ctx, req)
		if err != nil {
			yield(Record{}, wrapErr("Scan", err))
			return
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(Record{}, wrapErr("Scan", err))
				return
			}
			for _, r := range resp.GetRecords() {
				if !yield(fromRecord(r), nil) {
					return
				}
			}
		}
	}
}
