package kt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// scriptedMaster plays replication frames that a test server cannot be made
// to produce on cue: a NOP whose timestamp is below the position already
// reached, a filler record, a stream that breaks, and a refusal on the
// reconnection. It answers HTTP requests with 501 so that the adapter's
// best-effort status lookups fail fast. It is not a KT server.
type scriptedMaster struct {
	ln       net.Listener
	requests chan []byte // each replication request received
	acks     chan byte   // each byte received after a NOP
}

func startScriptedMaster(t *testing.T, sessions ...func(m *scriptedMaster, c net.Conn, br *bufio.Reader)) *scriptedMaster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &scriptedMaster{ln: ln, requests: make(chan []byte, 10), acks: make(chan byte, 10)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		next := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			first, err := br.Peek(1)
			if err != nil {
				c.Close()
				continue
			}
			if first[0] != ktwire.MagicReplication {
				go answerHTTP(c, br)
				continue
			}
			req := make([]byte, 15)
			if _, err := io.ReadFull(br, req); err != nil {
				c.Close()
				continue
			}
			m.requests <- req
			if next < len(sessions) {
				go func(s func(*scriptedMaster, net.Conn, *bufio.Reader)) {
					defer c.Close()
					s(m, c, br)
				}(sessions[next])
				next++
			} else {
				c.Close()
			}
		}
	}()
	return m
}

func answerHTTP(c net.Conn, br *bufio.Reader) {
	defer c.Close()
	for {
		// Requests without bodies only: read up to the blank line.
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.WriteString(c, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return
		}
	}
}

func (m *scriptedMaster) ack(t *testing.T, br *bufio.Reader) {
	b, err := br.ReadByte()
	if err != nil {
		t.Errorf("reading the NOP ack: %v", err)
		return
	}
	m.acks <- b
}

func uset(db uint16, key, value string, xt int64) []byte {
	v := ktwire.AppendXTPrefix(nil, xt)
	return ktwire.AppendMessage(nil, ktwire.Message{SID: 1, DB: db, Op: ktwire.OpSet, Key: []byte(key), Value: append(v, value...)})
}

func TestKTSubscribeFrames(t *testing.T) {
	at := time.Unix(4102444800, 0)
	m := startScriptedMaster(t,
		func(m *scriptedMaster, c net.Conn, br *bufio.Reader) {
			var out []byte
			out = append(out, ktwire.MagicReplication)
			// The prefix holds the last second the record is visible.
			out = ktwire.AppendFrame(out, ktwire.Frame{Kind: ktwire.FrameData, TS: 200, Message: uset(1, "k1", "v1", at.Unix()-1)})
			out = ktwire.AppendFrame(out, ktwire.Frame{Kind: ktwire.FrameData, TS: 250, Message: uset(0, "other", "x", 0)})
			out = ktwire.AppendFrame(out, ktwire.Frame{Kind: ktwire.FrameFiller, TS: 300})
			out = ktwire.AppendFrame(out, ktwire.Frame{Kind: ktwire.FrameNOP, TS: 280}) // below the position
			c.Write(out)
			m.ack(t, br)
			c.Write(ktwire.AppendFrame(nil, ktwire.Frame{Kind: ktwire.FrameNOP, TS: 400}))
			m.ack(t, br)
			c.Write(ktwire.AppendFrame(nil, ktwire.Frame{Kind: ktwire.FrameData, TS: 500,
				Message: ktwire.AppendMessage(nil, ktwire.Message{SID: 2, DB: 0, Op: ktwire.OpClear})}))
			// The stream breaks here.
		},
		func(m *scriptedMaster, c net.Conn, br *bufio.Reader) {
			c.Write([]byte{ktwire.MagicError}) // the update log is gone
		},
	)
	b := mustOpen(t, "kt://"+m.ln.Addr().String()+"?sid=7&backoff=1ms&max_backoff=2ms")
	var got []backend.Update
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.Subscribe(ctx, backend.SubscribeOptions{After: 100, Filter: backend.Filter{KeyPrefix: []byte("k")}}, func(u backend.Update) error {
		got = append(got, u)
		return nil
	})
	wantErr(t, "Subscribe after the refusal", err, backend.ErrUnsupported)

	first, second := <-m.requests, <-m.requests
	if !bytes.Equal(first, ktwire.AppendReplicationRequest(nil, 0, 100, 7)) {
		t.Errorf("first request %x: want ts 100 (After, exclusive) and sid 7", first)
	}
	if ts := binary.BigEndian.Uint64(second[5:13]); ts != 500 {
		t.Errorf("reconnected from %d, want 500 (the last delivered position)", ts)
	}
	for range 2 {
		if a := <-m.acks; a != ktwire.NOPAck {
			t.Errorf("NOP acknowledged with %02x", a)
		}
	}
	wantPos := []uint64{200, 250, 300, 300, 400, 500}
	if len(got) != len(wantPos) {
		t.Fatalf("%d updates, want %d: %+v", len(got), len(wantPos), got)
	}
	for i, u := range got {
		if u.Position != wantPos[i] {
			t.Errorf("update %d at %d, want %d", i, u.Position, wantPos[i])
		}
	}
	if ev := got[0].Event; ev == nil || ev.DB != "1" || string(ev.Key) != "k1" || string(ev.Value) != "v1" ||
		!ev.ExpireTime.Equal(at) || ev.Command != "set" || ev.OriginSID != 1 || len(ev.Raw) == 0 {
		t.Errorf("USET event: %+v", ev)
	}
	if got[1].Event != nil {
		t.Errorf("the filter should withhold key %q", got[1].Event.Key)
	}
	if got[2].Event != nil || got[3].Event != nil || got[4].Event != nil {
		t.Error("filler and NOPs carry no event")
	}
	if ev := got[5].Event; ev == nil || ev.Op != backend.OpClear || ev.Key != nil || ev.OriginSID != 2 || ev.DB != "0" {
		t.Errorf("UCLEAR event: %+v", ev)
	}
}

func TestKTSubscribeGivesUpAfterReconnects(t *testing.T) {
	m := startScriptedMaster(t, func(m *scriptedMaster, c net.Conn, br *bufio.Reader) {
		c.Write(append([]byte{ktwire.MagicReplication}, ktwire.AppendFrame(nil, ktwire.Frame{Kind: ktwire.FrameNOP, TS: 9})...))
		m.ack(t, br)
		m.ln.Close() // the server goes away for good
	})
	b := mustOpen(t, "kt://"+m.ln.Addr().String()+"?backoff=1ms&max_backoff=4ms&reconnects=3")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last uint64
	err := b.Subscribe(ctx, backend.SubscribeOptions{}, func(u backend.Update) error {
		last = u.Position
		return nil
	})
	wantErr(t, "Subscribe with the server gone", err, backend.ErrUnavailable)
	if last != 9 {
		t.Errorf("last position %d, want 9", last)
	}
}

func TestKTSubscribeCallbackErrorEndsStream(t *testing.T) {
	m := startScriptedMaster(t, func(m *scriptedMaster, c net.Conn, br *bufio.Reader) {
		c.Write(append([]byte{ktwire.MagicReplication}, ktwire.AppendFrame(nil, ktwire.Frame{Kind: ktwire.FrameNOP, TS: 9})...))
		m.ack(t, br)
		br.ReadByte() // until the client hangs up
	})
	b := mustOpen(t, "kt://"+m.ln.Addr().String())
	stop := errors.New("stop")
	err := b.Subscribe(context.Background(), backend.SubscribeOptions{}, func(backend.Update) error { return stop })
	if err != stop {
		t.Errorf("Subscribe = %v, want the callback's error", err)
	}
}

func TestKTEventPersistentDatabase(t *testing.T) {
	msg := ktwire.AppendMessage(nil, ktwire.Message{SID: 1, DB: 3, Op: ktwire.OpSet, Key: []byte("k"), Value: []byte("\x00\xf4\x86\x57\x00value")})
	st := &stream{persist: map[uint16]bool{3: true}}
	ev, err := st.event(ktwire.Frame{Kind: ktwire.FrameData, TS: 1, Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Value) != "\x00\xf4\x86\x57\x00value" || !ev.ExpireTime.IsZero() {
		t.Errorf("ktopts=p database: value %q expires %v; want the value untouched", ev.Value, ev.ExpireTime)
	}
	st.persist = nil
	ev, _ = st.event(ktwire.Frame{Kind: ktwire.FrameData, TS: 1, Message: msg})
	// The prefix is the last second the record is visible (4102444800); it
	// is gone one second later.
	if string(ev.Value) != "value" || ev.ExpireTime.Unix() != 4102444801 {
		t.Errorf("ordinary database: value %q expires %v, want the 5-byte prefix read and removed", ev.Value, ev.ExpireTime)
	}
}
