//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package kt

import (
	"errors"
	"net"
	"syscall"
)

// connAlive peeks at the socket without blocking: a readable end of stream
// means the server closed the idle connection, and unexpected bytes mean it
// is out of step. Either way the connection must not carry a request.
func connAlive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true // never wait for readiness
	})
	return err == nil && alive
}
