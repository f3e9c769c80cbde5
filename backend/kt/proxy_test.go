package kt

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// faultProxy forwards TCP connections to a KT server and injects the
// failures a real network produces, on demand: a connection killed in the
// middle of a request, a server that never answers, an error reply
// followed by a close, or every connection dropped at once. It stands
// between the adapter and a real or test server; it is not a KT server.
type faultProxy struct {
	t  testing.TB
	ln net.Listener

	accepted atomic.Int64

	mu     sync.Mutex
	target string
	conns  map[*proxyConn]struct{}
	// fault applies to the next chunk of request bytes on any connection.
	fault *fault
}

type proxyConn struct{ client, server net.Conn }

func (c *proxyConn) close() {
	c.client.Close()
	c.server.Close()
}

// faultKind is what happens to the next request.
type faultKind int

const (
	// faultKill closes the connection instead of forwarding the request.
	faultKill faultKind = iota + 1
	// faultSwallow drops the request and keeps the connection open: the
	// server never answers.
	faultSwallow
	// faultReply answers with fixed bytes, then closes.
	faultReply
)

type fault struct {
	kind  faultKind
	reply []byte
	// hit is closed when the fault fired, with the request it caught.
	hit     chan struct{}
	request []byte
}

func startProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, target: target, conns: map[*proxyConn]struct{}{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.dropAll()
	})
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

// arm sets the fault for the next request and returns it; its hit channel
// closes when it fires.
func (p *faultProxy) arm(kind faultKind, reply []byte) *fault {
	f := &fault{kind: kind, reply: reply, hit: make(chan struct{})}
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
	return f
}

// retarget sends new connections to another server and drops the open
// ones: to the client, the server restarted.
func (p *faultProxy) retarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
	p.dropAll()
}

// dropAll closes every open connection, as a server restart would.
func (p *faultProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
}

func (p *faultProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		server, err := net.Dial("tcp", target)
		if err != nil {
			client.Close()
			continue
		}
		p.accepted.Add(1)
		c := &proxyConn{client: client, server: server}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.upstream(c)
		go func() {
			_, _ = io.Copy(client, server)
			p.forget(c)
		}()
	}
}

func (p *faultProxy) forget(c *proxyConn) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// upstream copies requests to the server, applying an armed fault to the
// first chunk that arrives after it was armed.
func (p *faultProxy) upstream(c *proxyConn) {
	defer p.forget(c)
	buf := make([]byte, 64<<10)
	swallowing := false
	for {
		n, err := c.client.Read(buf)
		if err != nil {
			return
		}
		if swallowing {
			continue
		}
		p.mu.Lock()
		f := p.fault
		p.fault = nil
		p.mu.Unlock()
		if f != nil {
			f.request = append([]byte(nil), buf[:n]...)
			switch f.kind {
			case faultKill:
				close(f.hit)
				return
			case faultSwallow:
				swallowing = true
				close(f.hit)
				continue
			case faultReply:
				_, _ = c.client.Write(f.reply)
				close(f.hit)
				return
			}
		}
		if _, err := c.server.Write(buf[:n]); err != nil {
			return
		}
	}
}
