//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tt

import (
	"net"
	"syscall"
)

// alive peeks at an idle connection without blocking. An idle connection
// must have nothing to read: end-of-file means the server closed it, and
// bytes mean it is out of step. Either way it must not be used.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	healthy := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		healthy = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && healthy
}
