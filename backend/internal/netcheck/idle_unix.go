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
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	usable := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		usable = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true // never wait for readiness
	})
	return err == nil && usable
}
