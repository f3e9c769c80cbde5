package ttwire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// TestGoldenBinaryRoundTrip decodes every recorded binary request and reply
// and encodes them again: the bytes must come back identical. Requests the
// server rejects must be rejected by the decoder too.
func TestTTGoldenBinaryRoundTrip(t *testing.T) {
	cases := golden.Load(t, "tt-binary.jsonl")
	var requests, replies int
	seen := map[ttwire.Command]bool{}
	for _, c := range cases {
		for i, s := range c.Steps {
			if s.Action != "" || s.Request != nil || s.SendHex == "" {
				continue
			}
			send := golden.Hex(t, s.SendHex)
			if send[0] != ttwire.Magic {
				continue // memcached / HTTP text
			}
			expect := bytes.NewReader(golden.Hex(t, s.ExpectHex))
			in := bytes.NewReader(send)
			skipped := false
			for in.Len() > 0 {
				start := len(send) - in.Len()
				req, err := ttwire.ReadRequest(in)
				if err != nil {
					if !errors.Is(err, ttwire.ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("%s step %d: decode: unexpected error kind %v", c.Name, i, err)
					}
					if !strings.Contains(c.Name, "bad-command") && !strings.Contains(c.Name, "oversize") &&
						!strings.Contains(c.Name, "negative") && !strings.Contains(c.Name, "invalid") &&
						!strings.Contains(c.Name, "truncated") {
						t.Errorf("%s step %d: decode: %v", c.Name, i, err)
					}
					skipped = true
					break
				}
				requests++
				seen[req.Cmd] = true
				raw := send[start : len(send)-in.Len()]
				enc, err := ttwire.AppendRequest(nil, req)
				if err != nil {
					t.Errorf("%s step %d: encode %s: %v", c.Name, i, req.Cmd, err)
				} else if !bytes.Equal(enc, raw) {
					t.Errorf("%s step %d: %s re-encoded\n got %x\nwant %x", c.Name, i, req.Cmd, enc, raw)
				}
				if req.Cmd == ttwire.CmdRepl {
					skipped = true
				}
				if !ttwire.HasReply(req.Cmd) || expect.Len() == 0 {
					continue
				}
				all := golden.Hex(t, s.ExpectHex)
				rstart := len(all) - expect.Len()
				rep, err := ttwire.ReadReply(expect, req.Cmd)
				if err != nil {
					t.Errorf("%s step %d: reply to %s: %v", c.Name, i, req.Cmd, err)
					break
				}
				replies++
				rraw := all[rstart : len(all)-expect.Len()]
				renc, err := ttwire.AppendReply(nil, req.Cmd, rep)
				if err != nil || !bytes.Equal(renc, rraw) {
					t.Errorf("%s step %d: %s reply re-encoded (%v)\n got %x\nwant %x", c.Name, i, req.Cmd, err, renc, rraw)
				}
			}
			if expect.Len() != 0 && !skipped {
				t.Errorf("%s step %d: %d reply bytes left over", c.Name, i, expect.Len())
			}
		}
	}
	// Every command but repl appears in the binary recordings.
	for _, cmd := range ttwire.Commands() {
		if cmd != ttwire.CmdRepl && !seen[cmd] {
			t.Errorf("no recorded request for %s", cmd)
		}
	}
	t.Logf("%d requests, %d replies round-tripped", requests, replies)
}

// TestGoldenReplication decodes every recorded replication stream: the
// handshake, NOPs and records; every record payload must decode to a logged
// command and encode back to the same bytes.
func TestTTGoldenReplication(t *testing.T) {
	cases := golden.Load(t, "tt-replication.jsonl")
	var records int
	cmds := map[ttwire.Command]bool{}
	for _, c := range cases {
		for i, s := range c.Steps {
			send := golden.Hex(t, s.SendHex)
			if len(send) < 2 || send[1] != byte(ttwire.CmdRepl) {
				continue
			}
			req, err := ttwire.ReadRequest(bytes.NewReader(send))
			if len(send) < 14 {
				if err == nil {
					t.Errorf("%s step %d: truncated handshake decoded", c.Name, i)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s step %d: %v", c.Name, i, err)
			}
			enc, _ := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdRepl, TS: req.TS, SID: req.SID})
			if !bytes.Equal(enc, send) {
				t.Errorf("%s step %d: repl request re-encoded %x, want %x", c.Name, i, enc, send)
			}
			exp := golden.Hex(t, s.ExpectHex)
			if len(exp) == 0 {
				continue
			}
			r := bytes.NewReader(exp)
			if _, err := ttwire.ReadReplSID(r); err != nil {
				t.Fatalf("%s step %d: sid: %v", c.Name, i, err)
			}
			var again []byte
			for r.Len() > 0 {
				f, err := ttwire.ReadFrame(r)
				if err != nil {
					t.Fatalf("%s step %d: frame: %v", c.Name, i, err)
				}
				again = ttwire.AppendFrame(again, f)
				if f.NOP {
					continue
				}
				records++
				lreq, st, err := ttwire.DecodeLogPayload(f.Payload)
				if err != nil {
					t.Errorf("%s step %d: payload %x: %v", c.Name, i, f.Payload, err)
					continue
				}
				cmds[lreq.Cmd] = true
				p, err := ttwire.AppendLogPayload(nil, lreq, st)
				if err != nil || !bytes.Equal(p, f.Payload) {
					t.Errorf("%s step %d: payload re-encoded (%v) %x, want %x", c.Name, i, err, p, f.Payload)
				}
			}
			if !bytes.Equal(again, exp[4:]) {
				t.Errorf("%s step %d: frames re-encoded differently", c.Name, i)
			}
		}
	}
	for _, cmd := range []ttwire.Command{ttwire.CmdPut, ttwire.CmdPutKeep, ttwire.CmdPutCat, ttwire.CmdPutShl,
		ttwire.CmdOut, ttwire.CmdAddInt, ttwire.CmdAddDouble, ttwire.CmdSync, ttwire.CmdOptimize,
		ttwire.CmdVanish, ttwire.CmdMisc} {
		if !cmds[cmd] {
			t.Errorf("no recorded log record for %s", cmd)
		}
	}
	if records < 20 {
		t.Errorf("only %d records decoded", records)
	}
}
