package kt

import "github.com/ktgrpc/ktgrpc/backend"

var _ backend.PoolReporter = (*Backend)(nil)

// BackendPoolStats reports the pool in the form the gateway's metrics read.
func (b *Backend) BackendPoolStats() backend.PoolStats {
	s := b.pool.stats()
	return backend.PoolStats{
		Size:      cap(b.pool.slots),
		Open:      s.Open,
		Idle:      s.Idle,
		InUse:     s.InUse,
		Waits:     b.pool.waits.Load(),
		Dials:     s.Dials,
		Discards:  s.Discards,
		Recovered: s.Recovered,
	}
}
