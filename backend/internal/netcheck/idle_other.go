//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package netcheck

import "net"

// Idle cannot peek at sockets on this platform and reports every connection
// usable; a stale one shows up as a failed request instead, which idempotent
// reads retry once.
func Idle(net.Conn) bool { return true }

// Prober is Idle for one connection.
type Prober struct{}

// Idle is the package's Idle.
func (*Prober) Idle(net.Conn) bool { return true }
