package tttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// client is a raw TT connection for tests.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if err := c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) read(n int) []byte {
	c.t.Helper()
	if err := c.nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// readLine reads a text reply line.
func (c *client) readLine() string {
	c.t.Helper()
	if err := c.nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v", err)
	}
	return line
}

// req builds a binary request: C8 cmd, then each part (uint32 or bytes).
func req(cmd ttwire.Command, parts ...any) []byte {
	b := []byte{ttwire.Magic, byte(cmd)}
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		}
	}
	return b
}

func put(key, value string) []byte { return req(ttwire.CmdPut, len(key), len(value), key, value) }

func get(key string) []byte { return req(ttwire.CmdGet, len(key), key) }

func (c *client) mustPut(key, value string) {
	c.t.Helper()
	c.write(put(key, value))
	if b := c.read(1); b[0] != 0 {
		c.t.Fatalf("put %q: status %x", key, b)
	}
}

func (c *client) mustGet(key string) string {
	c.t.Helper()
	c.write(get(key))
	if b := c.read(1); b[0] != 0 {
		c.t.Fatalf("get %q: status %x", key, b)
	}
	n := binary.BigEndian.Uint32(c.read(4))
	return string(c.read(int(n)))
}

func TestStartServesAndCloses(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	c.mustPut("k", "v")
	if got := c.mustGet("k"); got != "v" {
		t.Errorf("get = %q", got)
	}
	rec, found, err := s.Store().Get(context.Background(), "0", []byte("k"))
	if err != nil || !found || string(rec.Value) != "v" {
		t.Errorf("Store().Get = %q, %v, %v", rec.Value, found, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Error("the server still accepts after Close")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"config":   WithConfig("tt-nosuch"),
		"ext":      WithExt("f", nil),
		"clock":    WithClock((*testclock.Manual)(nil)),
		"interval": WithReplInterval(0),
	} {
		if s, err := New(opt); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestConnCountAndKill(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, b := dial(t, s), dial(t, s)
	a.mustPut("k", "v")
	b.mustPut("k", "w")
	if n := s.ConnCount(); n != 2 {
		t.Fatalf("ConnCount = %d, want 2", n)
	}
	a.nc.Close()
	if err := s.WaitConnCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.KillConnections()
	if err := b.nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.r.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after KillConnections: %v, want end of connection", err)
	}
	if err := s.WaitConnCount(ctx, 0); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	if got := c.mustGet("k"); got != "w" {
		t.Errorf("after kill: get = %q (the server should keep serving)", got)
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := s.WaitConnCount(short, 5); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitConnCount on an ended context = %v", err)
	}
}

func TestWithExt(t *testing.T) {
	upper := func(key, value []byte) ([]byte, bool) {
		if len(key) == 0 {
			return nil, false
		}
		return bytes.ToUpper(append(key, value...)), true
	}
	s := Start(t, WithConfig("tt-noext"), WithExt("upper", upper))
	c := dial(t, s)
	for _, opts := range []int{0, extLockRecord, extLockGlobal} {
		c.write(req(ttwire.CmdExt, 5, opts, 2, 1, "upper", "ab", "c"))
		if b := c.read(8); !bytes.Equal(b, []byte{0, 0, 0, 0, 3, 'A', 'B', 'C'}) {
			t.Errorf("ext upper opts %d = %x", opts, b)
		}
	}
	c.write(req(ttwire.CmdExt, 5, 0, 0, 0, "upper"))
	c.write(req(ttwire.CmdExt, 4, 0, 1, 0, "echo", "k"))
	if b := c.read(2); !bytes.Equal(b, []byte{1, 1}) {
		t.Errorf("failing ext and the missing built-in: %x, want 01 01", b)
	}
}

func TestReplStreamWithManualClock(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1700000000, 0))
	s := Start(t, WithClock(clock))
	w := dial(t, s)
	w.mustPut("old", "1")
	clock.Advance(time.Second)

	r := dial(t, s)
	ts := uint64(clock.Now().UnixMicro())
	r.write(req(ttwire.CmdRepl, ts, 2))
	if b := r.read(5); !bytes.Equal(b, []byte{0, 0, 0, 1, ttwire.LogNOPMagic}) {
		t.Fatalf("handshake %x", b)
	}
	// A record written now is sent at once; the older one is not (ts is
	// inclusive, and it is older).
	w.mustPut("new", "2")
	rec := r.read(1 + 8 + 4 + 4 + 15)
	if rec[0] != ttwire.LogRecordMagic || binary.BigEndian.Uint64(rec[1:]) != ts || !bytes.Equal(rec[17:], append(put("new", "2"), 0)) {
		t.Fatalf("record %x", rec)
	}
	// The heartbeat follows when the clock has moved a second.
	clock.Advance(time.Second)
	if b := r.read(1); b[0] != ttwire.LogNOPMagic {
		t.Fatalf("after a second: %x, want a NOP", b)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close with a stream open: %v", err)
	}
}

func TestCopyAndRestore(t *testing.T) {
	dir := t.TempDir()
	s := Start(t, WithDir(dir))
	c := dial(t, s)
	c.mustPut("b", "2")
	c.mustPut("a", "1")

	c.write(req(ttwire.CmdCopy, 8, "copy.bin"))
	c.write(req(ttwire.CmdCopy, 5, "@date"))
	if b := c.read(2); !bytes.Equal(b, []byte{0, 1}) {
		t.Fatalf("copy, copy @command: %x, want 00 01", b)
	}
	dump, err := os.ReadFile(filepath.Join(dir, "copy.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(put("a", "1"), put("b", "2")...); !bytes.Equal(dump, want) {
		t.Errorf("dump %x, want %x", dump, want)
	}

	// putkeep of a present key replays as a failure, which the log says
	// it was not: inconsistent.
	c.write(req(ttwire.CmdPutKeep, 1, 1, "c", "3"))
	c.write(req(ttwire.CmdOut, 1, "a"))
	c.write(req(ttwire.CmdRestore, 4, uint64(1), 0, "ulog"))
	c.write(req(ttwire.CmdRestore, 4, uint64(1), 1, "ulog"))
	c.write(req(ttwire.CmdRestore, 5, uint64(1), 0, "other"))
	if b := c.read(5); !bytes.Equal(b, []byte{0, 0, 0, 1, 1}) {
		t.Fatalf("putkeep, out, restore, checked restore, restore elsewhere: %x, want 00 00 00 01 01", b)
	}
	if got := c.mustGet("a"); got != "1" {
		t.Errorf("after the restores a = %q, want 1: the checked restore replays the put of a, then stops at the putkeep", got)
	}
}

func TestMemcachedSubset(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	steps := []struct{ send, want string }{
		{"set k 0 0 2\r\nab\r\n", "STORED\r\n"},
		{"add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n"},
		{"append k 0 0 1\r\nc\r\n", "STORED\r\n"},
		{"prepend k 0 0 1\r\n_\r\n", "STORED\r\n"},
		{"replace none 0 0 1\r\nx\r\n", "NOT_STORED\r\n"},
		{"set n 0 0 1\r\n5\r\n", "STORED\r\n"},
		{"incr n 10\r\n", "15\r\n"},
		{"decr n 100\r\n", "0\r\n"},
		{"incr none 1\r\n", "NOT_FOUND\r\n"},
		{"delete n\r\n", "DELETED\r\n"},
		{"delete n\r\n", "NOT_FOUND\r\n"},
		{"version\r\n", "VERSION 1.1.41\r\n"},
	}
	for _, st := range steps {
		c.write([]byte(st.send))
		if got := c.readLine(); got != st.want {
			t.Errorf("%q: %q, want %q", st.send, got, st.want)
		}
	}
	c.write([]byte("get k none\r\n"))
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "END\r\n") {
		got.WriteString(c.readLine())
	}
	if got.String() != "VALUE k 0 4\r\n_abc\r\nEND\r\n" {
		t.Errorf("get: %q", got.String())
	}
	c.write([]byte("flush_all\r\n"))
	if line := c.readLine(); line != "OK\r\n" {
		t.Errorf("flush_all: %q", line)
	}
	c.write(req(ttwire.CmdRNum))
	if b := c.read(9); !bytes.Equal(b, make([]byte, 9)) {
		t.Errorf("rnum after flush_all: %x", b)
	}
}

func TestHTTPSubset(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	exchange := func(request string) (status, body string) {
		t.Helper()
		c.write([]byte(request))
		status = strings.TrimRight(c.readLine(), "\r\n")
		length := 0
		for {
			h := strings.TrimRight(c.readLine(), "\r\n")
			if h == "" {
				break
			}
			if v, ok := strings.CutPrefix(h, "Content-Length: "); ok {
				var err error
				if length, err = strconv.Atoi(v); err != nil {
					t.Fatalf("Content-Length %q", v)
				}
			}
		}
		if !strings.HasPrefix(request, "HEAD") {
			body = string(c.read(length))
		}
		return status, body
	}
	for _, st := range []struct{ request, status, body string }{
		{"PUT /a%20b HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", "HTTP/1.1 201 Created", "Created\n"},
		{"PUT /a%20b HTTP/1.1\r\nX-TT-PDMODE: 1\r\nContent-Length: 1\r\n\r\ny", "HTTP/1.1 409 Conflict", "Conflict\n"},
		{"PUT /a%20b HTTP/1.1\r\nX-TT-PDMODE: 2\r\nContent-Length: 1\r\n\r\nz", "HTTP/1.1 201 Created", "Created\n"},
		{"GET /a%20b HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", "xz"},
		{"HEAD /a%20b HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", ""},
		{"DELETE /a%20b HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", "OK\n"},
		{"GET /a%20b HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found", "Not Found\n"},
		{"OPTIONS /a HTTP/1.1\r\n\r\n", "HTTP/1.1 501 Not Implemented", "Not Implemented\n"},
	} {
		status, body := exchange(st.request)
		if status != st.status || body != st.body {
			t.Errorf("%q: %q %q, want %q %q", st.request, status, body, st.status, st.body)
		}
	}
	// HTTP/1.0 closes after the response.
	status, _ := exchange("GET /none HTTP/1.0\r\n\r\n")
	if status != "HTTP/1.1 404 Not Found" {
		t.Errorf("HTTP/1.0 status %q", status)
	}
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after an HTTP/1.0 response: %v, want EOF", err)
	}
}

// TestNewListensStartServes pins the lifecycle kttest shares: New listens
// (Addr is known, a client can connect and wait), Start serves, and a
// second Start or a Start after Close fails.
func TestNewListensStartServes(t *testing.T) {
	s, err := New(WithAddr("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	c.mustPut("k", "v")
	if err := s.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
	s.Close()
	if err := s.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}
