package ttstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Op is the kind of a TT update-log record; each is one of TT's logged
// commands.
type Op int

// The logged commands.
const (
	OpPut Op = iota + 1
	OpPutKeep
	OpPutCat
	OpPutShl
	OpOut
	OpAddInt
	OpAddDouble
	OpSync
	OpOptimize
	OpVanish
	OpMisc
)

// LogRecord is one record of a DB's update log: a logged command with
// its arguments as the caller gave them and whether it failed. TT logs
// failures too, and misc calls (reads included) unless asked not to; putnr
// is logged as a put, and addint/adddouble of zero not at all.
type LogRecord struct {
	// Seq numbers the records of the log from 1, strictly increasing.
	Seq uint64
	// TS is the time of the operation in microseconds since the epoch, from
	// Options.Now. It is neither unique nor monotonic, as in TT.
	TS uint64
	// OriginSID is the server the operation first ran on; MasterSID the
	// server it was replayed from (0 for a local operation).
	OriginSID, MasterSID uint32

	Op Op
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

// ttLog is a DB's bounded update log, with a lock of its own so that
// readers do not wait for operations.
type ttLog struct {
	mu       sync.Mutex
	capacity int
	records  []LogRecord
	seq      uint64
	wake     chan struct{}
}

// append adds r with the next sequence number and wakes the readers.
func (l *ttLog) append(r LogRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	r.Seq = l.seq
	if len(l.records) >= l.capacity {
		l.records[0] = LogRecord{}
		l.records = l.records[1:]
	}
	l.records = append(l.records, r)
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// waitChan returns a channel closed at the next append. Called with l.mu
// held.
func (l *ttLog) waitChan() <-chan struct{} {
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

// ReadLog returns up to max retained records with Seq greater than after,
// oldest first. Records dropped from the bounded log are skipped silently,
// as TT does with deleted log files. The records' slices must not be
// modified.
func (t *DB) ReadLog(ctx context.Context, after uint64, max int) ([]LogRecord, error) {
	if err := t.s.Ping(ctx); err != nil {
		return nil, err
	}
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
	recs := t.log.records
	i := 0
	if n := len(recs); n > 0 && recs[0].Seq <= after {
		i = min(int(after-recs[0].Seq)+1, n)
	}
	n := min(len(recs)-i, max)
	out := make([]LogRecord, n)
	copy(out, recs[i:i+n])
	return out, nil
}

// LogSeq returns the Seq of the newest record, 0 before the first.
func (t *DB) LogSeq() uint64 {
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
	return t.log.seq
}

// WaitLog returns a channel that is closed once the log holds a record with
// Seq greater than after: at once when it already does.
func (t *DB) WaitLog(after uint64) <-chan struct{} {
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
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
func (t *DB) Redo(ctx context.Context, r LogRecord, masterSID uint32) (consistent bool, err error) {
	switch r.Op {
	case OpPut, OpPutKeep, OpPutCat, OpPutShl, OpOut, OpAddInt, OpAddDouble, OpSync, OpOptimize, OpVanish, OpMisc:
	default:
		return false, fmt.Errorf("ttstore: redo of unknown TT log operation %d: %w", int(r.Op), backend.ErrInvalid)
	}
	err = t.run(ctx, r.OriginSID, masterSID, func(x *op) {
		ok := true
		rec := LogRecord{Op: r.Op, Key: clone(r.Key), Value: clone(r.Value), Width: r.Width, Int: r.Int, Double: r.Double, Params: clone(r.Params), Name: r.Name}
		switch r.Op {
		case OpPut:
			ok = x.put(PutOver, r.Key, r.Value, 0)
		case OpPutKeep:
			ok = x.put(PutKeep, r.Key, r.Value, 0)
		case OpPutCat:
			ok = x.put(PutCat, r.Key, r.Value, 0)
		case OpPutShl:
			ok = x.put(PutShl, r.Key, r.Value, r.Width)
		case OpOut:
			ok = x.out(r.Key)
		case OpAddInt:
			_, ok = x.addInt(r.Key, r.Int)
		case OpAddDouble:
			_, ok = x.addDouble(r.Key, r.Double)
		case OpVanish:
			x.vanish()
		case OpMisc:
			for _, a := range r.Args {
				rec.Args = append(rec.Args, clone(a))
			}
			_, ok = x.misc(r.Name, r.Args)
		}
		rec.Failed = !ok
		x.record(rec)
		if r.Op == OpAddInt || r.Op == OpAddDouble {
			consistent = ok || r.Failed
		} else {
			consistent = ok != r.Failed
		}
	})
	return consistent, err
}
