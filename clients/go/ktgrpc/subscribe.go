package ktgrpc

import (
	"context"
	"fmt"
	"iter"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Op is the kind of an Event.
type Op int

// The kinds of Event. The values from OpSet to OpMisc are the update-log
// operations of the API; OpProgress marks a position report.
const (
	// OpUnknown is an operation this client does not know.
	OpUnknown Op = iota
	// OpSet: a record was stored; Value is its new full value.
	OpSet
	// OpRemove: a record was removed.
	OpRemove
	// OpClear: a database was cleared.
	OpClear
	// OpAppend: bytes were appended to a record; Value is the appended part.
	OpAppend
	// OpIncrement: IntDelta was added to a record.
	OpIncrement
	// OpIncrementDouble: DoubleDelta was added to a record.
	OpIncrementDouble
	// OpSync: the database was synchronised to disk.
	OpSync
	// OpOptimize: the database was optimised; Args holds the parameters.
	OpOptimize
	// OpMisc: a misc function ran; Command is its name, Args its arguments.
	OpMisc
	// OpProgress: no change, only the stream's position. Every change up to
	// Position has been delivered or filtered out.
	OpProgress
	// OpRecord: a record of a Watch snapshot (WithSnapshot): Key, Value and
	// ExpireTime as the record stood at Position, the snapshot's position.
	OpRecord
)

// String returns the operation's lower-case name, such as "set".
func (o Op) String() string {
	switch o {
	case OpSet:
		return "set"
	case OpRemove:
		return "remove"
	case OpClear:
		return "clear"
	case OpAppend:
		return "append"
	case OpIncrement:
		return "increment"
	case OpIncrementDouble:
		return "increment_double"
	case OpSync:
		return "sync"
	case OpOptimize:
		return "optimize"
	case OpMisc:
		return "misc"
	case OpProgress:
		return "progress"
	case OpRecord:
		return "record"
	}
	return fmt.Sprintf("unknown(%d)", int(o))
}

// Event is one change from the update log, or a progress report.
type Event struct {
	// Position is where the stream stands after this event: pass it to
	// WithAfter to resume right after it. It is the value to persist as a
	// consumer's checkpoint, for changes and OpProgress reports alike.
	Position uint64
	// Op is the kind of change, or OpProgress.
	Op Op
	// DB is the database that changed.
	DB string
	// Key is the record's key, for record operations.
	Key string
	// Value is the new value (OpSet) or the appended bytes (OpAppend).
	Value []byte
	// ExpireTime is the record's expiration for OpSet; zero means never.
	ExpireTime time.Time
	// IntDelta is the amount added by OpIncrement.
	IntDelta int64
	// DoubleDelta is the amount added by OpIncrementDouble.
	DoubleDelta float64
	// KeepLast is, for OpAppend from Tokyo Tyrant putshl, the width the
	// value was cut to; 0 means no cut.
	KeepLast uint32
	// Command is the backend's own name for the command.
	Command string
	// Args are the command's further arguments.
	Args [][]byte
	// OriginServerID is the id of the server where the change was made.
	OriginServerID uint32
	// Raw is the change as the backend logged it (empty on the embedded
	// store).
	Raw []byte
}

// Subscribe follows the update log and yields its changes, interleaved with
// OpProgress events that report the position while changes are filtered
// out or none happen. It starts after WithAfter's position (0, the default,
// replays the whole retained log) or, with WithNow, at the end of the log,
// and reads WithDB (only that database when not ""), WithPrefix, WithOps
// and WithProgressInterval.
//
// The sequence runs until the loop breaks, ctx ends or the stream fails;
// a failure is its last element. To resume after a failure, such as
// ErrUnavailable when the gateway restarts, subscribe again with WithAfter
// set to the Position of the last event handled: positions are exclusive, so
// nothing is lost or repeated. Watch does that itself.
func (c *Client) Subscribe(ctx context.Context, opts ...Option) iter.Seq2[Event, error] {
	s := c.settings(opts)
	return c.subscribe(ctx, &s, s.after, s.now)
}

// subscribe is Subscribe with the start given apart from the settings, for
// Watch, which moves it on as events arrive.
func (c *Client) subscribe(ctx context.Context, s *settings, after uint64, now bool) iter.Seq2[Event, error] {
	req := &ktgrpcv1.SubscribeRequest{KeyPrefix: []byte(s.prefix)}
	if now {
		req.Start = &ktgrpcv1.SubscribeRequest_Now{Now: true}
	} else {
		req.Start = &ktgrpcv1.SubscribeRequest_After{After: after}
	}
	if s.db != "" {
		req.Dbs = []string{s.db}
	}
	for _, op := range s.ops {
		req.Operations = append(req.Operations, toOperation(op))
	}
	if s.progress != 0 {
		req.ProgressInterval = durationpb.New(s.progress)
	}
	req.MaxEventsPerMessage = eventsPerMessage
	return streamSeq(ctx, "Subscribe", c.replication.Subscribe, req, func(resp *ktgrpcv1.SubscribeResponse, yield func(Event, error) bool) bool {
		switch k := resp.GetKind().(type) {
		case *ktgrpcv1.SubscribeResponse_Event:
			return yield(fromEvent(k.Event), nil)
		case *ktgrpcv1.SubscribeResponse_Events:
			return yieldEvents(k.Events, yield)
		case *ktgrpcv1.SubscribeResponse_Progress:
			return yield(Event{Position: k.Progress.GetPosition(), Op: OpProgress}, nil)
		}
		return true
	})
}

// eventsPerMessage is the max_events_per_message the client asks for: a
// consumer that falls behind takes the changes waiting for it in one
// message, and catches up instead of falling further behind. Events are
// yielded one by one all the same.
const eventsPerMessage = 256

// yieldEvents yields the events of a batch, one at a time.
func yieldEvents(b *ktgrpcv1.EventBatch, yield func(Event, error) bool) bool {
	for _, e := range b.GetEvents() {
		if !yield(fromEvent(e), nil) {
			return false
		}
	}
	return true
}

func fromEvent(e *ktgrpcv1.Event) Event {
	return Event{
		Position:       e.GetPosition(),
		Op:             fromOperation(e.GetOperation()),
		DB:             e.GetDb(),
		Key:            string(e.GetKey()),
		Value:          e.GetValue(),
		ExpireTime:     fromTimestamp(e.GetExpireTime()),
		IntDelta:       e.GetIntDelta(),
		DoubleDelta:    e.GetDoubleDelta(),
		KeepLast:       e.GetKeepLast(),
		Command:        e.GetCommand(),
		Args:           e.GetArgs(),
		OriginServerID: e.GetOriginServerId(),
		Raw:            e.GetRaw(),
	}
}

// fromOperation relies on Op numbering the log operations as the API does.
func fromOperation(op ktgrpcv1.Operation) Op {
	if op >= ktgrpcv1.Operation_OPERATION_SET && op <= ktgrpcv1.Operation_OPERATION_MISC {
		return Op(op)
	}
	return OpUnknown
}

// toOperation maps an Op to the API's value. Ops that are no log operation
// become OPERATION_UNSPECIFIED, which the gateway rejects with a message
// naming the valid ones.
func toOperation(op Op) ktgrpcv1.Operation {
	if op >= OpSet && op <= OpMisc {
		return ktgrpcv1.Operation(op)
	}
	return ktgrpcv1.Operation_OPERATION_UNSPECIFIED
}
