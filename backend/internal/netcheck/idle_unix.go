//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package netcheck

import (
	"errors"
	"net"
	"syscall"
)

// Idle peeks at a connection without blocking and reports whether it is
// still usable. An idle connection must have nothing to read: end of stream
// means the server closed it, and bytes mean it is out of step with its
// requests. Either way it must not carry another request.
func Idle(nc net.Conn) bool {
	var p Prober
	return p.Idle(nc)
}

// Prober is Idle for one connection, checked many times: it keeps the
// connection's raw handle rather than asking for it at every check. The
// zero value is ready; it must be used with one connection only.
type Prober struct {
	rc syscall.RawConn
	// peek is p's probe, made once; usable is its answer.
	peek   func(fd uintptr) bool
	usable bool
	// plain is set for a connection that offers no raw handle.
	plain bool
}

// Idle is the package's Idle for nc.
func (p *Prober) Idle(nc net.Conn) bool {
	if p.plain {
		return true
	}
	if p.rc == nil {
		sc, ok := nc.(syscall.Conn)
		if !ok {
			p.plain = true
			return true
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		p.rc = rc
		p.peek = func(fd uintptr) bool {
			var b [1]byte
			_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			p.usable = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
			return true // never wait for readiness
		}
	}
	p.usable = false
	err := p.rc.Read(p.peek)
	return err == nil && p.usable
}
