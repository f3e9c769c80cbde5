package tt

import "github.com/ktgrpc/ktgrpc/backend"

var _ backend.PoolReporter = (*Backend)(nil)

// BackendPoolStats reports the pool in the form the gateway's metrics read.
func (b *Backend) BackendPoolStats() backend.PoolStats { return b.pool.Stats().Backend() }
