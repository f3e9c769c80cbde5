package ttwire_test

import (
	"bytes"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// FuzzTTRequest decodes arbitrary bytes as a stream of binary requests, as
// the server (and the test server) reads them.
func FuzzTTRequest(f *testing.F) {
	seen := map[string]bool{}
	add := func(b []byte) {
		if !seen[string(b)] {
			seen[string(b)] = true
			f.Add(b)
		}
	}
	for _, c := range golden.Load(f, "tt-binary.jsonl", "tt-replication.jsonl") {
		for _, s := range c.Steps {
			if !s.HTTP && s.SendHex != "" {
				add(golden.Hex(f, s.SendHex))
			}
		}
	}
	max32 := be32(0xFFFFFFFF)
	for _, b := range [][]byte{
		{},
		{ttwire.Magic},
		{ttwire.Magic, 0x99},
		cat([]byte{ttwire.Magic, byte(ttwire.CmdPut)}, max32, be32(1), []byte("kv")),
		cat([]byte{ttwire.Magic, byte(ttwire.CmdPut)}, be32(ttwire.MaxArgSize), be32(0), []byte("k")),
		cat([]byte{ttwire.Magic, byte(ttwire.CmdMGet)}, be32(3), be32(1), []byte("a"), max32),
		cat([]byte{ttwire.Magic, byte(ttwire.CmdMGet)}, max32),
		cat([]byte{ttwire.Magic, byte(ttwire.CmdMisc)}, be32(4), be32(0), be32(ttwire.MaxArgNum), []byte("name")),
		cat([]byte{ttwire.Magic, byte(ttwire.CmdSetMst)}, be32(1), max32, make([]byte, 12), []byte("h")),
		cat([]byte{ttwire.Magic, byte(ttwire.CmdPutShl)}, be32(1), be32(1), max32, []byte("kv")),
	} {
		add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var out []byte
		done := 0
		var err error
		allocmeter.Check(t, len(data), func() {
			for r.Len() > 0 {
				var req *ttwire.Request
				if req, err = ttwire.ReadRequest(r); err != nil {
					return
				}
				if out, err = ttwire.AppendRequest(out, req); err != nil {
					t.Fatalf("%s accepted but not encodable: %v", req.Cmd, err)
				}
				done = len(data) - r.Len()
			}
		})
		if err != nil {
			checkReadErr(t, err, len(data) > 0)
		}
		if !bytes.Equal(out, data[:done]) {
			t.Fatalf("decoded and re-encoded\n%x\nwant\n%x", out, data[:done])
		}
	})
}
