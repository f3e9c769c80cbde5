package ktgrpc

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Cursor is a stateful cursor over one database: it stands on a record and
// moves forward (Jump, Step) or, on ordered databases, backward (JumpBack,
// StepBack), reading, rewriting or removing the record it stands on. Each
// call is one round trip on one stream; the gateway holds the backend's
// cursor until Close. A Cursor is not safe for concurrent use.
//
// Methods report with ok = false that there was no record to act on (a jump
// into an empty range, a step past the end, a read off the records); an
// error is a failure of the stream, after which the Cursor is unusable.
//
//	cur, err := c.OpenCursor(ctx)
//	if err != nil {
//		return err
//	}
//	defer cur.Close()
//	ok, err := cur.Jump("user:")
//	for ok && err == nil {
//		var rec ktgrpc.Record
//		if rec, ok, err = cur.Get(true); ok { // read, then step
//			fmt.Printf("%s=%s\n", rec.Key, rec.Value)
//		}
//	}
type Cursor struct {
	stream grpc.BidiStreamingClient[ktgrpcv1.OpenRequest, ktgrpcv1.OpenResponse]
	cancel context.CancelFunc
	db     string
	sent   bool
	err    error
}

// OpenCursor opens a cursor on the database of WithDB. The cursor lives
// until Close or the end of ctx.
func (c *Client) OpenCursor(ctx context.Context, opts ...Option) (*Cursor, error) {
	s := c.settings(opts)
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.cursor.Open(ctx)
	if err != nil {
		cancel()
		return nil, wrapErr("Cursor", err)
	}
	return &Cursor{stream: stream, cancel: cancel, db: s.db}, nil
}

// do sends one operation and reads its answer.
func (cur *Cursor) do(req *ktgrpcv1.OpenRequest) (*ktgrpcv1.OpenResponse, error) {
	if cur.err != nil {
		return nil, cur.err
	}
	if !cur.sent {
		// The database is read from the first request only.
		req.Db, cur.sent = cur.db, true
	}
	if err := cur.stream.Send(req); err != nil {
		if errors.Is(err, io.EOF) {
			// The stream ended; its status comes with Recv.
			_, err = cur.stream.Recv()
		}
		cur.err = wrapErr("Cursor", err)
		return nil, cur.err
	}
	resp, err := cur.stream.Recv()
	if err != nil {
		cur.err = wrapErr("Cursor", err)
		return nil, cur.err
	}
	return resp, nil
}

func (cur *Cursor) move(op ktgrpcv1.CursorOperation, key *string) (bool, error) {
	req := &ktgrpcv1.OpenRequest{Operation: op}
	if key != nil {
		req.Key = []byte(*key)
	}
	resp, err := cur.do(req)
	return resp.GetOk(), err
}

// Jump moves to the first record with a key at or after key.
func (cur *Cursor) Jump(key string) (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP, &key)
}

// First moves to the first record.
func (cur *Cursor) First() (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP, nil)
}

// JumpBack moves to the last record with a key at or before key (ordered
// databases only; elsewhere ErrUnsupported).
func (cur *Cursor) JumpBack(key string) (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK, &key)
}

// Last moves to the last record (ordered databases only).
func (cur *Cursor) Last() (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP_BACK, nil)
}

// Step moves to the next record.
func (cur *Cursor) Step() (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP, nil)
}

// StepBack moves to the previous record (ordered databases only).
func (cur *Cursor) StepBack() (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_STEP_BACK, nil)
}

// Get reads the current record and, with step, moves on afterwards (in the
// direction of the last move).
func (cur *Cursor) Get(step bool) (Record, bool, error) {
	resp, err := cur.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET, Step: step})
	if err != nil || !resp.GetOk() {
		return Record{}, false, err
	}
	return Record{Key: string(resp.GetKey()), Value: resp.GetValue(), ExpireTime: fromTimestamp(resp.GetExpireTime())}, true, nil
}

// Key reads the current record's key and, with step, moves on.
func (cur *Cursor) Key(step bool) (string, bool, error) {
	resp, err := cur.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_KEY, Step: step})
	return string(resp.GetKey()), resp.GetOk(), err
}

// Value reads the current record's value and, with step, moves on.
func (cur *Cursor) Value(step bool) ([]byte, bool, error) {
	resp, err := cur.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_GET_VALUE, Step: step})
	return resp.GetValue(), resp.GetOk(), err
}

// SetValue overwrites the current record's value and, with step, moves on.
// It reads WithTTL and WithExpireAt.
func (cur *Cursor) SetValue(value []byte, step bool, opts ...Option) (bool, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	req := &ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE, Value: value, Step: step}
	switch ttl, at := s.expiration(); {
	case ttl != nil:
		req.Expiration = &ktgrpcv1.OpenRequest_Ttl{Ttl: ttl}
	case at != nil:
		req.Expiration = &ktgrpcv1.OpenRequest_ExpireTime{ExpireTime: at}
	}
	resp, err := cur.do(req)
	return resp.GetOk(), err
}

// Remove deletes the current record; the cursor moves to the next one (the
// previous one when it moves backward).
func (cur *Cursor) Remove() (bool, error) {
	return cur.move(ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE, nil)
}

// Seize reads and removes the current record; the cursor moves on as with
// Remove.
func (cur *Cursor) Seize() (Record, bool, error) {
	resp, err := cur.do(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_SEIZE})
	if err != nil || !resp.GetOk() {
		return Record{}, false, err
	}
	return Record{Key: string(resp.GetKey()), Value: resp.GetValue(), ExpireTime: fromTimestamp(resp.GetExpireTime())}, true, nil
}

// Close releases the cursor. It returns the stream's error, if one ended
// it, other than its own cancellation.
func (cur *Cursor) Close() error {
	if cur.cancel == nil {
		return nil
	}
	err := cur.stream.CloseSend()
	if err == nil {
		// Wait for the gateway to end the stream, so that the backend's
		// cursor is released when Close returns.
		if _, rerr := cur.stream.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) && cur.err == nil {
			err = wrapErr("Cursor", rerr)
		}
	}
	cur.cancel()
	cur.cancel = nil
	if cur.err == nil {
		cur.err = errors.New("ktgrpc: Cursor: closed")
	}
	return err
}
