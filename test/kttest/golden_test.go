package kttest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/test/golden"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// Replay settings. The recordings wait 0.3 to 1 s to show that nothing
// arrives; a correct server answers at once, so a shorter silence proves the
// same for this in-process server and keeps the suite fast.
const (
	silenceWait = 100 * time.Millisecond
	// replyWait bounds every read that expects bytes or a close.
	replyWait = 5 * time.Second
)

// TestGolden replays every recorded KT exchange against a fresh server and
// requires the same bytes, as golden/README.md "How to replay a case"
// describes, with two changes that only save time: a "sleep" action moves
// the server's fake clock instead of waiting (the store writes its update
// log at once, so the waits for ktserver's log flush are not needed, and
// expirations only need the clock), and a no_reply step listens for
// silenceWait instead of silence_s. One check is added: a connection whose
// last step says the server keeps it open must answer a probe request, and
// with nothing before its reply. Nothing is excluded from the
// comparison: the status and report values the README calls specific to
// the real implementation are reproduced as recorded.
func TestGolden(t *testing.T) {
	cases := golden.Load(t, "kt-*.jsonl")
	var passed atomic.Int64
	t.Cleanup(func() {
		t.Logf("golden: %d of %d KT cases replayed byte-exactly", passed.Load(), len(cases))
	})
	for _, gc := range cases {
		t.Run(gc.Name, func(t *testing.T) {
			t.Parallel()
			replayCase(t, gc)
			if !t.Failed() {
				passed.Add(1)
			}
		})
	}
}

type replayConn struct {
	nc net.Conn
	r  *bufio.Reader
	// repl is set for a replication stream, which never answers a probe.
	repl bool
	// idle is set when the connection's last step left it open with
	// nothing more to come: the recorded server kept it open and sent
	// nothing else.
	idle bool
}

// probe is a get_bulk of no keys: the server answers probeReply at once.
var probe, probeReply = ktwire.AppendGetBulk(nil, nil), ktwire.AppendGetBulkReply(nil, nil)

func replayCase(t *testing.T, gc golden.Case) {
	// A fixed start makes every run see the same wall clock; the half
	// second keeps "the end of the current second" away from the start.
	clock := testclock.NewManual(time.Date(2026, 11, 21, 12, 0, 0, 500_000_000, time.UTC))
	srv := Start(t, WithConfig(gc.Config), WithClock(clock))
	conns := map[int]*replayConn{}
	t.Cleanup(func() {
		for _, c := range conns {
			c.nc.Close()
		}
	})
	vars := map[string]uint64{}
	for i, st := range gc.Steps {
		where := fmt.Sprintf("step %d (%s)", i, st.Note)
		switch st.Action {
		case "sleep":
			clock.Advance(time.Duration(st.Seconds * float64(time.Second)))
			continue
		case "close":
			if c, ok := conns[st.Conn]; ok {
				c.nc.Close()
				delete(conns, st.Conn)
			}
			continue
		case "":
		default:
			t.Fatalf("%s: unknown action %q", where, st.Action)
		}
		c, ok := conns[st.Conn]
		if !ok {
			nc, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			c = &replayConn{nc: nc, r: bufio.NewReader(nc)}
			conns[st.Conn] = c
		}
		send := golden.Hex(t, st.SendHex)
		if len(send) > 0 && send[0] == 0xB1 && !st.HTTP {
			// A request that starts with 0xB1 opens a replication stream;
			// later 0xB1 bytes on it are NOP acknowledgements.
			c.repl = true
		}
		for _, p := range st.Patch {
			v, ok := vars[p.Var]
			if !ok {
				t.Fatalf("%s: patch uses %q, which no step captured", where, p.Var)
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], v+uint64(p.Add))
			copy(send[p.Offset:p.Offset+p.Len], b[8-p.Len:])
		}
		if len(send) > 0 {
			if _, err := c.nc.Write(send); err != nil {
				t.Fatalf("%s: write: %v", where, err)
			}
		}
		if st.HalfClose {
			if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatalf("%s: half-close: %v", where, err)
			}
		}
		c.nc.SetReadDeadline(time.Now().Add(replyWait))
		if st.HTTP {
			checkHTTPStep(t, where, c, st)
		} else {
			checkBinaryStep(t, where, c, st, vars)
		}
		if t.Failed() {
			return
		}
		switch {
		case st.Closes:
			expectClose(t, where, c)
		case st.NoReply:
			expectSilence(t, where, c)
		}
		if t.Failed() {
			return
		}
		c.idle = !st.Closes && !st.NoReply && !st.MoreFollows
	}
	// "closes": false is proved by the next step on the connection; for
	// the last one a probe does it, and shows that nothing unexpected
	// follows the last reply.
	for n, c := range conns {
		if c.idle && !c.repl {
			expectOpen(t, fmt.Sprintf("connection %d after its last step", n), c)
		}
	}
}

// expectOpen sends the probe and requires its reply as the very next bytes.
func expectOpen(t *testing.T, where string, c *replayConn) {
	t.Helper()
	c.nc.SetDeadline(time.Now().Add(replyWait))
	if _, err := c.nc.Write(probe); err != nil {
		t.Fatalf("%s: the connection should be open; writing a probe: %v", where, err)
	}
	got := make([]byte, len(probeReply))
	if n, err := io.ReadFull(c.r, got); err != nil {
		t.Fatalf("%s: the connection should be open; reading the probe's reply: %v (got %x)", where, err, got[:n])
	}
	if !bytes.Equal(got, probeReply) {
		t.Fatalf("%s: unexpected bytes after the last reply: %x (then the probe's reply %x)", where, got, probeReply)
	}
}

func checkBinaryStep(t *testing.T, where string, c *replayConn, st golden.Step, vars map[string]uint64) {
	t.Helper()
	want := golden.Hex(t, st.ExpectHex)
	got := make([]byte, len(want))
	if st.TextRegex != nil {
		got = got[:st.TextRegex.Offset]
	}
	if _, err := io.ReadFull(c.r, got); err != nil {
		t.Fatalf("%s: reading %d bytes: %v (got %x, want %x)", where, len(got), err, got, want)
	}
	// With a text tail, got is the part before it.
	if i := golden.MaskedDiff(got, want[:len(got)], st.Mask); i >= 0 {
		t.Fatalf("%s: byte %d differs\n got %x\nwant %x", where, i, got, want)
	}
	if tr := st.TextRegex; tr != nil {
		n := binary.BigEndian.Uint32(got[tr.Offset-4 : tr.Offset])
		text := make([]byte, n)
		if _, err := io.ReadFull(c.r, text); err != nil {
			t.Fatalf("%s: reading %d text bytes: %v", where, n, err)
		}
		if !regexp.MustCompile(tr.Regex).Match(text) {
			t.Fatalf("%s: text %q does not match %q", where, text, tr.Regex)
		}
	}
	for _, cp := range st.Capture {
		var b [8]byte
		copy(b[8-cp.Len:], got[cp.Offset:cp.Offset+cp.Len])
		vars[cp.Name] = binary.BigEndian.Uint64(b[:])
	}
}

func checkHTTPStep(t *testing.T, where string, c *replayConn, st golden.Step) {
	t.Helper()
	want := st.Response
	if want == nil {
		// The server closes without a response; expectClose checks it.
		return
	}
	head := st.Request != nil && st.Request.Method == "HEAD"
	got, err := readHTTPReply(c.r, head)
	if err != nil {
		t.Fatalf("%s: reading the response: %v", where, err)
	}
	if got.status != want.Status || got.reason != want.Reason {
		t.Fatalf("%s: status %d %q, want %d %q", where, got.status, got.reason, want.Status, want.Reason)
	}
	// KT sends Date right after Server; the recordings leave it out.
	if _, err := time.Parse(ktwire.HTTPTime, got.date); got.dateAt != 1 || err != nil {
		t.Fatalf("%s: Date %q at header %d; want an RFC 1123 date right after Server", where, got.date, got.dateAt)
	}
	volatile := map[string]bool{}
	for _, h := range want.VolatileHeaders {
		volatile[strings.ToLower(h)] = true
	}
	if len(got.headers) != len(want.Headers) {
		t.Fatalf("%s: headers %q, want %q", where, got.headers, want.Headers)
	}
	for i, h := range want.Headers {
		g := got.headers[i]
		if g[0] != h[0] || (!volatile[strings.ToLower(h[0])] && g[1] != h[1]) {
			t.Fatalf("%s: header %d is %q, want %q (all: %q)", where, i, g, h, got.headers)
		}
	}
	switch {
	case want.BodyRegex != "":
		if !regexp.MustCompile(want.BodyRegex).Match(got.body) {
			t.Fatalf("%s: body %q does not match %q", where, got.body, want.BodyRegex)
		}
	case want.BodyHex != nil:
		if w := golden.Hex(t, *want.BodyHex); !bytes.Equal(got.body, w) {
			t.Fatalf("%s: body %x, want %x", where, got.body, w)
		}
	case want.BodyText != nil:
		if string(got.body) != *want.BodyText {
			t.Fatalf("%s: body %q, want %q", where, got.body, *want.BodyText)
		}
	}
}

type httpReply struct {
	status  int
	reason  string
	headers [][2]string // without Date
	// dateAt is the position Date had among the headers (-1: none).
	dateAt int
	date   string
	body   []byte
}

// readHTTPReply reads one response: the head up to the blank line, then
// Content-Length bytes of body (none after a HEAD).
func readHTTPReply(r *bufio.Reader, head bool) (*httpReply, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	code, reason, _ := strings.Cut(rest, " ")
	if proto != "HTTP/1.1" {
		return nil, fmt.Errorf("status line %q", line)
	}
	rep := &httpReply{reason: reason, dateAt: -1}
	if rep.status, err = strconv.Atoi(code); err != nil {
		return nil, fmt.Errorf("status line %q", line)
	}
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ": ")
		if name == "Content-Length" {
			length, _ = strconv.Atoi(value)
		}
		if name == "Date" {
			rep.dateAt, rep.date = len(rep.headers), value
			continue
		}
		rep.headers = append(rep.headers, [2]string{name, value})
	}
	if !head {
		rep.body = make([]byte, length)
		if _, err := io.ReadFull(r, rep.body); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// expectClose requires end of stream (or a reset) with no further bytes.
func expectClose(t *testing.T, where string, c *replayConn) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(replyWait))
	b, err := c.r.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.r.Peek(c.r.Buffered())
		t.Fatalf("%s: want a close, got more bytes: %x%x", where, b, rest)
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err):
	default:
		t.Fatalf("%s: want a close, got %v", where, err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// expectSilence requires that nothing arrives for silenceWait and that the
// connection stays open.
func expectSilence(t *testing.T, where string, c *replayConn) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(silenceWait))
	b, err := c.r.ReadByte()
	var ne net.Error
	switch {
	case err == nil:
		t.Fatalf("%s: want silence, got byte %02x", where, b)
	case errors.As(err, &ne) && ne.Timeout():
	default:
		t.Fatalf("%s: want silence, got %v", where, err)
	}
}
