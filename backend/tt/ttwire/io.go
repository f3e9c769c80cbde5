package ttwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ErrProtocol marks bytes that do not follow the protocol: an unknown
// command, a length the server would reject, a reply that cannot be parsed.
// A connection that produced it is out of step and must be discarded.
var ErrProtocol = errors.New("tokyo tyrant protocol error")

// ErrNotBinary is returned by ReadRequest when the first byte is not Magic;
// the server would read such input as a memcached or HTTP text line.
var ErrNotBinary = fmt.Errorf("%w: first byte is not 0xC8", ErrProtocol)

// SizeError reports a length or count outside what the server accepts.
type SizeError struct {
	Cmd   Command
	Field string
	Size  int64
	Max   int64
}

// Error describes the field and its size.
func (e *SizeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("%s: %s is negative (%d)", e.Cmd, e.Field, e.Size)
	}
	return fmt.Sprintf("%s: %s %d exceeds the server's limit of %d", e.Cmd, e.Field, e.Size, e.Max)
}

// Is makes a SizeError match ErrProtocol.
func (e *SizeError) Is(target error) bool { return target == ErrProtocol }

// readChunk bounds each allocation while reading a length-prefixed field, so
// that a corrupt length fails at the end of the stream instead of
// allocating gigabytes up front.
const readChunk = 64 << 10

// rd reads big-endian fields. started tells whether any byte of the current
// message was consumed, which turns a clean EOF into io.ErrUnexpectedEOF.
type rd struct {
	r       io.Reader
	buf     [8]byte
	started bool
}

func (d *rd) full(p []byte) error {
	n, err := io.ReadFull(d.r, p)
	if n > 0 {
		d.started = true
	}
	if err == io.EOF && d.started {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *rd) u8() (byte, error) {
	if err := d.full(d.buf[:1]); err != nil {
		return 0, err
	}
	return d.buf[0], nil
}

func (d *rd) u32() (uint32, error) {
	if err := d.full(d.buf[:4]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(d.buf[:4]), nil
}

func (d *rd) i32() (int32, error) {
	v, err := d.u32()
	return int32(v), err
}

func (d *rd) u64() (uint64, error) {
	if err := d.full(d.buf[:8]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(d.buf[:8]), nil
}

func (d *rd) i64() (int64, error) {
	v, err := d.u64()
	return int64(v), err
}

// bytes reads n bytes, growing the buffer as data arrives.
func (d *rd) bytes(n int) ([]byte, error) {
	if n == 0 {
		return []byte{}, nil
	}
	if n <= readChunk {
		p := make([]byte, n)
		return p, d.full(p)
	}
	p := make([]byte, 0, readChunk)
	for len(p) < n {
		if len(p) == cap(p) {
			p = slices.Grow(p, min(n-len(p), cap(p)))
		}
		step := min(n-len(p), cap(p)-len(p))
		if err := d.full(p[len(p) : len(p)+step]); err != nil {
			return nil, err
		}
		p = p[:len(p)+step]
	}
	return p, nil
}

// size reads a 32-bit length and checks it against limit.
func (d *rd) size(cmd Command, field string, limit int64) (int, error) {
	v, err := d.i32()
	if err != nil {
		return 0, err
	}
	if v < 0 || int64(v) > limit {
		return 0, &SizeError{Cmd: cmd, Field: field, Size: int64(v), Max: limit}
	}
	return int(v), nil
}

// eofErr keeps io.EOF and io.ErrUnexpectedEOF recognisable while adding the
// command for context.
func eofErr(cmd Command, what string, err error) error {
	if err == nil {
		return nil
	}
	var se *SizeError
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%s %s: %w", cmd, what, err)
}

func appendU32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }
func appendU64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

func checkSize(cmd Command, field string, n int, limit int) error {
	if n > limit {
		return &SizeError{Cmd: cmd, Field: field, Size: int64(n), Max: int64(limit)}
	}
	return nil
}

// ReadN reads exactly n bytes, committing memory only as the bytes arrive,
// so that a declared length cannot make the reader allocate it up front.
// The text protocols' data blocks, whose framing is a length on a text
// line, are read with it.
func ReadN(r io.Reader, n int) ([]byte, error) {
	d := &rd{r: r}
	return d.bytes(n)
}
