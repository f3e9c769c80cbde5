// Package hub shares one upstream replication stream of a backend among
// every subscriber of the gateway.
//
// A backend serves each replication session on a worker of its own for as
// long as the session lasts (Kyoto Tycoon has 16 by default, Tokyo Tyrant
// 8), so one session per subscriber would let a handful of consumers take the
// server down for every other client. The hub reads the log once, keeps the
// recent events in a window bounded by events and bytes, and serves every
// subscriber from that window, applying its filters in the gateway.
// Subscribers that start before the window are served by a bounded number of
// catch-up readers, each a session of its own, which hand over to the window
// once they reach it, with no gap and no duplicate.
//
// Subscribers pull from the window at their own pace, so none can slow the
// others or the upstream reader. One that falls further behind the newest
// event than its buffer allows, or whose next event has left the window, is
// ended with an error wrapping backend.ErrExhausted that names the position
// to resume after.
package hub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Defaults for the zero values of Options.
const (
	DefaultWindowEvents     = 10000
	DefaultWindowBytes      = 16 << 20
	DefaultSubscriberBuffer = 4096
	DefaultCatchUpReaders   = 1
	DefaultBackoff          = 100 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultWakeSpacing      = 100 * time.Microsecond
)

// readBatch is the most events a subscriber takes from the window under one
// lock, and so the most a consumer is handed at once. Each subscriber keeps
// room for that many, which a thousand of them should not find costly.
const readBatch = 64

// Options tune a Hub. The zero value is ready to use.
type Options struct {
	// WindowEvents bounds the events kept in memory (0: 10,000).
	WindowEvents int
	// WindowBytes bounds the bytes those events take (0: 16 MiB).
	WindowBytes int64
	// SubscriberBuffer is how many events a subscriber may fall behind the
	// newest one before it is ended as too slow (0: 4096).
	SubscriberBuffer int
	// CatchUpReaders bounds the extra upstream sessions serving subscribers
	// that start before the window (0: 1). Further such subscribers wait for
	// a free reader.
	CatchUpReaders int
	// Backoff is the first pause before the shared stream is reopened after
	// the backend gave up on it; it doubles up to MaxBackoff (0: 100ms, 5s).
	Backoff, MaxBackoff time.Duration
	// WakeSpacing paces the subscribers' wakeups: once woken for a
	// change, they are woken again no sooner than WakeSpacing times their
	// number later, and take the changes of the meantime together (0:
	// 100µs, so 100ms for a thousand subscribers, 6.4ms for 64 and none to
	// speak of for a few; negative: woken for every change). Under a
	// steady flow of changes the hub thus sends at most one message per
	// WakeSpacing over all its subscribers (10,000 a second by default),
	// whatever their number; a change after a quiet spell goes out at
	// once. Waking a thousand subscribers for every change would cost the
	// gateway and its clients a message per change and subscriber, and the
	// writes that pass through the gateway would queue behind them.
	WakeSpacing time.Duration
}

func (o Options) withDefaults() Options {
	if o.WindowEvents <= 0 {
		o.WindowEvents = DefaultWindowEvents
	}
	if o.WindowBytes <= 0 {
		o.WindowBytes = DefaultWindowBytes
	}
	if o.SubscriberBuffer <= 0 {
		o.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if o.CatchUpReaders <= 0 {
		o.CatchUpReaders = DefaultCatchUpReaders
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.WakeSpacing == 0 {
		o.WakeSpacing = DefaultWakeSpacing
	}
	return o
}

// Stats describes the hub's state.
type Stats struct {
	Subscribers         int
	UpstreamConnections int
	CatchUpReaders      int
	WindowEvents        int
	WindowBytes         int64
	// WindowOldest is the position of the oldest event in the window, 0
	// when it is empty.
	WindowOldest uint64
	// Position is the shared stream's position.
	Position             uint64
	SlowSubscribersEnded uint64
	EventsDropped        uint64
	UpstreamReconnects   uint64
	// MaxLagEvents is how many events of the window the furthest-behind
	// subscriber that reads from it has yet to take.
	MaxLagEvents uint64
}

// Hub serves the subscriptions of one backend from one upstream stream.
// Create it with New; its methods are safe for concurrent use.
type Hub struct {
	b       backend.Backend
	opts    Options
	catchUp chan struct{}

	// mu guards the hub and its run; subscribers read the window under
	// its read lock, so that a thousand of them woken by one event do not
	// queue behind each other.
	mu   sync.RWMutex
	subs int
	// run is the current upstream run, nil when none is running.
	run *run
	// catchUps counts the catch-up readers open.
	catchUps int
	closed   bool
	slow     uint64
	dropped  uint64
	reconns  uint64
	// readers are the subscribers reading the window, with the sequence
	// number of the next event each will take, for the lag in Stats.
	readers map[*sub]*atomic.Uint64
}

// run is one life of the shared stream, from the first subscriber to the
// last. Its fields are guarded by Hub.mu.
type run struct {
	cancel context.CancelFunc
	done   chan struct{}
	// started: base and pos are known. The window holds every event after
	// base that the upstream delivered.
	started bool
	// live: the upstream has caught up at least once, so a subscriber at
	// the end of the window is at the end of the log.
	live bool
	base uint64
	pos  uint64
	// lastEvent is the position of the newest event taken, which the next
	// must exceed.
	lastEvent uint64
	win       []*backend.Event
	firstSeq  uint64
	bytes     int64
	// changed is closed (and replaced) whenever the run changes.
	changed chan struct{}
	// lastWake is when changed was last closed for new updates; wakeDue
	// is set while a later wakeup is scheduled.
	lastWake time.Time
	wakeDue  bool
	// err ends the run's subscribers.
	err error
}

// New returns a hub over b. It opens nothing until the first subscriber.
func New(b backend.Backend, opts Options) *Hub {
	opts = opts.withDefaults()
	return &Hub{b: b, opts: opts, catchUp: make(chan struct{}, opts.CatchUpReaders)}
}

// errClosed ends subscriptions when the hub closes.
var errClosed = fmt.Errorf("replication hub closed: %w", backend.ErrUnavailable)

// Close ends the shared stream and every subscription, and waits for the
// upstream reader to stop.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	r := h.run
	if r != nil {
		r.err = errClosed
		r.notify()
		r.cancel()
	}
	h.mu.Unlock()
	if r != nil {
		<-r.done
	}
	return nil
}

// Stats returns the hub's state now.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	st := Stats{
		Subscribers:          h.subs,
		CatchUpReaders:       h.catchUps,
		UpstreamConnections:  h.catchUps,
		SlowSubscribersEnded: h.slow,
		EventsDropped:        h.dropped,
		UpstreamReconnects:   h.reconns,
	}
	if r := h.run; r != nil {
		st.UpstreamConnections++
		st.WindowEvents, st.WindowBytes, st.Position = len(r.win), r.bytes, r.pos
		if len(r.win) > 0 {
			st.WindowOldest = r.win[0].Position
		}
		end := r.endSeq()
		for _, next := range h.readers {
			if n := next.Load(); n < end {
				st.MaxLagEvents = max(st.MaxLagEvents, end-n)
			}
		}
	}
	return st
}

func (r *run) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// endSeq is the sequence number after the newest event of the window.
func (r *run) endSeq() uint64 { return r.firstSeq + uint64(len(r.win)) }

// seqAfter is the sequence number of the first event after pos.
func (r *run) seqAfter(pos uint64) uint64 {
	i := sort.Search(len(r.win), func(i int) bool { return r.win[i].Position > pos })
	return r.firstSeq + uint64(i)
}

func eventSize(e *backend.Event) int64 {
	n := 128 + len(e.Key) + len(e.Value) + len(e.Raw) + len(e.Command) + len(e.DB)
	for _, a := range e.Args {
		n += 24 + len(a)
	}
	return int64(n)
}

// Subscribe has the meaning of backend.Backend's Subscribe, served from the
// shared stream. The events handed to fn are shared with other subscribers
// and must not be modified.
func (h *Hub) Subscribe(ctx context.Context, opts backend.SubscribeOptions, fn func(backend.Update) error) error {
	return h.SubscribeBatch(ctx, opts, Consumer{Updates: func(ups []backend.Update) error {
		for _, u := range ups {
			if err := fn(u); err != nil {
				return err
			}
		}
		return nil
	}})
}

// Consumer receives the updates of SubscribeBatch.
type Consumer struct {
	// Updates receives the next updates, in order: as many as were ready
	// at once, so that a subscriber behind the newest change can send them
	// on together. The slice is reused once Updates returns.
	Updates func([]backend.Update) error
	// Wake, when it delivers, has the subscription call Idle between
	// updates, on the goroutine that calls Updates; a consumer that sends
	// progress reports on a timer sends them from there. Nil never wakes.
	Wake <-chan time.Time
	// Idle is called when Wake delivers.
	Idle func() error
}

// SubscribeBatch is Subscribe that hands over the updates ready together in
// one call, and runs Idle on the subscription's own goroutine when Wake
// delivers: one goroutine both receives and sends.
func (h *Hub) SubscribeBatch(ctx context.Context, opts backend.SubscribeOptions, c Consumer) error {
	sub, err := h.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer sub.Close()
	return sub.Run(ctx, c)
}

// Subscription is one subscriber of the hub, between Open and Close.
type Subscription struct {
	s     *sub
	opts  backend.SubscribeOptions
	close sync.Once
}

// errLeft ends Run once Close has been called.
var errLeft = fmt.Errorf("the subscription was closed: %w", backend.ErrUnavailable)

// Open checks opts and registers a subscriber, starting the shared stream
// for the first one. Run serves it; Close, which must follow, unregisters
// it.
func (h *Hub) Open(ctx context.Context, opts backend.SubscribeOptions) (*Subscription, error) {
	filter := opts.Filter
	if fc, ok := h.b.(backend.FilterChecker); ok {
		var err error
		if filter, err = fc.CheckFilter(ctx, filter); err != nil {
			return nil, err
		}
	}
	filter.NotOrigin = opts.ServerID
	if lp, ok := h.b.(backend.LogPositioner); ok && !opts.Now {
		if last := lp.LogPosition(); opts.After > last {
			return nil, fmt.Errorf("%s: subscribe after position %d: the newest change is at %d; resume from a position this backend gave: %w", h.b.Name(), opts.After, last, backend.ErrInvalid)
		}
	}
	if rc, ok := h.b.(backend.RetentionChecker); ok && !opts.Now && opts.After > 0 && !h.inWindow(opts.After) {
		// Checked before joining: the first subscriber's position starts
		// the shared stream, whose failure would end every subscriber.
		if err := rc.CheckRetained(ctx, opts.After); err != nil {
			return nil, err
		}
	}
	r, err := h.join(opts)
	if err != nil {
		return nil, err
	}
	return &Subscription{s: &sub{h: h, r: r, filter: filter}, opts: opts}, nil
}

// Run serves the subscription to c until ctx ends, the subscription fails,
// c returns an error or Close is called. Call it at most once.
func (sub *Subscription) Run(ctx context.Context, c Consumer) error {
	sub.s.c = c
	return sub.s.serve(ctx, sub.opts)
}

// Close unregisters the subscriber; the last one stops the shared stream
// and waits for it. It may be called from any goroutine, also while Run
// is blocked in the consumer (a client that stopped reading): the hub
// forgets the subscriber at once, and Run returns when the consumer does.
// Calls after the first do nothing.
func (sub *Subscription) Close() {
	sub.close.Do(func() {
		s, h := sub.s, sub.s.h
		h.mu.Lock()
		s.left = true
		delete(h.readers, s)
		// Wakes Run if it waits for changes; the others go back to wait.
		s.r.notify()
		h.mu.Unlock()
		h.leave(s.r)
	})
}

// inWindow reports whether the shared stream holds every event after pos
// in memory, so that the backend's retention does not matter for it. A
// stream that replays the log from 0 holds what the backend retained, which
// may start anywhere, until its window moves past its first event.
func (h *Hub) inWindow(pos uint64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.run
	return r != nil && r.started && r.err == nil && r.base > 0 && pos >= r.base
}

// join registers a subscriber, starting the shared stream for the first.
func (h *Hub) join(opts backend.SubscribeOptions) (*run, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	h.subs++
	if h.run == nil {
		ctx, cancel := context.WithCancel(context.Background())
		r := &run{cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
		if !opts.Now {
			r.started, r.base, r.pos, r.lastEvent = true, opts.After, opts.After, opts.After
		}
		h.run = r
		go h.read(ctx, r, opts)
	}
	return h.run, nil
}

// leave unregisters a subscriber; the last one stops the shared stream and
// waits for it, so that it never outlives its subscribers.
func (h *Hub) leave(r *run) {
	h.mu.Lock()
	h.subs--
	last := h.subs == 0 && h.run == r
	if last {
		h.run = nil
		r.cancel()
	}
	h.mu.Unlock()
	if last {
		<-r.done
	}
}

// read runs the shared stream until the run is cancelled, reopening it from
// its position when the backend gives up on it.
func (h *Hub) read(ctx context.Context, r *run, opts backend.SubscribeOptions) {
	defer close(r.done)
	backoff := h.opts.Backoff
	up := backend.SubscribeOptions{After: opts.After, Now: opts.Now}
	for {
		got := false
		err := h.b.Subscribe(ctx, up, func(u backend.Update) error {
			got = true
			h.publish(r, u)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		started, live, pos := r.started, r.live, r.pos
		h.mu.Unlock()
		transient := errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrTimeout)
		if !live || !transient || err == nil {
			h.fail(r, err)
			return
		}
		if got {
			backoff = h.opts.Backoff
		}
		if started {
			up = backend.SubscribeOptions{After: pos}
		}
		h.mu.Lock()
		h.reconns++
		h.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, h.opts.MaxBackoff)
	}
}

// fail ends the run's subscribers with err.
func (h *Hub) fail(r *run, err error) {
	if err == nil {
		err = fmt.Errorf("%s: the replication stream ended: %w", h.b.Name(), backend.ErrUnavailable)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.err = err
	r.notify()
}

// publish takes one update of the shared stream into the window.
func (h *Hub) publish(r *run, u backend.Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !r.started {
		r.started, r.base, r.pos = true, u.Position, u.Position
		if u.Event != nil {
			// The stream from now delivers every change after its start;
			// nothing lies between the start and its first event.
			r.base, r.pos = u.Position-1, u.Position-1
		}
		r.lastEvent = r.base
	}
	if u.Event != nil {
		if u.Event.Position <= r.lastEvent {
			return
		}
		r.lastEvent = u.Event.Position
		r.win = append(r.win, u.Event)
		r.bytes += eventSize(u.Event)
		for len(r.win) > h.opts.WindowEvents || r.bytes > h.opts.WindowBytes && len(r.win) > 1 {
			old := r.win[0]
			r.win[0] = nil
			r.win = r.win[1:]
			r.bytes -= eventSize(old)
			r.firstSeq++
			r.base = old.Position
		}
	} else {
		r.live = true
	}
	r.pos = max(r.pos, u.Position)
	h.wake(r)
}

// wake tells the subscribers of new updates, paced by WakeSpacing. It is
// called with h.mu held.
func (h *Hub) wake(r *run) {
	if r.wakeDue {
		return
	}
	now := time.Now()
	if gap := time.Duration(h.subs) * h.opts.WakeSpacing; gap > 0 {
		if wait := r.lastWake.Add(gap).Sub(now); wait > 0 {
			r.wakeDue = true
			time.AfterFunc(wait, func() {
				h.mu.Lock()
				defer h.mu.Unlock()
				r.wakeDue = false
				r.lastWake = time.Now()
				r.notify()
			})
			return
		}
	}
	r.lastWake = now
	r.notify()
}

// sub is one subscriber.
type sub struct {
	h      *Hub
	r      *run
	c      Consumer
	filter backend.Filter
	// out collects the updates for the next call of c.Updates.
	out []backend.Update
	// pos is the subscriber's position: every event up to it was handed
	// to fn or withheld by the filter.
	pos uint64
	// floor is the position the next event must exceed: the start, then
	// the last event's. It is kept apart from pos because a Kyoto Tycoon
	// master can send a NOP whose timestamp is above a record it sends
	// after it; that record must still be delivered.
	floor uint64
	// delivered is the position of the last update handed to fn.
	delivered uint64
	caughtUp  bool
	// left is set, under Hub.mu, when the subscription is closed.
	left bool
}

// errHandover stops a catch-up reader once the window covers its position.
var errHandover = errors.New("hand over to the window")

// errBehind hands a subscriber that has not caught up yet, and whose next
// event has left the window, back to a catch-up reader.
var errBehind = errors.New("behind the window")

func (s *sub) serve(ctx context.Context, opts backend.SubscribeOptions) error {
	h, r := s.h, s.r
	// Wait for the shared stream to know where it stands.
	h.mu.Lock()
	for !r.started && r.err == nil {
		ch := r.changed
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		h.mu.Lock()
	}
	if r.err != nil {
		err := r.err
		h.mu.Unlock()
		return err
	}
	var seq uint64
	switch {
	case opts.Now:
		s.pos, s.floor = r.pos, r.lastEvent
		seq = r.endSeq()
	case opts.After >= r.base:
		s.pos, s.floor = opts.After, opts.After
		seq = r.seqAfter(s.pos)
	default:
		s.pos, s.floor = opts.After, opts.After
		h.mu.Unlock()
		var err error
		if seq, err = s.catchUp(ctx); err != nil {
			return err
		}
		h.mu.Lock()
	}
	h.mu.Unlock()
	for {
		err := s.follow(ctx, seq)
		if !errors.Is(err, errBehind) {
			return err
		}
		// Still replaying, and the window moved past the next event (a
		// subscriber handed over at the window's oldest event meets this
		// at the next write): a catch-up reader takes it on again.
		var cerr error
		if seq, cerr = s.catchUp(ctx); cerr != nil {
			return cerr
		}
	}
}

// deliver takes one event for the consumer, or the progress past a
// withheld one.
func (s *sub) deliver(e *backend.Event) {
	if e.Position <= s.floor {
		return
	}
	s.floor = e.Position
	s.pos = max(s.pos, e.Position)
	if !s.filter.Match(e) {
		return
	}
	s.delivered = s.pos
	s.out = append(s.out, backend.Update{Position: s.pos, Event: e})
}

// flush hands the collected updates to the consumer.
func (s *sub) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	err := s.c.Updates(s.out)
	clear(s.out)
	s.out = s.out[:0]
	return err
}

// idle runs the consumer's Idle if its Wake has delivered.
func (s *sub) idle() error {
	select {
	case <-s.c.Wake:
		return s.c.Idle()
	default:
		return nil
	}
}

// progress tells the consumer the position, once caught up and whenever
// it moved.
func (s *sub) progress(pos uint64) {
	s.pos = max(s.pos, pos)
	if s.caughtUp && s.delivered >= s.pos {
		return
	}
	s.caughtUp, s.delivered = true, s.pos
	s.out = append(s.out, backend.Update{Position: s.pos})
}

// catchUp reads the log from s.pos on a reader of its own until the window
// covers its position, and returns the sequence number to go on from.
func (s *sub) catchUp(ctx context.Context) (uint64, error) {
	h, r := s.h, s.r
	select {
	case h.catchUp <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-h.catchUp }()
	h.mu.Lock()
	h.catchUps++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.catchUps--
		h.mu.Unlock()
	}()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var seq uint64
	err := h.b.Subscribe(cctx, backend.SubscribeOptions{After: s.pos}, func(u backend.Update) error {
		if u.Event != nil {
			s.deliver(u.Event)
			if err := s.flush(); err != nil {
				return err
			}
			if err := s.idle(); err != nil {
				return err
			}
		} else {
			s.pos = max(s.pos, u.Position)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		// Caught up with the log: the shared stream is about to reach the
		// same point, if it has not yet.
		for u.Event == nil && r.err == nil && r.live && s.pos > r.pos {
			ch := r.changed
			h.mu.Unlock()
			select {
			case <-ch:
			case <-cctx.Done():
			}
			h.mu.Lock()
			if cctx.Err() != nil {
				return cctx.Err()
			}
		}
		if r.err != nil {
			return r.err
		}
		// Once the shared stream has reached this position too, what
		// follows it is in the window (or still to come).
		if r.base <= s.pos && s.pos <= r.pos {
			// From the last event delivered: one the upstream sent after
			// a NOP with a higher timestamp is still in the window.
			seq = r.seqAfter(s.floor)
			return errHandover
		}
		return nil
	})
	if errors.Is(err, errHandover) {
		return seq, nil
	}
	if err == nil {
		err = fmt.Errorf("%s: the catch-up stream ended: %w", h.b.Name(), backend.ErrUnavailable)
	}
	return 0, err
}

// follow serves the subscriber from the window, from sequence number seq.
func (s *sub) follow(ctx context.Context, seq uint64) error {
	h, r := s.h, s.r
	next := new(atomic.Uint64)
	next.Store(seq)
	h.mu.Lock()
	if s.left {
		h.mu.Unlock()
		return errLeft
	}
	if h.readers == nil {
		h.readers = map[*sub]*atomic.Uint64{}
	}
	h.readers[s] = next
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.readers, s)
		h.mu.Unlock()
	}()
	for {
		next.Store(seq)
		h.mu.RLock()
		if r.err != nil || s.left {
			err := r.err
			h.mu.RUnlock()
			if err == nil {
				err = errLeft
			}
			return err
		}
		end := r.endSeq()
		// Behind the window, or (once it has caught up: a subscriber
		// reading the window from an older position is not slow) further
		// behind the newest event than its buffer.
		if seq < r.firstSeq && !s.caughtUp {
			h.mu.RUnlock()
			return errBehind
		}
		if seq < r.firstSeq || s.caughtUp && end-seq > uint64(h.opts.SubscriberBuffer) {
			h.mu.RUnlock()
			h.mu.Lock()
			h.slow++
			h.dropped += end - seq
			h.mu.Unlock()
			return fmt.Errorf("%s: the subscriber read too slowly and fell %d events behind (the limit is %d); resume with after=%d: %w",
				h.b.Name(), end-seq, h.opts.SubscriberBuffer, s.pos, backend.ErrExhausted)
		}
		// Filtered under the lock, so that the events taken need no copy
		// of their own.
		i := int(seq - r.firstSeq)
		took := r.win[i:min(len(r.win), i+readBatch)]
		for _, e := range took {
			seq++
			s.deliver(e)
		}
		n, live, pos, changed := len(took), r.live, r.pos, r.changed
		h.mu.RUnlock()
		if n == 0 && live {
			s.progress(pos)
		}
		if err := s.flush(); err != nil {
			return err
		}
		if n > 0 {
			// A consumer kept busy by a steady flow still gets its turn.
			if err := s.idle(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-s.c.Wake:
			if err := s.c.Idle(); err != nil {
				return err
			}
		}
	}
}
