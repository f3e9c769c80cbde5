package tttest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
)

const (
	// magicBinary starts every binary request.
	magicBinary = 0xC8
	// maxArgSize bounds every length field (256 MiB, accepted).
	maxArgSize = 256 << 20
	// maxArgNum bounds mget's key count and misc's argument count.
	maxArgNum = 1 << 20
	// maxNameSize bounds ext and misc names, which must be shorter.
	maxNameSize = 1024
	// bigRead is the size above which a field is read in pieces, so that a
	// declared length does not allocate before the bytes arrive.
	bigRead = 64 << 10
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
	b, err := c.r.ReadByte()
	if err != nil {
		return false, err
	}
	if b != magicBinary {
		if err := c.r.UnreadByte(); err != nil {
			return false, err
		}
		return c.serveText()
	}
	cmd, err := c.r.ReadByte()
	if err != nil {
		return false, err
	}
	h, ok := binaryCommands[cmd]
	if !ok {
		return false, nil
	}
	return h(c)
}

// count increments a stat counter.
func (c *conn) count(i int) { c.s.counts[i].Add(1) }

// masked reports whether the server refuses binary command cmd.
func (c *conn) masked(cmd int) bool { return c.s.cfg.mask.has(cmd) }

func (c *conn) u32() (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// i32 reads a 32-bit field as TT does: unsigned on the wire, then kept in a
// C int, so values of 2^31 and above are negative.
func (c *conn) i32() (int32, error) {
	v, err := c.u32()
	return int32(v), err
}

func (c *conn) u64() (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// sizes reads n length fields.
func (c *conn) sizes(n int) ([]int32, error) {
	out := make([]int32, n)
	for i := range out {
		v, err := c.i32()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// validSize reports whether a length field is acceptable.
func validSize(n int32) bool { return n >= 0 && n <= maxArgSize }

// validSizes reports whether every length field is acceptable.
func validSizes(ns ...int32) bool {
	for _, n := range ns {
		if !validSize(n) {
			return false
		}
	}
	return true
}

// bytes reads an n-byte field. Large fields grow as the bytes arrive.
func (c *conn) bytes(n int32) ([]byte, error) {
	if n <= bigRead {
		b := make([]byte, n)
		_, err := io.ReadFull(c.r, b)
		return b, err
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, c.r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// fields reads one byte field per size, in order.
func (c *conn) fields(sizes ...int32) ([][]byte, error) {
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		b, err := c.bytes(n)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

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

// sendStatus sends the single status byte: 0 for ok, 1 otherwise.
func (c *conn) sendStatus(ok bool) (bool, error) {
	if ok {
		return c.send([]byte{0})
	}
	return c.send([]byte{1})
}

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// appendField appends a length-prefixed field.
func appendField(b, f []byte) []byte {
	return append(appendU32(b, uint32(len(f))), f...)
}
