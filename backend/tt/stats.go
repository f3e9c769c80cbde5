package tt

import "github.com/ktgrpc/ktgrpc/backend"

var _ backend.PoolReporter = (*Backend)(nil)

// BackendPoolStats reports the pool in the form the gateway's metrics read.
// The pool counts no discards.
func (b *Backend) BackendPoolStats() backend.PoolStats {
	s := b.pool.stats()
	return backend.PoolStats{
		Size:      cap(b.pool.slots),
		Open:      s.Open,
		Idle:      s.Idle,
		InUse:     max(s.Open-s.Idle, 0),
		Waits:     b.pool.waits.Load(),
		Dials:     s.Dials,
		Recovered: s.Recovered,
	}
}
