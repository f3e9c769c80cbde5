package tt

import (
	"fmt"
	"io"
	"time"
)

// WaitIdleClosedForTest blocks until the server has closed the pool's
// newest idle connection, so that a test can rely on the pool seeing it
// dead without sleeping.
func (b *Backend) WaitIdleClosedForTest(d time.Duration) error {
	b.pool.mu.Lock()
	if len(b.pool.idle) == 0 {
		b.pool.mu.Unlock()
		return fmt.Errorf("no idle connection")
	}
	c := b.pool.idle[len(b.pool.idle)-1]
	b.pool.mu.Unlock()
	if err := c.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	var p [1]byte
	n, err := c.nc.Read(p[:])
	if n != 0 || err != io.EOF {
		return fmt.Errorf("idle connection: read %d bytes, %v", n, err)
	}
	return nil
}

// OnReplSessionForTest makes fn run whenever a replication session has
// received the master's opening NOP: the signal that a stream started,
// since that NOP is not reported.
func (b *Backend) OnReplSessionForTest(fn func()) { b.replSessionHook = fn }
