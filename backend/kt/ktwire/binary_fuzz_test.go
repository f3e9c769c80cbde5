package ktwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

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

// checkReadErr fails t unless err is one a caller can act on: the server's
// error byte, a protocol violation, or a stream that ended inside a reply.
// A clean io.EOF is allowed only when nothing was read.
func checkReadErr(t *testing.T, err error, consumedAny bool) {
	t.Helper()
	switch {
	case errors.Is(err, ErrServer), errors.Is(err, ErrProtocol), errors.Is(err, io.ErrUnexpectedEOF):
	case err == io.EOF && !consumedAny:
	default:
		t.Errorf("unclassified error %T: %v", err, err)
	}
}

// be32 is a big-endian uint32, for hand-made seeds.
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// cat concatenates byte slices, for hand-made seeds.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// addSeeds adds each distinct seed once.
func addSeeds(f *testing.F, seeds [][]byte) {
	seen := map[string]bool{}
	for _, s := range seeds {
		if !seen[string(s)] {
			seen[string(s)] = true
			f.Add(s)
		}
	}
}

// binaryReplySeeds returns the recorded binary replies: every expect_hex of
// kt-binary.jsonl outside HTTP steps.
func binaryReplySeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range golden.Load(f, "kt-binary.jsonl") {
		for _, s := range c.Steps {
			if s.HTTP || s.ExpectHex == "" {
				continue
			}
			seeds = append(seeds, golden.Hex(f, s.ExpectHex))
		}
	}
	return seeds
}

// FuzzKTBinaryReply decodes arbitrary bytes as a stream of binary replies
// (set_bulk, remove_bulk, get_bulk, play_script, the error byte).
func FuzzKTBinaryReply(f *testing.F) {
	max32 := be32(0xFFFFFFFF)
	addSeeds(f, append(binaryReplySeeds(f),
		[]byte{},
		[]byte{MagicError},
		[]byte{0x00},
		[]byte{MagicSetBulk, 0, 0},
		[]byte{MagicRemoveBulk, 0, 0, 0, 1},
		// get_bulk: a huge record count with no record, a record whose
		// key size is 4 GiB, one whose value size is just within the
		// protocol's limit, a truncated header.
		cat([]byte{MagicGetBulk}, max32),
		cat([]byte{MagicGetBulk}, be32(1), []byte{0, 0}, max32, be32(0), make([]byte, 8)),
		cat([]byte{MagicGetBulk}, be32(1), []byte{0, 0}, be32(1), be32(MaxDataSize), make([]byte, 8), []byte("k")),
		cat([]byte{MagicGetBulk}, be32(2), []byte{0, 0, 0}),
		cat([]byte{MagicGetBulk}, be32(1), []byte{0, 1}, be32(0), be32(0), []byte{0x80, 0, 0, 0, 0, 0, 0, 0}),
		// play_script: a huge pair count, a negative-looking (0x80000000)
		// key size, a value size beyond the limit.
		cat([]byte{MagicPlayScript}, max32),
		cat([]byte{MagicPlayScript}, be32(1), be32(0x80000000), be32(0)),
		cat([]byte{MagicPlayScript}, be32(1), be32(0), be32(MaxDataSize+1)),
		cat([]byte{MagicPlayScript}, be32(1), be32(1), be32(1), []byte("kv"), []byte{MagicError}),
	))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out []byte
		var n int
		var err error
		allocmeter.Check(t, len(data), func() { out, n, err = decodeReplyStream(t, data) })
		if err != nil {
			checkReadErr(t, err, len(data) > 0)
		}
		if !bytes.Equal(out, data[:n]) {
			t.Fatalf("decoded and re-encoded\n%x\nwant\n%x", out, data[:n])
		}
	})
}

// decodeReplyStream decodes the replies in data one after another, choosing
// the reader by the first byte (other bytes go to each reader in turn, to
// reach their header checks), until the data ends or a reader fails. It
// returns the re-encoding of every reply decoded, the number of bytes they
// took and the reader's error.
func decodeReplyStream(t *testing.T, data []byte) ([]byte, int, error) {
	r := bytes.NewReader(data)
	var out []byte
	done := 0
	for r.Len() > 0 {
		first := data[done]
		var err error
		switch first {
		case MagicSetBulk, MagicRemoveBulk:
			var hits uint32
			if hits, err = ReadCountReply(r, first); err == nil {
				out = AppendCountReply(out, first, hits)
			}
		case MagicGetBulk:
			var recs []Record
			if recs, err = ReadGetBulkReply(r); err == nil {
				out = AppendGetBulkReply(out, recs)
			}
		case MagicPlayScript:
			var pairs []Pair
			if pairs, err = ReadPlayScriptReply(r); err == nil {
				out = AppendPlayScriptReply(out, pairs)
			}
		default:
			switch first % 3 {
			case 0:
				_, err = ReadCountReply(r, MagicSetBulk)
			case 1:
				_, err = ReadGetBulkReply(r)
			default:
				_, err = ReadPlayScriptReply(r)
			}
			switch {
			case err == nil:
				t.Fatalf("a reply starting with 0x%02X was accepted", first)
			case errors.Is(err, ErrServer) != (first == MagicError):
				t.Fatalf("reply starting with 0x%02X: %v", first, err)
			case first == MagicError:
				// After a failed script the connection stays in step.
				out = append(out, MagicError)
				err = nil
			}
		}
		if err != nil {
			return out, done, err
		}
		done = len(data) - r.Len()
	}
	return out, done, nil
}
