package ttwire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// The fuzz targets of this package feed server-side bytes to the decoders.
// Each one checks that a decoder never panics, never commits memory on the
// word of a length field before the bytes exist, fails only with errors
// that callers can classify, and that what it accepts encodes back to the
// bytes it consumed. `go test` runs them over their seeds (the golden
// captures, hand-made edge cases and testdata/fuzz); `go test -fuzz` searches
// further.

// checkReadErr fails t unless err is one a caller can act on: a protocol
// violation or a stream that ended inside a reply. A clean io.EOF is allowed
// only when nothing was read.
func checkReadErr(t *testing.T, err error, consumedAny bool) {
	t.Helper()
	switch {
	case errors.Is(err, ttwire.ErrProtocol), errors.Is(err, io.ErrUnexpectedEOF):
	case errors.Is(err, io.EOF) && !consumedAny:
	default:
		t.Fatalf("unclassified error %T: %v", err, err)
	}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// replySeeds returns, for every recorded request that has a reply, its
// command and the reply bytes from that reply on.
func replySeeds(f *testing.F) (cmds []ttwire.Command, replies [][]byte) {
	for _, c := range golden.Load(f, "tt-binary.jsonl") {
		for _, s := range c.Steps {
			if s.HTTP || s.SendHex == "" || s.ExpectHex == "" {
				continue
			}
			in := bytes.NewReader(golden.Hex(f, s.SendHex))
			exp := golden.Hex(f, s.ExpectHex)
			out := bytes.NewReader(exp)
			for in.Len() > 0 && out.Len() > 0 {
				req, err := ttwire.ReadRequest(in)
				if err != nil {
					break
				}
				if !ttwire.HasReply(req.Cmd) {
					continue
				}
				cmds = append(cmds, req.Cmd)
				replies = append(replies, exp[len(exp)-out.Len():])
				if _, err := ttwire.ReadReply(out, req.Cmd); err != nil {
					break
				}
			}
		}
	}
	return cmds, replies
}

// FuzzTTReply decodes arbitrary bytes as the reply to any command byte.
func FuzzTTReply(f *testing.F) {
	seen := map[string]bool{}
	add := func(cmd ttwire.Command, b []byte) {
		k := string(rune(cmd)) + string(b)
		if !seen[k] {
			seen[k] = true
			f.Add(byte(cmd), b)
		}
	}
	cmds, replies := replySeeds(f)
	for i := range cmds {
		add(cmds[i], replies[i])
	}
	for _, cmd := range ttwire.Commands() {
		for _, b := range [][]byte{
			{}, {ttwire.StatusOK}, {ttwire.StatusFailed}, {2}, {ttwire.StatusOK, 0, 0},
			// Counts and sizes: negative, 2 GiB - 1 with no data, just
			// above the 64 KiB read chunk, and a failed misc with elements.
			cat([]byte{ttwire.StatusOK}, be32(0xFFFFFFFF)),
			cat([]byte{ttwire.StatusOK}, be32(0x7FFFFFFF)),
			cat([]byte{ttwire.StatusOK}, be32(0x80000000)),
			cat([]byte{ttwire.StatusOK}, be32(64<<10+1), []byte("x")),
			cat([]byte{ttwire.StatusOK}, be32(1), be32(0x7FFFFFFF), be32(0)),
			cat([]byte{ttwire.StatusOK}, be32(1), be32(0), be32(0xFFFFFFFF)),
			cat([]byte{ttwire.StatusOK}, be32(2), be32(1), []byte("k"), be32(0)),
			cat([]byte{ttwire.StatusFailed}, be32(1), be32(1), []byte("e")),
			cat([]byte{ttwire.StatusOK}, be32(1), be32(15), []byte("\x00\x00[[HINT]]\nab")),
			cat([]byte{ttwire.StatusOK}, be32(1), be32(9), []byte("\x00k\x00c\x00v\x00x\x00")),
		} {
			add(cmd, b)
		}
	}
	add(ttwire.CmdStat, cat([]byte{ttwire.StatusOK}, be32(16), []byte("a\tb\nno tab\n\tc\n")))
	f.Fuzz(func(t *testing.T, cmdByte byte, data []byte) {
		cmd := ttwire.Command(cmdByte)
		r := bytes.NewReader(data)
		var rep *ttwire.Reply
		var err error
		allocmeter.Check(t, len(data), func() { rep, err = ttwire.ReadReply(r, cmd) })
		if !ttwire.HasReply(cmd) {
			if err == nil || !errors.Is(err, ttwire.ErrProtocol) || r.Len() != len(data) {
				t.Fatalf("%s has no reply, but ReadReply gave %+v, %v", cmd, rep, err)
			}
			return
		}
		if err != nil {
			checkReadErr(t, err, len(data) > 0)
			return
		}
		if rep.Status != ttwire.StatusOK && rep.Status != ttwire.StatusFailed {
			t.Fatalf("%s: status 0x%02X accepted", cmd, rep.Status)
		}
		raw := data[:len(data)-r.Len()]
		enc, err := ttwire.AppendReply(nil, cmd, rep)
		if err != nil || !bytes.Equal(enc, raw) {
			t.Fatalf("%s reply %+v re-encoded (%v)\n%x\nwant\n%x", cmd, rep, err, enc, raw)
		}
		switch cmd {
		case ttwire.CmdStat:
			allocmeter.Check(t, len(rep.Value), func() { ttwire.ParseStat(rep.Value) })
		case ttwire.CmdAddDouble:
			if rep.OK() {
				checkDouble(t, rep.Double)
			}
		case ttwire.CmdMisc:
			// Search results: keys, records (columns) and the hint.
			for _, e := range rep.Elems {
				ttwire.IsHint(e)
				checkColumns(t, e)
			}
		}
	})
}

// FuzzTTAddDouble reads every possible adddouble number off the wire.
func FuzzTTAddDouble(f *testing.F) {
	for _, d := range []ttwire.Double{
		ttwire.PackDouble(2.5), ttwire.PackDouble(-1.5), ttwire.PackDouble(0.1), ttwire.PackDouble(-0.25),
		ttwire.PackDouble(math.NaN()), ttwire.PackDouble(math.Inf(1)), ttwire.PackDouble(math.Inf(-1)),
		ttwire.PackDouble(1e18), ttwire.PackDouble(-9.2e18), ttwire.PackDouble(math.SmallestNonzeroFloat64),
		{Integ: 0, Fract: math.MaxInt64}, {Integ: math.MaxInt64 - 1, Fract: 999_999_999_999},
		{Integ: math.MinInt64, Fract: 1}, {Integ: 1, Fract: -3_000_000_000_000}, {Integ: -1, Fract: 1},
	} {
		f.Add(d.Integ, d.Fract)
	}
	cmds, replies := replySeeds(f)
	for i, cmd := range cmds {
		if cmd == ttwire.CmdAddDouble && len(replies[i]) >= 17 && replies[i][0] == ttwire.StatusOK {
			f.Add(int64(binary.BigEndian.Uint64(replies[i][1:])), int64(binary.BigEndian.Uint64(replies[i][9:])))
		}
	}
	f.Fuzz(func(t *testing.T, integ, fract int64) {
		wire := binary.BigEndian.AppendUint64([]byte{ttwire.StatusOK}, uint64(integ))
		wire = binary.BigEndian.AppendUint64(wire, uint64(fract))
		rep, err := ttwire.ReadReply(bytes.NewReader(wire), ttwire.CmdAddDouble)
		if err != nil || rep.Double != (ttwire.Double{Integ: integ, Fract: fract}) {
			t.Fatalf("adddouble reply %x read as %+v, %v", wire, rep, err)
		}
		checkDouble(t, rep.Double)
	})
}

// checkDouble checks how a number off the wire is read: the reserved forms
// and only they give NaN and the infinities, and a finite result packs back
// to its own integer part and to itself within the fraction's resolution.
func checkDouble(t *testing.T, d ttwire.Double) {
	t.Helper()
	v := d.Float64()
	switch {
	case d.Integ == math.MinInt64 && d.Fract == math.MinInt64:
		if !math.IsNaN(v) {
			t.Fatalf("%+v: the NaN form read as %v", d, v)
		}
		return
	case d.Integ == math.MaxInt64:
		if !math.IsInf(v, 1) {
			t.Fatalf("%+v: the +Inf form read as %v", d, v)
		}
		return
	case d.Integ == math.MinInt64:
		if !math.IsInf(v, -1) {
			t.Fatalf("%+v: the -Inf form read as %v", d, v)
		}
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("%+v read as %v", d, v)
	}
	if !ttwire.FitsDouble(v) {
		return // an integer part near 2^63 plus a fraction can round past it
	}
	p := ttwire.PackDouble(v)
	if p.Integ != int64(math.Trunc(v)) {
		t.Fatalf("%+v = %v packs to %+v", d, v, p)
	}
	ulp := math.Nextafter(math.Abs(v), math.Inf(1)) - math.Abs(v)
	if diff := math.Abs(p.Float64() - v); diff > 1/ttwire.FractScale+2*ulp {
		t.Fatalf("%+v = %v packs to %+v = %v, off by %g", d, v, p, p.Float64(), diff)
	}
}
