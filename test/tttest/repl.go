package tttest

import (
	"context"
	"math"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// replBatch is how many log records a stream reads per turn.
const replBatch = 256

// repl serves a replication stream (C8 A0 ts:u64 sid:u32). Refusals close
// the connection without a byte: the repl mask, ts 0, sid 0, or the
// server's own sid. Without an update log the server sends its sid, then
// closes. Otherwise the stream runs until the client goes away or the
// server closes; either way the connection ends.
func (c *conn) repl(r *ttwire.Request) (bool, error) {
	ts, sid := r.TS, r.SID
	cfg := c.s.cfg
	if c.masked(r.Cmd) || ts < 1 || sid < 1 || sid == cfg.sid {
		return false, errClose
	}
	if _, err := c.send(ttwire.AppendReplSID(c.w.AvailableBuffer(), cfg.sid)); err != nil {
		return false, err
	}
	if !cfg.ulog || cfg.sid == 0 {
		return false, errClose
	}
	// The log's end is taken before the session counts as served, so that
	// a write made once WaitReplicationCount has seen it wakes the stream.
	seen := c.s.db.LogSeq()
	c.s.replsAdded(1)
	defer c.s.replsAdded(-1)
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	// The client never speaks again; reading only notices that it left.
	go func() {
		defer cancel()
		_, _ = c.r.WriteTo(discard{})
	}()
	if err := c.stream(ctx, ts, sid, seen); err != nil {
		return false, err
	}
	return false, errClose
}

// discard is an io.Writer that drops everything.
type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// stream sends the update log from ts (inclusive) to a slave with id sid,
// seen being the log's end when the session began, as TT's master loop
// does: a NOP at the top of every round in which the
// heartbeat interval has passed since the last one (and at once), then a
// wait of up to the rest of the interval for records logged after the
// last read, then every record not yet sent. Records already in the log at
// connect time are therefore sent once the first wait ends, followed by the
// next NOP. Records whose origin or master is the slave itself are
// withheld.
func (c *conn) stream(ctx context.Context, ts uint64, sid uint32, seen uint64) error {
	clock, interval, db := c.s.clock, c.s.replInterval, c.s.db
	var sent uint64
	var payload []byte
	var lastNOP int64 = math.MinInt64
	for {
		now := clock.Now().UnixNano()
		if lastNOP == math.MinInt64 || now-lastNOP >= int64(interval) {
			if _, err := c.send(ttwire.AppendFrame(c.w.AvailableBuffer(), &ttwire.Frame{NOP: true})); err != nil {
				return err
			}
			lastNOP = now
		}
		wait := clock.After(time.Duration(max(0, lastNOP+int64(interval)-now)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-db.WaitLog(seen):
		case <-wait:
		}
		for {
			recs, err := db.ReadLog(ctx, sent, replBatch)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				sent = r.Seq
				if r.TS < ts || r.OriginSID == sid || r.MasterSID == sid {
					continue
				}
				if payload, err = logPayload(payload[:0], r); err != nil {
					return err
				}
				if _, err := c.w.Write(ttwire.AppendFrame(c.w.AvailableBuffer(), &ttwire.Frame{TS: r.TS, SID: r.OriginSID, Payload: payload})); err != nil {
					return err
				}
			}
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
		seen = max(seen, sent)
	}
}

// logCommands are the commands of the logged operations.
var logCommands = map[ttstore.Op]ttwire.Command{
	ttstore.OpPut: ttwire.CmdPut, ttstore.OpPutKeep: ttwire.CmdPutKeep, ttstore.OpPutCat: ttwire.CmdPutCat,
	ttstore.OpPutShl: ttwire.CmdPutShl, ttstore.OpOut: ttwire.CmdOut, ttstore.OpAddInt: ttwire.CmdAddInt,
	ttstore.OpAddDouble: ttwire.CmdAddDouble, ttstore.OpSync: ttwire.CmdSync, ttstore.OpOptimize: ttwire.CmdOptimize,
	ttstore.OpVanish: ttwire.CmdVanish, ttstore.OpMisc: ttwire.CmdMisc,
}

// logPayload appends a logged operation as TT writes it: the binary request
// that ran it, then the result byte.
func logPayload(dst []byte, r ttstore.LogRecord) ([]byte, error) {
	req := ttwire.Request{
		Cmd: logCommands[r.Op], Key: r.Key, Value: r.Value, Width: r.Width, Int: r.Int,
		Double: ttwire.PackDouble(r.Double), Params: string(r.Params), Name: r.Name, Args: r.Args,
	}
	status := ttwire.StatusOK
	if r.Failed {
		status = ttwire.StatusFailed
	}
	return ttwire.AppendLogPayload(dst, &req, status)
}
