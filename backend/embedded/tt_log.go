package embedded

import (
	"context"
	"fmt"
	"sync"

	"github.com/ktgrpc/ktgrpc/backend"
)

// TTOp is the kind of a TT update-log record; each is one of TT's logged
// commands.
type TTOp int

// The logged commands.
const (
	TTOpPut TTOp = iota + 1
	TTOpPutKeep
	TTOpPutCat
	TTOpPutShl
	TTOpOut
	TTOpAddInt
	TTOpAddDouble
	TTOpSync
	TTOpOptimize
	TTOpVanish
	TTOpMisc
)

// TTLogRecord is one record of a TTDB's update log: a logged command with
// its arguments as the caller gave them and whether it failed. TT logs
// failures too, and misc calls (reads included) unless asked not to; putnr
// is logged as a put, and addint/adddouble of zero not at all.
type TTLogRecord struct {
	// Seq numbers the records of the log from 1, strictly increasing.
	Seq uint64
	// TS is the time of the operation in microseconds since the epoch, from
	// the Store's clock. It is neither unique nor monotonic, as in TT.
	TS uint64
	// OriginSID is the server the operation first ran on; MasterSID the
	// server it was replayed from (0 for a local operation).
	OriginSID, MasterSID uint32

	Op TTOp
	// Key and Value of the put family, out, addint and adddouble.
	Key, Value []byte
	// Width of putshl.
	Width int32
	// Int is addint's addend, Double adddouble's.
	Int    int32
	Double float64
	// Params of optimize.
	Params []byte
	// Name and Args of misc.
	Name string
	Args [][]byte
	// Failed is the logged result: true when the operation failed.
	Failed bool
}

// ttLog is a TTDB's bounded update log. records and seq are guarded by
// Store.mu; wake has its own lock so that readers holding only the read
// lock can wait.
type ttLog struct {
	capacity int
	records  []TTLogRecord
	seq      uint64

	wakeMu sync.Mutex
	wake   chan struct{}
}

// append adds r with the next sequence number and wakes the readers.
// Called with Store.mu held for writing.
func (l *ttLog) append(r TTLogRecord) {
	l.seq++
	r.Seq = l.seq
	if len(l.records) >= l.capacity {
		l.records[0] = TTLogRecord{}
		l.records = l.records[1:]
	}
	l.records = append(l.records, r)
	l.wakeMu.Lock()
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	l.wakeMu.Unlock()
}

// waitChan returns a channel closed at the next append.
func (l *ttLog) waitChan() <-chan struct{} {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

// ReadLog returns up to max retained records with Seq greater than after,
// oldest first. Records dropped from the bounded log are skipped silently,
// as TT does with deleted log files. The records' slices must not be
// modified.
func (t *TTDB) ReadLog(ctx context.Context, after uint64, max int) ([]TTLogRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	if t.s.closed {
		return nil, errClosed
	}
	recs := t.log.records
	i := 0
	if n := len(recs); n > 0 && recs[0].Seq <= after {
		i = min(int(after-recs[0].Seq)+1, n)
	}
	n := min(len(recs)-i, max)
	out := make([]TTLogRecord, n)
	copy(out, recs[i:i+n])
	return out, nil
}

// LogSeq returns the Seq of the newest record, 0 before the first.
func (t *TTDB) LogSeq() uint64 {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	return t.log.seq
}

// WaitLog returns a channel that is closed once the log holds a record with
// Seq greater than after: at once when it already does.
func (t *TTDB) WaitLog(after uint64) <-chan struct{} {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	if t.log.seq > after {
		done := make(chan struct{})
		close(done)
		return done
	}
	return t.log.waitChan()
}

// Redo runs r again, as a TT slave or restore does, logging it with r's
// origin and masterSID as the server it came from. consistent reports
// whether the outcome matches the logged one; for addint and adddouble only
// an unexpected failure counts.
func (t *TTDB) Redo(ctx context.Context, r TTLogRecord, masterSID uint32) (consistent bool, err error) {
	err = t.update(ctx, "tt_redo", r.OriginSID, masterSID, func(x *ttTxn) error {
		ok := true
		rec := TTLogRecord{Op: r.Op, Key: own(r.Key), Value: own(r.Value), Width: r.Width, Int: r.Int, Double: r.Double, Params: own(r.Params), Name: r.Name}
		switch r.Op {
		case TTOpPut:
			ok = x.put(TTPutOver, r.Key, r.Value, 0)
		case TTOpPutKeep:
			ok = x.put(TTPutKeep, r.Key, r.Value, 0)
		case TTOpPutCat:
			ok = x.put(TTPutCat, r.Key, r.Value, 0)
		case TTOpPutShl:
			ok = x.put(TTPutShl, r.Key, r.Value, r.Width)
		case TTOpOut:
			ok = x.out(r.Key)
		case TTOpAddInt:
			_, ok = x.addInt(r.Key, r.Int)
		case TTOpAddDouble:
			_, ok = x.addDouble(r.Key, r.Double)
		case TTOpSync, TTOpOptimize:
		case TTOpVanish:
			x.vanish()
		case TTOpMisc:
			for _, a := range r.Args {
				rec.Args = append(rec.Args, own(a))
			}
			_, ok = x.misc(r.Name, r.Args)
		default:
			return fmt.Errorf("embedded: redo of unknown TT log operation %d: %w", int(r.Op), backend.ErrInvalid)
		}
		rec.Failed = !ok
		x.record(rec)
		if r.Op == TTOpAddInt || r.Op == TTOpAddDouble {
			consistent = ok || r.Failed
		} else {
			consistent = ok != r.Failed
		}
		return nil
	})
	return consistent, err
}
