// Package faultproxy is a loopback TCP proxy for tests that injects the
// failures a real network and a real server produce: a connection killed in
// the middle of a request, a request never answered, a wrong reply, a reply
// cut short or reset half way, a server that freezes (SIGSTOP) or goes down,
// added latency, every connection dropped at once (a restart). It stands
// between a client and a server of any protocol; it is not a server.
package faultproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kind is what an armed fault does to the next request.
type Kind int

// The faults Arm can set.
const (
	// Kill closes the connection instead of forwarding the request.
	Kill Kind = iota + 1
	// Swallow drops the request and keeps the connection open: the server
	// never answers, and the connection forwards nothing more.
	Swallow
	// Reply answers with Fault.Reply's bytes instead of the server, then
	// closes.
	Reply
	// Truncate forwards the request and passes the first Fault.N bytes of
	// the reply, then closes the connection.
	Truncate
	// Reset forwards the request and passes the first Fault.N bytes of the
	// reply, then resets the connection (RST, not FIN).
	Reset
)

// Fault is an armed fault. Hit is closed when it fired; Request then holds
// the request bytes it caught.
type Fault struct {
	Kind    Kind
	Reply   []byte
	N       int
	Hit     chan struct{}
	Request []byte
}

// Proxy forwards connections to a target. Create it with Start.
type Proxy struct {
	ln       net.Listener
	accepted atomic.Int64

	mu     sync.Mutex
	target string
	conns  map[*pair]struct{}
	fault  *Fault
	down   bool
	delay  time.Duration
	// frozen is non-nil while the proxy forwards nothing; closed by Thaw.
	frozen chan struct{}
}

type pair struct {
	client, server net.Conn
	// replyLimit, when set, is how many more reply bytes pass before the
	// connection is cut (closed, or reset when resetAfter).
	mu         sync.Mutex
	replyLimit int
	limited    bool
	resetAfter bool
}

func (c *pair) close() {
	c.client.Close()
	c.server.Close()
}

// Start listens on a loopback port and forwards to target until the test
// ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*pair]struct{}{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Thaw()
		p.DropAll()
	})
	return p
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted counts the connections forwarded so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Arm sets the fault for the next request on any connection and returns
// it. n is the reply bytes Truncate and Reset let through; reply is what
// Reply answers.
func (p *Proxy) Arm(kind Kind, reply []byte, n int) *Fault {
	f := &Fault{Kind: kind, Reply: reply, N: n, Hit: make(chan struct{})}
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
	return f
}

// Disarm removes a fault that has not fired.
func (p *Proxy) Disarm() {
	p.mu.Lock()
	p.fault = nil
	p.mu.Unlock()
}

// Retarget sends new connections to another server and drops the open
// ones: to the client, the server restarted.
func (p *Proxy) Retarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
	p.DropAll()
}

// DropAll closes every open connection, as a server restart would.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
}

// SetDown makes the proxy act as a stopped server: with down, open
// connections are dropped and new ones closed at once; the port stays
// taken.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.DropAll()
	}
}

// Freeze stops all forwarding, in both directions, on open and new
// connections, as a server stopped with SIGSTOP: connections stay open and
// nothing is answered until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen == nil {
		p.frozen = make(chan struct{})
	}
}

// Thaw ends Freeze: whatever was held back is forwarded.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen != nil {
		close(p.frozen)
		p.frozen = nil
	}
}

// SetDelay delays every forwarded chunk, in both directions, by d (0: no
// delay).
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// gate waits while the proxy is frozen and applies the delay. It reports
// false when the connection was dropped meanwhile.
func (p *Proxy) gate(c *pair) bool {
	p.mu.Lock()
	frozen, delay := p.frozen, p.delay
	_, open := p.conns[c]
	p.mu.Unlock()
	if !open {
		return false
	}
	if frozen != nil {
		<-frozen
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	return true
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target, down := p.target, p.down
		p.mu.Unlock()
		if down {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", target)
		if err != nil {
			client.Close()
			continue
		}
		p.accepted.Add(1)
		c := &pair{client: client, server: server}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.upstream(c)
		go p.downstream(c)
	}
}

func (p *Proxy) forget(c *pair) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// upstream copies requests to the server, applying an armed fault to the
// first chunk that arrives after it was armed.
func (p *Proxy) upstream(c *pair) {
	defer p.forget(c)
	buf := make([]byte, 64<<10)
	swallowing := false
	for {
		n, err := c.client.Read(buf)
		if err != nil {
			return
		}
		if !p.gate(c) {
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
			f.Request = append([]byte(nil), buf[:n]...)
			switch f.Kind {
			case Kill:
				close(f.Hit)
				return
			case Swallow:
				swallowing = true
				close(f.Hit)
				continue
			case Reply:
				_, _ = c.client.Write(f.Reply)
				close(f.Hit)
				return
			case Truncate, Reset:
				c.mu.Lock()
				c.limited, c.replyLimit, c.resetAfter = true, f.N, f.Kind == Reset
				c.mu.Unlock()
				close(f.Hit)
			}
		}
		if _, err := c.server.Write(buf[:n]); err != nil {
			return
		}
	}
}

// downstream copies replies to the client, cutting them where a Truncate
// or Reset fault says.
func (p *Proxy) downstream(c *pair) {
	defer p.forget(c)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.server.Read(buf)
		if err != nil {
			return
		}
		if !p.gate(c) {
			return
		}
		c.mu.Lock()
		limited, limit, reset := c.limited, c.replyLimit, c.resetAfter
		if limited {
			c.replyLimit = max(limit-n, 0)
		}
		c.mu.Unlock()
		if limited && n >= limit {
			_, _ = c.client.Write(buf[:limit])
			if tc, ok := c.client.(*net.TCPConn); ok && reset {
				_ = tc.SetLinger(0)
			}
			return
		}
		if _, err := c.client.Write(buf[:n]); err != nil {
			return
		}
	}
}
