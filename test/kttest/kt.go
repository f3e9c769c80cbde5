package kttest

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// xtMax is KT's XTMAX (2^40-1): an expiration at or above it means never.
const xtMax = 1<<40 - 1

// expiryOf converts a request xt the way KT does: xt >= 0 is seconds from
// now (whole seconds), xt < 0 the absolute epoch second -xt, and a result
// at or above xtMax never expires.
//
// A KT xt is the last second in which the record is still visible (it
// expires when now > xt), while the store hides a record from its expire
// time on; so the store gets the start of the next second.
func (s *Server) expiryOf(xt int64) backend.Expiry {
	var abs int64
	if xt >= 0 {
		abs = min(xt, math.MaxInt64/2) + s.now().Unix()
	} else {
		abs = -max(xt, math.MinInt64/2)
	}
	if abs >= xtMax {
		return backend.Expiry{}
	}
	return backend.Expiry{At: time.Unix(abs+1, 0)}
}

// xtOf is the inverse of expiryOf: the KT xt of a store expire time, xtMax
// for never.
func xtOf(expire time.Time) int64 {
	if expire.IsZero() {
		return xtMax
	}
	sec := expire.Unix()
	if expire.Nanosecond() > 0 {
		sec++
	}
	return min(sec-1, xtMax)
}

// counters are the cnt_* values of report.
type counters struct {
	set, setMisses, remove, removeMisses, get, getMisses, script, misc atomic.Int64
}

// tally adds one to hit when ok, else to miss.
func tally(hit, miss *atomic.Int64, ok bool) {
	if ok {
		hit.Add(1)
	} else {
		miss.Add(1)
	}
}

// signalHub holds the named conditions of WAIT and SIGNAL.
type signalHub struct {
	mu      sync.Mutex
	waiters map[string][]chan struct{}
}

func newSignalHub() *signalHub { return &signalHub{waiters: map[string][]chan struct{}{}} }

// wait registers a waiter on name; the returned channel closes when it is
// signalled. cancel removes a waiter that gave up.
func (h *signalHub) wait(name string) (ch chan struct{}, cancel func()) {
	ch = make(chan struct{})
	h.mu.Lock()
	h.waiters[name] = append(h.waiters[name], ch)
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := h.waiters[name]
		for i, w := range list {
			if w == ch {
				h.waiters[name] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(h.waiters[name]) == 0 {
			delete(h.waiters, name)
		}
	}
}

// signal wakes one waiter of name, or all of them when broadcast, and
// returns how many it woke.
func (h *signalHub) signal(name string, broadcast bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.waiters[name]
	n := len(list)
	if !broadcast {
		n = min(n, 1)
	}
	for _, ch := range list[:n] {
		close(ch)
	}
	if rest := list[n:]; len(rest) > 0 {
		h.waiters[name] = rest
	} else {
		delete(h.waiters, name)
	}
	return n
}
