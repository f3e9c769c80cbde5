package connpool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// listen starts a server that accepts connections and holds them open
// until the test ends.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

// A fresh connection is what a call asks for after a stale one failed. With
// every slot taken by idle connections it must not wait for a slot that
// nobody frees: an idle connection gives its slot up.
func TestFreshTakesAnIdleSlot(t *testing.T) {
	p := New(Config{Addr: listen(t), Size: 1, ConnectTimeout: 5 * time.Second})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := p.Get(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	p.Put(first)
	again, err := p.Get(ctx, false)
	if err != nil || again != first || !again.Reused {
		t.Fatalf("the idle connection was not reused: %v", err)
	}
	p.Put(again)
	fresh, err := p.Get(ctx, true)
	if err != nil {
		t.Fatalf("fresh connection with the only slot idle: %v", err)
	}
	if fresh == first || fresh.Reused {
		t.Error("fresh returned the idle connection")
	}
	if s := p.Stats(); s.Open != 1 || s.Idle != 0 || s.Dials != 2 || s.Discards != 0 {
		t.Errorf("stats: %+v", s)
	}
	if _, err := first.NC.Write([]byte{0}); err == nil {
		t.Error("the idle connection that gave up its slot is still open")
	}
	p.Put(fresh)
}

// A call that finds every connection in use waits, and the pool counts it.
func TestCountsWaits(t *testing.T) {
	p := New(Config{Addr: listen(t), Size: 1})
	defer p.Close()
	held, err := p.Get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Conn, 1)
	go func() {
		c, err := p.Get(t.Context(), false)
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	for p.Stats().Waits == 0 {
		runtime.Gosched()
	}
	p.Put(held)
	if c := <-got; c != held {
		t.Error("the waiting call did not get the connection handed back")
	}
	if st := p.Stats(); st.Waits != 1 || st.Dials != 1 || st.Open != 1 || st.InUse != 1 {
		t.Fatalf("stats after one wait: %+v", st)
	}
}

// A broken connection is closed on Put and its slot freed; after Close,
// Get fails with ErrClosed and connections handed back are closed.
func TestBrokenAndClose(t *testing.T) {
	p := New(Config{Addr: listen(t), Size: 2})
	c, err := p.Get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.Broken, c.PeerGone = true, true
	p.Put(c)
	if st := p.Stats(); st.Open != 0 || st.Discards != 1 || p.Lost() != 1 {
		t.Fatalf("after a broken Put: %+v lost %d", st, p.Lost())
	}
	c, err = p.Get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := p.DialStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Streams != 1 || st.Open != 1 {
		t.Fatalf("with a stream: %+v", st)
	}
	p.Close()
	if _, err := p.Get(t.Context(), false); err != ErrClosed {
		t.Fatalf("Get after Close: %v", err)
	}
	if _, err := nc.Write([]byte{0}); err == nil {
		t.Error("Close left a stream's connection open")
	}
	p.ReleaseStream(nc)
	p.Put(c)
	if st := p.Stats(); st.Open != 0 || st.Streams != 0 {
		t.Fatalf("after Close: %+v", st)
	}
}

// pipePool is a pool of one connection whose server end the test holds.
func pipePool(t *testing.T) (*Pool, *Conn, net.Conn) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { _ = server.Close() })
	p := New(Config{Addr: "pipe", Size: 1, Dial: func(context.Context, string, string) (net.Conn, error) {
		return client, nil
	}})
	t.Cleanup(p.Close)
	c, err := p.Get(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	return p, c, server
}

// RecoverThen hands the connection back to its holder, not to the pool,
// once the late reply was read, and says whether it was.
func TestRecoverThenHandsBack(t *testing.T) {
	p, c, server := pipePool(t)
	ended := make(chan bool, 1)
	p.RecoverThen(c, time.Minute, func(c *Conn) error {
		_, err := c.BR.ReadByte()
		return err
	}, func(ok bool) { ended <- ok })
	if _, err := server.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if ok := <-ended; !ok || c.Broken {
		t.Fatalf("a late reply read cleanly: ok=%v broken=%v", ok, c.Broken)
	}
	if s := p.Stats(); s.Recovered != 1 || s.InUse != 1 || s.Idle != 0 {
		t.Errorf("stats: %+v; want the connection recovered and still held", s)
	}
	// A reply that cannot be read leaves the connection Broken, for the
	// holder to Put.
	p.RecoverThen(c, time.Minute, func(c *Conn) error {
		_, err := c.BR.ReadByte()
		return err
	}, func(ok bool) { ended <- ok })
	_ = server.Close()
	if ok := <-ended; ok || !c.Broken {
		t.Fatalf("a lost late reply: ok=%v broken=%v", ok, c.Broken)
	}
	p.Put(c)
	if s := p.Stats(); s.Recovered != 1 || s.Open != 0 || s.Discards != 1 {
		t.Errorf("stats: %+v; want the connection discarded", s)
	}
}

// cut ends a read whose reply does not come, at once, as a failure.
func TestRecoverThenCut(t *testing.T) {
	p, c, _ := pipePool(t)
	ended := make(chan bool, 1)
	cut := p.RecoverThen(c, time.Hour, func(c *Conn) error {
		_, err := c.BR.ReadByte()
		return err
	}, func(ok bool) { ended <- ok })
	cut()
	if ok := <-ended; ok || !c.Broken {
		t.Fatalf("a cut read: ok=%v broken=%v", ok, c.Broken)
	}
	p.Put(c)
	if s := p.Stats(); s.Recovered != 0 || s.Open != 0 {
		t.Errorf("stats: %+v; want the connection closed", s)
	}
}

// deadlineRequest fails before a byte leaves, as a write does when the
// call's deadline passes first.
type deadlineRequest struct{ tries int }

func (r *deadlineRequest) Exchange(context.Context, *Conn) (bool, error) {
	r.tries++
	return false, fmt.Errorf("write: %w", os.ErrDeadlineExceeded)
}
func (r *deadlineRequest) Drain(*Conn) error { return nil }
func (r *deadlineRequest) HasReply() bool    { return true }

// A request whose deadline passed before it was written failed because of
// the deadline, not because its reused connection had gone stale: the
// socket's deadline can fire a moment before the context's, so the context
// alone cannot tell. It is not sent again on a new connection, and the
// connection it had stays in the pool.
func TestDeadlineIsNotStale(t *testing.T) {
	p := New(Config{Addr: listen(t), Size: 1, ConnectTimeout: 5 * time.Second})
	defer p.Close()
	ctx := t.Context()
	c, err := p.Get(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	p.Put(c) // the next Get reuses it
	r := &deadlineRequest{}
	if err := p.Do(ctx, time.Time{}, true, time.Second, r); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Do = %v, want the deadline error", err)
	}
	if r.tries != 1 {
		t.Errorf("the request was tried %d times, want once", r.tries)
	}
	if s := p.Stats(); s.Dials != 1 || s.Open != 1 || s.Idle != 1 {
		t.Errorf("stats: %+v; want the one connection kept", s)
	}
}
