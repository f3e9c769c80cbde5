package tttest

import (
	"bufio"
	"errors"
	"net"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// errClose ends the connection at once, whatever is buffered.
var errClose = errors.New("tttest: close the connection")

// conn is one client connection. Like ttserver, it runs one task (request)
// after another. A task reports keep=true once it has sent a reply (or is a
// putnr); after a task the connection goes on while bytes are buffered, and
// otherwise closes unless the last task kept it. So a malformed request
// closes the connection only when nothing follows it in the buffer: the
// rest is parsed as the next request, possibly as a text line.
type conn struct {
	s  *Server
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
}

func (c *conn) serve() {
	for {
		// A request takes a worker once its first byte arrives, as in
		// ttserver, where an idle connection waits in the poller.
		if _, err := c.r.Peek(1); err != nil {
			return
		}
		if !c.s.workers.Take(c.s.ctx) {
			return
		}
		keep, err := c.task()
		c.s.workers.Release()
		if err != nil {
			return
		}
		if c.r.Buffered() > 0 {
			continue
		}
		if !keep {
			return
		}
	}
}

// task runs one request. keep reports whether it was answered; err ends the
// connection at once (a read or write failure, or errClose).
func (c *conn) task() (keep bool, err error) {
	b, err := c.r.Peek(1)
	if err != nil {
		return false, err
	}
	if b[0] != ttwire.Magic {
		return c.serveText()
	}
	return c.serveBinary()
}

// count increments a stat counter.
func (c *conn) count(i int) { c.s.counts[i].Add(1) }

// seqs maps each command to its sequence number.
var seqs = func() map[ttwire.Command]int {
	m := map[ttwire.Command]int{}
	for i, cmd := range ttwire.Commands() {
		m[cmd] = i
	}
	return m
}()

// seq returns a command's sequence number: its stat counter and mask bit.
func seq(cmd ttwire.Command) int { return seqs[cmd] }

// masked reports whether the server refuses binary command cmd.
func (c *conn) masked(cmd ttwire.Command) bool { return c.s.cfg.mask.has(seq(cmd)) }

// send writes a reply; keep is true once it is out.
func (c *conn) send(b []byte) (keep bool, err error) {
	if _, err := c.w.Write(b); err != nil {
		return false, err
	}
	if err := c.w.Flush(); err != nil {
		return false, err
	}
	return true, nil
}

// reply sends a successful reply to cmd.
func (c *conn) reply(cmd ttwire.Command, rep *ttwire.Reply) (bool, error) {
	b, err := ttwire.AppendReply(c.w.AvailableBuffer(), cmd, rep)
	if err != nil {
		return false, err
	}
	return c.send(b)
}

// status sends the reply of a command that succeeded (ok) or failed with
// nothing more to say: the status byte alone, or for misc a failure with no
// elements.
func (c *conn) status(cmd ttwire.Command, ok bool) (bool, error) {
	rep := ttwire.Reply{Status: ttwire.StatusFailed}
	if ok {
		rep.Status = ttwire.StatusOK
	}
	return c.reply(cmd, &rep)
}
