package tttest

import (
	"context"
	"math"
	"time"

	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// Replication stream frames.
const (
	magicRecord = 0xC9
	magicNOP    = 0xCA
)

// replBatch is how many log records a stream reads per turn.
const replBatch = 256

// repl serves a replication stream (C8 A0 ts:u64 sid:u32). Refusals close
// the connection without a byte: the repl mask, ts 0, sid 0, or the
// server's own sid. Without an update log the server sends its sid, then
// closes. Otherwise the stream runs until the client goes away or the
// server closes; either way the connection ends.
func (c *conn) repl() (bool, error) {
	c.count(cmdRepl)
	ts, err := c.u64()
	if err != nil {
		return false, err
	}
	sid, err := c.u32()
	if err != nil {
		return false, err
	}
	cfg := c.s.cfg
	if c.masked(cmdRepl) || ts < 1 || sid < 1 || sid == cfg.sid {
		return false, errClose
	}
	if _, err := c.send(appendU32(nil, cfg.sid)); err != nil {
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
	var lastNOP int64 = math.MinInt64
	for {
		now := clock.Now().UnixNano()
		if lastNOP == math.MinInt64 || now-lastNOP >= int64(interval) {
			if _, err := c.send([]byte{magicNOP}); err != nil {
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
				if _, err := c.w.Write(frame(r)); err != nil {
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

// frame encodes a log record for the stream: C9, ts:u64, origin sid:u32,
// size:u32 and the payload.
func frame(r ttstore.LogRecord) []byte {
	p := payload(r)
	b := appendU32(appendU32(appendU64([]byte{magicRecord}, r.TS), r.OriginSID), uint32(len(p)))
	return append(b, p...)
}

// payload encodes a logged operation as TT does: the binary request that
// ran it (misc without its opts field), then the result byte.
func payload(r ttstore.LogRecord) []byte {
	var b []byte
	switch r.Op {
	case ttstore.OpPut, ttstore.OpPutKeep, ttstore.OpPutCat:
		cmd := map[ttstore.Op]byte{ttstore.OpPut: opPut, ttstore.OpPutKeep: opPutKeep, ttstore.OpPutCat: opPutCat}[r.Op]
		b = appendU32(appendU32([]byte{magicBinary, cmd}, uint32(len(r.Key))), uint32(len(r.Value)))
		b = append(append(b, r.Key...), r.Value...)
	case ttstore.OpPutShl:
		b = appendU32(appendU32([]byte{magicBinary, opPutShl}, uint32(len(r.Key))), uint32(len(r.Value)))
		b = appendU32(b, uint32(r.Width))
		b = append(append(b, r.Key...), r.Value...)
	case ttstore.OpOut:
		b = appendField([]byte{magicBinary, opOut}, r.Key)
	case ttstore.OpAddInt:
		b = appendU32(appendU32([]byte{magicBinary, opAddInt}, uint32(len(r.Key))), uint32(r.Int))
		b = append(b, r.Key...)
	case ttstore.OpAddDouble:
		i, f := packDouble(r.Double)
		b = appendU64(appendU64(appendU32([]byte{magicBinary, opAddDouble}, uint32(len(r.Key))), uint64(i)), uint64(f))
		b = append(b, r.Key...)
	case ttstore.OpSync:
		b = []byte{magicBinary, opSync}
	case ttstore.OpOptimize:
		b = appendField([]byte{magicBinary, opOptimize}, r.Params)
	case ttstore.OpVanish:
		b = []byte{magicBinary, opVanish}
	case ttstore.OpMisc:
		b = appendU32(appendU32([]byte{magicBinary, opMisc}, uint32(len(r.Name))), uint32(len(r.Args)))
		b = append(b, r.Name...)
		for _, a := range r.Args {
			b = appendField(b, a)
		}
	}
	status := byte(0)
	if r.Failed {
		status = 1
	}
	return append(b, status)
}
