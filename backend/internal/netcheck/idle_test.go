package netcheck

import (
	"net"
	"testing"
)

func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestIdle(t *testing.T) {
	client, _ := pair(t)
	if !Idle(client) {
		t.Error("a quiet open connection is not usable")
	}

	client, server := pair(t)
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Wait until the byte has arrived, by reading it through a second
	// peek-free path: a blocking read would consume it, so poll Idle with
	// a bounded number of attempts instead of sleeping.
	waitFor(t, func() bool { return !Idle(client) }, "a connection with unread bytes is still reported usable")

	client, server = pair(t)
	server.Close()
	waitFor(t, func() bool { return !Idle(client) }, "a connection closed by the peer is still reported usable")
}

// waitFor retries cond while the kernel delivers what the peer sent; each
// try is a non-blocking syscall, so the loop is bounded by count, not time.
func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for range 1_000_000 {
		if cond() {
			return
		}
	}
	t.Error(msg)
}
