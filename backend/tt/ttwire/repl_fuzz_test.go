package ttwire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// replStreamSeeds returns what the master sent on every recorded
// replication connection: its sid, then NOPs and records.
func replStreamSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range golden.Load(f, "tt-replication.jsonl") {
		for _, s := range c.Steps {
			send := golden.Hex(f, s.SendHex)
			if len(send) < 2 || send[1] != byte(ttwire.CmdRepl) || s.ExpectHex == "" {
				continue
			}
			seeds = append(seeds, golden.Hex(f, s.ExpectHex))
		}
	}
	return seeds
}

// logPayloadSeeds returns the payload of every recorded record.
func logPayloadSeeds(f *testing.F) [][]byte {
	var payloads [][]byte
	for _, s := range replStreamSeeds(f) {
		r := bytes.NewReader(s)
		if _, err := ttwire.ReadReplSID(r); err != nil {
			continue
		}
		for r.Len() > 0 {
			fr, err := ttwire.ReadFrame(r)
			if err != nil {
				break
			}
			if !fr.NOP {
				payloads = append(payloads, fr.Payload)
			}
		}
	}
	return payloads
}

func addSeeds(f *testing.F, seeds [][]byte) {
	seen := map[string]bool{}
	for _, s := range seeds {
		if !seen[string(s)] {
			seen[string(s)] = true
			f.Add(s)
		}
	}
}

// FuzzTTReplStream decodes arbitrary bytes as what a replication master
// sends: its sid, then NOPs and records with their logged commands.
func FuzzTTReplStream(f *testing.F) {
	sid := be32(1)
	ts := make([]byte, 8)
	rec := []byte{ttwire.LogRecordMagic}
	addSeeds(f, append(replStreamSeeds(f),
		[]byte{}, []byte{0, 0}, sid,
		cat(sid, []byte{ttwire.LogNOPMagic, ttwire.LogNOPMagic}),
		cat(sid, []byte{0x42}),
		// Records: a negative size, 2 GiB - 1 with no payload, a size
		// just above the 64 KiB read chunk, a header cut short, and a
		// payload that is no logged command.
		cat(sid, rec, ts, sid, be32(0xFFFFFFFF)),
		cat(sid, rec, ts, sid, be32(0x7FFFFFFF), []byte{0xC8}),
		cat(sid, rec, ts, sid, be32(64<<10+1), []byte{0xC8, 0x10}),
		cat(sid, rec, ts[:3]),
		cat(sid, rec, ts, sid, be32(3), []byte{0xC8, 0x30, 0}),
	))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var err error
		allocmeter.Check(t, len(data), func() { _, err = ttwire.ReadReplSID(r) })
		if err != nil {
			checkReadErr(t, err, len(data) > 0)
			return
		}
		for r.Len() > 0 {
			start := len(data) - r.Len()
			var fr *ttwire.Frame
			allocmeter.Check(t, r.Len(), func() { fr, err = ttwire.ReadFrame(r) })
			if err != nil {
				checkReadErr(t, err, true)
				return
			}
			raw := data[start : len(data)-r.Len()]
			if re := ttwire.AppendFrame(nil, fr); !bytes.Equal(re, raw) {
				t.Fatalf("frame %+v re-encoded %x, want %x", fr, re, raw)
			}
			if !fr.NOP {
				checkLogPayload(t, fr.Payload)
			}
		}
	})
}

// FuzzTTLogPayload decodes arbitrary update-log record payloads.
func FuzzTTLogPayload(f *testing.F) {
	addSeeds(f, append(logPayloadSeeds(f),
		[]byte{}, []byte{0xC8}, []byte{0xC8, 0x10, 0},
		[]byte{0xC8, 0x30, 0}, []byte{0xC8, 0x10, 0, 0, 0, 1, 0, 0, 0, 1, 'k', 'v', 7},
		cat([]byte{0xC8, 0x10}, be32(0xFFFFFFFF), be32(0), []byte{0}),
		cat([]byte{0xC8, 0x10}, be32(0x0FFFFFFF), be32(0), []byte("k"), []byte{0}),
		cat([]byte{0xC8, 0x13}, be32(1), be32(1), be32(0xFFFFFFFF), []byte("kv"), []byte{0}),
		cat([]byte{0xC8, 0x61}, be32(1), make([]byte, 16), []byte("k"), []byte{0}),
		cat([]byte{0xC8, 0x90}, be32(3), be32(0x000FFFFF), []byte("put"), []byte{0}),
		cat([]byte{0xC8, 0x90}, be32(2000), be32(0), []byte{0}),
		cat([]byte{0xC8, 0x72}, []byte{0}, []byte{0}),
	))
	f.Fuzz(func(t *testing.T, p []byte) {
		allocmeter.Check(t, len(p), func() { checkLogPayload(t, p) })
	})
}

// checkLogPayload decodes a record's payload and checks that a decoded one
// carries a real status and encodes back to the same bytes.
func checkLogPayload(t *testing.T, p []byte) {
	t.Helper()
	req, st, err := ttwire.DecodeLogPayload(p)
	if err != nil {
		if !errors.Is(err, ttwire.ErrProtocol) {
			t.Fatalf("payload %x: unclassified error %v", p, err)
		}
		return
	}
	if st != ttwire.StatusOK && st != ttwire.StatusFailed {
		t.Fatalf("payload %x: status 0x%02X accepted", p, st)
	}
	if !ttwire.Logged(req.Cmd) {
		t.Fatalf("payload %x: %s is never logged", p, req.Cmd)
	}
	re, err := ttwire.AppendLogPayload(nil, req, st)
	if err != nil || !bytes.Equal(re, p) {
		t.Fatalf("payload %x decoded as %+v re-encoded (%v) %x", p, req, err, re)
	}
	if req.Cmd == ttwire.CmdAddDouble {
		checkDouble(t, req.Double)
	}
}
