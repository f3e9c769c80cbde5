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
	c, ok := b.pool.TakeIdle()
	if !ok {
		return fmt.Errorf("no idle connection")
	}
	defer func() {
		_ = c.NC.SetReadDeadline(time.Time{})
		b.pool.Put(c)
	}()
	if err := c.NC.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	var p [1]byte
	n, err := c.NC.Read(p[:])
	if n != 0 || err != io.EOF {
		return fmt.Errorf("idle connection: read %d bytes, %v", n, err)
	}
	return nil
}

// OnReplSessionForTest makes fn run whenever a replication session has
// received the master's opening NOP: the signal that a stream started,
// since that NOP is not reported.
func (b *Backend) OnReplSessionForTest(fn func()) { b.replSessionHook = fn }
