package ktwire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Update-log operation codes carried in replication messages.
const (
	OpSet    byte = 0xA1 // USET: key and the full internal value
	OpRemove byte = 0xA2 // UREMOVE: key
	OpClear  byte = 0xA5 // UCLEAR: no payload
)

// xtPrefixLen is the width of the absolute expiration that ordinary
// (non-persistent) databases put in front of every stored value.
const xtPrefixLen = 5

// xtPrefixNever is the 5-byte prefix value for "never expires".
const xtPrefixNever = 1<<40 - 1

// AppendReplicationRequest appends the 15-byte request that opens a
// replication stream: records with a timestamp strictly greater than ts are
// sent, except (without FlagWhiteSID) those that originated at sid.
func AppendReplicationRequest(dst []byte, flags uint32, ts uint64, sid uint16) []byte {
	dst = append(dst, MagicReplication)
	dst = appendU32(dst, flags)
	dst = appendU64(dst, ts)
	return appendU16(dst, sid)
}

// ReadReplicationAccept reads the master's answer to a replication request:
// nil for the acceptance byte, ErrServer when the master refuses (it has no
// update log).
func ReadReplicationAccept(r io.Reader) error {
	return readHeader(r, MagicReplication)
}

// FrameKind tells the frames of a replication stream apart.
type FrameKind int

// The frame kinds.
const (
	// FrameData carries one update-log message.
	FrameData FrameKind = iota + 1
	// FrameFiller is a size-0 record the master sends after withholding 256
	// records: it only advances the position.
	FrameFiller
	// FrameNOP says the master has nothing more for now; the client must
	// acknowledge it with NOPAck.
	FrameNOP
)

// NOPAck is the byte a client must send after every NOP.
const NOPAck = MagicReplication

// Frame is one frame of a replication stream.
type Frame struct {
	Kind    FrameKind
	TS      uint64
	Message []byte
}

// ReadFrame reads one replication frame. A clean end of stream before the
// frame starts gives io.EOF.
func ReadFrame(r io.Reader) (Frame, error) {
	var b [13]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return Frame{}, err
	}
	switch b[0] {
	case MagicNOP:
		if _, err := io.ReadFull(r, b[1:9]); err != nil {
			return Frame{}, unexpectedEOF(err)
		}
		return Frame{Kind: FrameNOP, TS: binary.BigEndian.Uint64(b[1:9])}, nil
	case MagicReplication:
		if _, err := io.ReadFull(r, b[1:13]); err != nil {
			return Frame{}, unexpectedEOF(err)
		}
		f := Frame{TS: binary.BigEndian.Uint64(b[1:9])}
		size := binary.BigEndian.Uint32(b[9:13])
		if size == 0 {
			f.Kind = FrameFiller
			return f, nil
		}
		msg, err := readBytes(r, size)
		if err != nil {
			return Frame{}, unexpectedEOF(err)
		}
		f.Kind, f.Message = FrameData, msg
		return f, nil
	default:
		return Frame{}, fmt.Errorf("%w: replication frame starts with 0x%02X", ErrProtocol, b[0])
	}
}

// AppendFrame appends a replication frame as the master sends it.
func AppendFrame(dst []byte, f Frame) []byte {
	if f.Kind == FrameNOP {
		return appendU64(append(dst, MagicNOP), f.TS)
	}
	dst = appendU64(append(dst, MagicReplication), f.TS)
	dst = appendU32(dst, uint32(len(f.Message)))
	return append(dst, f.Message...)
}

// Message is a decoded update-log message.
type Message struct {
	// SID is the id of the server where the change was first made.
	SID uint16
	// DB is the database index on that server.
	DB uint16
	// Op is the operation code (OpSet, OpRemove, OpClear, or an unknown
	// code that the server never emits today).
	Op byte
	// Key is set for OpSet and OpRemove.
	Key []byte
	// Value is the internal stored value for OpSet: on ordinary databases a
	// 5-byte absolute expiration followed by the user value (see SplitXT).
	Value []byte
}

// ParseMessage decodes an update-log message. Key and Value alias msg.
func ParseMessage(msg []byte) (Message, error) {
	if len(msg) < 5 {
		return Message{}, fmt.Errorf("%w: update-log message of %d bytes", ErrProtocol, len(msg))
	}
	m := Message{
		SID: binary.BigEndian.Uint16(msg[0:2]),
		DB:  binary.BigEndian.Uint16(msg[2:4]),
		Op:  msg[4],
	}
	rest := msg[5:]
	switch m.Op {
	case OpSet:
		ksiz, n1, err := ReadVarnum(rest)
		if err != nil {
			return Message{}, err
		}
		vsiz, n2, err := ReadVarnum(rest[n1:])
		if err != nil {
			return Message{}, err
		}
		body := rest[n1+n2:]
		if uint64(len(body)) != ksiz+vsiz || ksiz > uint64(len(body)) {
			return Message{}, fmt.Errorf("%w: USET lengths %d+%d do not match %d bytes", ErrProtocol, ksiz, vsiz, len(body))
		}
		m.Key, m.Value = body[:ksiz], body[ksiz:]
	case OpRemove:
		ksiz, n, err := ReadVarnum(rest)
		if err != nil {
			return Message{}, err
		}
		if uint64(len(rest)-n) != ksiz {
			return Message{}, fmt.Errorf("%w: UREMOVE length %d does not match %d bytes", ErrProtocol, ksiz, len(rest)-n)
		}
		m.Key = rest[n:]
	case OpClear:
		if len(rest) != 0 {
			return Message{}, fmt.Errorf("%w: UCLEAR with %d trailing bytes", ErrProtocol, len(rest))
		}
	}
	return m, nil
}

// AppendMessage encodes an update-log message (the inverse of ParseMessage
// for the three operations the server emits).
func AppendMessage(dst []byte, m Message) []byte {
	dst = appendU16(dst, m.SID)
	dst = appendU16(dst, m.DB)
	dst = append(dst, m.Op)
	switch m.Op {
	case OpSet:
		dst = AppendVarnum(dst, uint64(len(m.Key)))
		dst = AppendVarnum(dst, uint64(len(m.Value)))
		dst = append(dst, m.Key...)
		dst = append(dst, m.Value...)
	case OpRemove:
		dst = AppendVarnum(dst, uint64(len(m.Key)))
		dst = append(dst, m.Key...)
	}
	return dst
}

// SplitXT splits an internal stored value into its 5-byte absolute
// expiration and the user value. ok is false when v is too short to carry
// the prefix. xt is XTMax for "never".
func SplitXT(v []byte) (xt int64, user []byte, ok bool) {
	if len(v) < xtPrefixLen {
		return 0, v, false
	}
	var x int64
	for _, c := range v[:xtPrefixLen] {
		x = x<<8 | int64(c)
	}
	return x, v[xtPrefixLen:], true
}

// AppendXTPrefix appends the 5-byte absolute expiration of an internal value;
// values outside (0, XTMax) are written as "never".
func AppendXTPrefix(dst []byte, xt int64) []byte {
	if xt <= 0 || xt >= XTMax {
		xt = xtPrefixNever
	}
	return append(dst, byte(xt>>32), byte(xt>>24), byte(xt>>16), byte(xt>>8), byte(xt))
}

// AppendVarnum appends v in Kyoto Cabinet's variable-length form:
// big-endian base 128, the high bit set on every byte but the last.
func AppendVarnum(dst []byte, v uint64) []byte {
	var buf [10]byte
	i := len(buf) - 1
	buf[i] = byte(v & 0x7F)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		buf[i] = byte(v&0x7F) | 0x80
	}
	return append(dst, buf[i:]...)
}

// ReadVarnum decodes a varnum from the start of b and returns it with the
// number of bytes it took. Only the shortest form of a number that fits 64
// bits is accepted, the only one the server writes: a leading 0x80 byte or
// bits beyond 64 would otherwise decode to a number that re-encodes to other
// bytes, or silently wrap.
func ReadVarnum(b []byte) (uint64, int, error) {
	if len(b) > 0 && b[0] == 0x80 {
		return 0, 0, fmt.Errorf("%w: varnum with a leading zero group", ErrProtocol)
	}
	var v uint64
	for i, c := range b {
		if v>>57 != 0 {
			return 0, 0, fmt.Errorf("%w: varnum exceeds 64 bits", ErrProtocol)
		}
		v = v<<7 | uint64(c&0x7F)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: unterminated varnum", ErrProtocol)
}
