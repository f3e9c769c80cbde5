package ktwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// replStreamSeeds returns what the master sent on every recorded
// replication connection, each starting with the acceptance byte: the
// replies to the request as recorded, and later reads (NOP acks, resumed
// reads) with the byte put in front.
func replStreamSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range golden.Load(f, "kt-replication.jsonl") {
		for _, s := range c.Steps {
			if s.HTTP || s.ExpectHex == "" || s.SendHex != "" && s.SendHex[:2] != "b1" {
				continue
			}
			b := golden.Hex(f, s.ExpectHex)
			if len(s.SendHex) != 30 { // not the 15-byte request
				b = append([]byte{MagicReplication}, b...)
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// replMessageSeeds returns every update-log message of the recorded
// streams.
func replMessageSeeds(f *testing.F) [][]byte {
	var msgs [][]byte
	for _, s := range replStreamSeeds(f) {
		r := bytes.NewReader(s[1:])
		for r.Len() > 0 {
			fr, err := ReadFrame(r)
			if err != nil {
				break
			}
			if fr.Kind == FrameData {
				msgs = append(msgs, fr.Message)
			}
		}
	}
	return msgs
}

// FuzzKTReplStream decodes arbitrary bytes as what a replication master
// sends: the acceptance byte, then NOPs, fillers and records.
func FuzzKTReplStream(f *testing.F) {
	ts := make([]byte, 8)
	addSeeds(f, append(replStreamSeeds(f),
		[]byte{},
		[]byte{MagicError},
		[]byte{MagicReplication, MagicNOP, 1, 2},
		[]byte{MagicReplication, 0x42},
		// A record of 4 GiB, one just within the limit with no data,
		// a filler, and one cut inside its header.
		cat([]byte{MagicReplication, MagicReplication}, ts, be32(0xFFFFFFFF)),
		cat([]byte{MagicReplication, MagicReplication}, ts, be32(MaxDataSize), []byte{0}),
		cat([]byte{MagicReplication, MagicReplication}, ts, be32(0), []byte{MagicNOP}, ts),
		cat([]byte{MagicReplication, MagicReplication}, ts[:5]),
	))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var err error
		allocmeter.Check(t, len(data), func() { err = ReadReplicationAccept(r) })
		if err != nil {
			checkReadErr(t, err, len(data) > 0)
			if len(data) > 0 && data[0] == MagicReplication || errors.Is(err, ErrServer) != (len(data) > 0 && data[0] == MagicError) {
				t.Fatalf("first byte %x: %v", data[:1], err)
			}
			return
		}
		for r.Len() > 0 {
			start := len(data) - r.Len()
			var fr Frame
			allocmeter.Check(t, r.Len(), func() { fr, err = ReadFrame(r) })
			if err != nil {
				if errors.Is(err, ErrServer) {
					t.Fatalf("frame at %d: ErrServer inside a stream", start)
				}
				checkReadErr(t, err, true)
				return
			}
			raw := data[start : len(data)-r.Len()]
			if re := AppendFrame(nil, fr); !bytes.Equal(re, raw) {
				t.Fatalf("frame %+v re-encoded %x, want %x", fr, re, raw)
			}
			switch fr.Kind {
			case FrameNOP, FrameFiller:
				if fr.Message != nil {
					t.Fatalf("%v frame with a message", fr.Kind)
				}
			case FrameData:
				if len(fr.Message) == 0 {
					t.Fatal("data frame without a message")
				}
				checkMessage(t, fr.Message)
			default:
				t.Fatalf("frame kind %v", fr.Kind)
			}
		}
	})
}

// FuzzKTReplMessage decodes arbitrary update-log messages, with their
// varnum sizes and the xt prefix of stored values.
func FuzzKTReplMessage(f *testing.F) {
	hdr := []byte{0, 1, 0, 0}
	addSeeds(f, append(replMessageSeeds(f),
		[]byte{},
		[]byte{0, 1, 0, 0},
		append(hdr, OpClear),
		append(hdr, OpClear, 0),
		append(hdr, OpRemove),
		append(hdr, 0x77, 1, 2, 3),
		// Sizes that overflow when added, sizes beyond the data, an
		// overlong and a non-minimal varnum, a value too short for the
		// xt prefix, prefixes of 0 and of "never".
		cat(hdr, []byte{OpSet}, AppendVarnum(nil, 1<<64-1), AppendVarnum(nil, 2), []byte("ab")),
		cat(hdr, []byte{OpSet}, AppendVarnum(nil, 1), AppendVarnum(nil, 1<<64-1), []byte("ab")),
		cat(hdr, []byte{OpSet, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}),
		cat(hdr, []byte{OpRemove, 0x80, 0x01, 'k'}),
		cat(hdr, []byte{OpSet, 1, 3, 'k', 0, 0}),
		cat(hdr, []byte{OpSet, 1, 6, 'k', 0, 0, 0, 0, 0, 'v'}),
		cat(hdr, []byte{OpSet, 1, 6, 'k', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 'v'}),
		cat(hdr, []byte{OpRemove, 5, 'k'}),
	))
	f.Fuzz(func(t *testing.T, msg []byte) {
		allocmeter.Check(t, len(msg), func() { checkMessage(t, msg) })
	})
}

// checkMessage decodes an update-log message and checks what a decoded one
// promises: the known operations encode back to the same bytes, and the xt
// prefix of a stored value encodes back too.
func checkMessage(t *testing.T, msg []byte) {
	t.Helper()
	m, err := ParseMessage(msg)
	if err != nil {
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("message %x: unclassified error %v", msg, err)
		}
		return
	}
	if m.SID != binary.BigEndian.Uint16(msg) || m.DB != binary.BigEndian.Uint16(msg[2:]) || m.Op != msg[4] {
		t.Fatalf("message %x: header read as %+v", msg, m)
	}
	switch m.Op {
	case OpSet, OpRemove, OpClear:
		if re := AppendMessage(nil, m); !bytes.Equal(re, msg) {
			t.Fatalf("message %x re-encoded %x", msg, re)
		}
	default:
		if m.Key != nil || m.Value != nil {
			t.Fatalf("message %x: unknown op 0x%02X decoded a key or value", msg, m.Op)
		}
	}
	if m.Op != OpSet {
		return
	}
	xt, user, ok := SplitXT(m.Value)
	if !ok {
		if len(m.Value) >= 5 {
			t.Fatalf("value %x: prefix not split", m.Value)
		}
		return
	}
	if xt < 0 || xt > XTMax || !bytes.Equal(user, m.Value[5:]) {
		t.Fatalf("value %x split as xt %d, user %x", m.Value, xt, user)
	}
	if XTTime(xt).IsZero() != (xt == 0 || xt == XTMax) {
		t.Fatalf("xt %d read as %v", xt, XTTime(xt))
	}
	// A zero prefix is no expiration the server writes; every other one
	// comes back as it was.
	if xt > 0 {
		if re := AppendXTPrefix(nil, xt); !bytes.Equal(re, m.Value[:5]) {
			t.Fatalf("xt %d re-encoded %x, want %x", xt, re, m.Value[:5])
		}
	}
}

// FuzzKTVarnum checks the varnum decoder both ways: what it accepts encodes
// back to the same bytes, and every 64-bit number survives a round trip.
func FuzzKTVarnum(f *testing.F) {
	addSeeds(f, [][]byte{
		{}, {0}, {0x7F}, {0x81, 0}, {0x82, 0x2C}, {0xFF, 0x7F}, {0x81, 0x80, 0},
		{0x80}, {0x80, 0x01}, {0x81, 0x82},
		AppendVarnum(nil, 1<<63),
		AppendVarnum(nil, 1<<64-1),
		// 2^64 and beyond must not wrap.
		{0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
		{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
		{0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := ReadVarnum(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || n != 0 {
				t.Fatalf("ReadVarnum(%x) = %d, %d, %v", b, v, n, err)
			}
		} else {
			if n < 1 || n > 10 || n > len(b) {
				t.Fatalf("ReadVarnum(%x) took %d bytes", b, n)
			}
			if re := AppendVarnum(nil, v); !bytes.Equal(re, b[:n]) {
				t.Fatalf("ReadVarnum(%x) = %d, which encodes as %x", b[:n], v, re)
			}
		}
		// And the other way: any 64-bit number survives a round trip,
		// whatever follows it.
		var w [8]byte
		copy(w[:], b)
		u := binary.BigEndian.Uint64(w[:])
		enc := AppendVarnum(nil, u)
		got, m, err := ReadVarnum(append(enc, b...))
		if err != nil || got != u || m != len(enc) {
			t.Fatalf("varnum %d encoded %x read back as %d, %d, %v", u, enc, got, m, err)
		}
	})
}
