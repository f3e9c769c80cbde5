package tt

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// FuzzTTAdapterReplies feeds arbitrary bytes to the adapter as the replies
// of a pipelined exchange. Whatever they are, reading must end with an
// error the adapter classifies, or with replies whose mget records are the
// keys asked for, in request order: a reply that answers another request
// is an error, never another key's record.
func FuzzTTAdapterReplies(f *testing.F) {
	// The pipelined exchange whose replies are read: a putnr (no reply),
	// two mgets (a key twice in one) and a get between them.
	pipeline := []*ttwire.Request{
		{Cmd: ttwire.CmdPutNR, Key: []byte("k"), Value: []byte("v")},
		{Cmd: ttwire.CmdMGet, Keys: [][]byte{[]byte("k"), []byte("x"), []byte("k")}},
		{Cmd: ttwire.CmdGet, Key: []byte("k")},
		{Cmd: ttwire.CmdMGet, Keys: [][]byte{[]byte("a"), []byte("b")}},
	}
	mget := func(keys ...string) []byte {
		var recs []ttwire.KV
		for _, k := range keys {
			recs = append(recs, ttwire.KV{Key: []byte(k), Value: []byte("v" + k)})
		}
		b, err := ttwire.AppendReply(nil, ttwire.CmdMGet, &ttwire.Reply{Records: recs})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	get := []byte{ttwire.StatusOK, 0, 0, 0, 1, 'v'}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// The recorded mget replies, each standing for the first mget.
	for _, c := range golden.Load(f, "tt-binary.jsonl") {
		for _, s := range c.Steps {
			if !s.HTTP && len(s.SendHex) > 4 && s.SendHex[:4] == "c831" && s.ExpectHex != "" {
				f.Add(cat(golden.Hex(f, s.ExpectHex), get, mget("a")))
			}
		}
	}
	for _, b := range [][]byte{
		cat(mget("k", "x", "k"), get, mget("a", "b")),
		cat(mget("x"), []byte{ttwire.StatusFailed}, mget()),
		cat(mget("k", "k", "k"), get, mget()),
		cat(mget("x", "k"), get, mget()),
		cat(mget(), get, mget("b", "a")),
		cat(mget("other"), get, mget()),
		cat(mget("k"), get, mget("a", "a")),
		cat(mget("k"), mget("a")),
		{ttwire.StatusOK, 0x7F, 0xFF, 0xFF, 0xFF},
		{},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		reps, err := readReplies(bytes.NewReader(data), pipeline)
		if err != nil {
			if !errors.Is(err, ttwire.ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("replies %x: unclassified error %v", data, err)
			}
			return
		}
		if len(reps) != 3 {
			t.Fatalf("replies %x: %d replies for 3 requests that have one", data, len(reps))
		}
		for i, req := range []*ttwire.Request{pipeline[1], pipeline[3]} {
			rep := reps[2*i]
			next := 0
			for _, r := range rep.Records {
				for next < len(req.Keys) && !bytes.Equal(req.Keys[next], r.Key) {
					next++
				}
				if next == len(req.Keys) {
					t.Fatalf("replies %x: mget of %q answered with records %q", data, req.Keys, rep.Records)
				}
				next++
			}
		}
	})
}
