package kt

import "github.com/ktgrpc/ktgrpc/backend"

var _ backend.PoolReporter = (*Backend)(nil)

// BackendPoolStats reports the call pool and the cursor pool together, in
// the form the gateway's metrics read: both hold connections to the same
// server, and a cursor's late reply read in the background is as much a
// kept connection as a call's.
func (b *Backend) BackendPoolStats() backend.PoolStats {
	c, k := b.pool.Stats().Backend(), b.cursorPool.Stats().Backend()
	return backend.PoolStats{
		Size:      c.Size + k.Size,
		Open:      c.Open + k.Open,
		Idle:      c.Idle + k.Idle,
		InUse:     c.InUse + k.InUse,
		Waits:     c.Waits + k.Waits,
		Dials:     c.Dials + k.Dials,
		Discards:  c.Discards + k.Discards,
		Recovered: c.Recovered + k.Recovered,
	}
}
