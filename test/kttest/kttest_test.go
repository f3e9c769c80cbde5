package kttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// client is a raw connection to a test server.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		c.t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// send writes an RPC request with Base64 TSV parameters given as name,
// value pairs.
func (c *client) send(proc string, params ...string) {
	c.t.Helper()
	var body strings.Builder
	for i := 0; i+1 < len(params); i += 2 {
		fmt.Fprintf(&body, "%s\t%s\n", base64.StdEncoding.EncodeToString([]byte(params[i])), base64.StdEncoding.EncodeToString([]byte(params[i+1])))
	}
	c.write(fmt.Appendf(nil, "POST /rpc/%s HTTP/1.1\r\nContent-Type: text/tab-separated-values; colenc=B\r\nContent-Length: %d\r\n\r\n%s", proc, body.Len(), body.String()))
}

// reply reads an RPC response and decodes its TSV body.
func (c *client) reply() (int, map[string]string) {
	c.t.Helper()
	rep, err := readHTTPReply(c.r, false)
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	ct := ""
	for _, h := range rep.headers {
		if h[0] == "Content-Type" {
			ct = h[1]
		}
	}
	out := map[string]string{}
	enc, _ := ktwire.ParseContentType(ct)
	for _, p := range ktwire.ParseTSV(rep.body, enc) {
		out[string(p.Key)] = string(p.Value)
	}
	return rep.status, out
}

func (c *client) rpc(proc string, params ...string) (int, map[string]string) {
	c.t.Helper()
	c.send(proc, params...)
	return c.reply()
}

func (c *client) expectEOF() {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err == nil {
		c.t.Fatalf("want end of stream, got byte %02x", b)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("want end of stream, got %v", err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStoreIsShared(t *testing.T) {
	s := Start(t)
	ctx := testContext(t)
	if err := s.Store().Set(ctx, "1", []byte("k"), []byte("from-store"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	if code, out := c.rpc("get", "DB", "%", "key", "k"); code != 200 || out["value"] != "from-store" {
		t.Fatalf("get = %d %v; want 200 value=from-store", code, out)
	}
	if code, _ := c.rpc("set", "key", "r", "value", "from-rpc"); code != 200 {
		t.Fatalf("set = %d", code)
	}
	rec, found, err := s.Store().Get(ctx, "*", []byte("r"))
	if err != nil || !found || string(rec.Value) != "from-rpc" {
		t.Fatalf("store Get = %q %v %v; want from-rpc", rec.Value, found, err)
	}
}

func TestConnCountAndKillConnections(t *testing.T) {
	s := Start(t)
	ctx := testContext(t)
	a, b := dial(t, s), dial(t, s)
	if err := s.WaitConnCount(ctx, 2); err != nil {
		t.Fatal(err)
	}
	a.nc.Close()
	if err := s.WaitConnCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.KillConnections()
	if n := s.ConnCount(); n != 0 {
		t.Fatalf("ConnCount after KillConnections = %d; want 0", n)
	}
	b.expectEOF()
	c := dial(t, s)
	if code, _ := c.rpc("void"); code != 200 {
		t.Fatalf("void on a new connection = %d; want 200", code)
	}
	if n := s.ConnCount(); n != 1 {
		t.Fatalf("ConnCount = %d; want 1", n)
	}
}

func TestCloseEndsStreamsAndWaits(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	repl := dial(t, s)
	repl.write([]byte{0xB1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	if got := repl.read(10); got[0] != 0xB1 || got[1] != 0xB0 {
		t.Fatalf("replication start = %x; want B1 B0 <ts>", got)
	}
	waiter := dial(t, s)
	waiter.send("void", "WAIT", "never")
	ctx := testContext(t)
	if err := s.WaitConnCount(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	repl.expectEOF()
	waiter.expectEOF()
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("the listener still accepts after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewRejectsUnknownConfig(t *testing.T) {
	if _, err := New(WithConfig("kt-nosuch")); err == nil || !strings.Contains(err.Error(), "kt-nosuch") {
		t.Fatalf("New(WithConfig(kt-nosuch)) error = %v; want one naming the configuration", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"databases": WithDatabases(),
		"workers":   WithWorkers(0),
		"clock":     WithClock((*testclock.Manual)(nil)),
	} {
		if s, err := New(opt); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestNewListensStartServes pins the lifecycle tttest shares: New listens
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
	if code, _ := c.rpc("void"); code != 200 {
		t.Errorf("void = %d; want 200", code)
	}
	if err := s.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
	s.Close()
	if err := s.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestWithScript(t *testing.T) {
	concat := func(ctx context.Context, st *embedded.Store, in map[string]string) (map[string]string, ScriptStatus) {
		if in["fail"] != "" {
			return map[string]string{"dropped": "x"}, ScriptLogic
		}
		if err := st.Set(ctx, "1", []byte(in["a"]), []byte(in["b"]), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			return nil, ScriptInternal
		}
		return map[string]string{"ab": in["a"] + in["b"]}, ScriptOK
	}
	// A script turns scripting on even in the configuration without.
	s := Start(t, WithConfig(ConfigNoScript), WithScript("concat", concat))
	c := dial(t, s)
	if code, out := c.rpc("play_script", "name", "concat", "_a", "x", "_b", "y"); code != 200 || len(out) != 1 || out["_ab"] != "xy" {
		t.Fatalf("play_script concat = %d %v; want 200 _ab=xy", code, out)
	}
	if code, out := c.rpc("get", "DB", "1", "key", "x"); code != 200 || out["value"] != "y" {
		t.Fatalf("the script's write: get = %d %v; want y", code, out)
	}
	if code, out := c.rpc("play_script", "name", "concat", "_fail", "1"); code != 450 || out["ERROR"] != msgScriptFailed || len(out) != 1 {
		t.Fatalf("failing script = %d %v; want 450 and only ERROR", code, out)
	}
	if code, _ := c.rpc("play_script", "name", "echo"); code != 501 {
		t.Fatalf("play_script echo = %d; want 501: the default scripts are not part of %s", code, ConfigNoScript)
	}
	// The binary form passes keys without the underscore.
	req := []byte{0xB4, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 2}
	req = append(req, "concat"...)
	for _, kv := range [][2]string{{"a", "p"}, {"b", "q"}} {
		req = binary.BigEndian.AppendUint32(req, 1)
		req = binary.BigEndian.AppendUint32(req, 1)
		req = append(req, kv[0]+kv[1]...)
	}
	c.write(req)
	want, _ := hex.DecodeString("b4000000010000000200000002" + hex.EncodeToString([]byte("abpq")))
	if got := c.read(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("binary play_script = %x; want %x", got, want)
	}
}

func TestWaitReleasedBySignal(t *testing.T) {
	s := Start(t)
	waiter, signaller := dial(t, s), dial(t, s)
	waiter.send("set", "key", "k", "value", "v", "WAIT", "cond", "WAITTIME", "30")
	// The waiter registers asynchronously; SIGNALED says when one was woken.
	for {
		code, out := signaller.rpc("void", "SIGNAL", "cond")
		if code != 200 {
			t.Fatalf("SIGNAL = %d %v", code, out)
		}
		if out["SIGNALED"] == "1" {
			break
		}
		if out["SIGNALED"] != "0" {
			t.Fatalf("SIGNALED = %q; want 0 or 1", out["SIGNALED"])
		}
	}
	if code, out := waiter.reply(); code != 200 || len(out) != 0 {
		t.Fatalf("released set = %d %v; want 200", code, out)
	}
	if code, out := signaller.rpc("get", "key", "k"); code != 200 || out["value"] != "v" {
		t.Fatalf("get after the released set = %d %v", code, out)
	}
}

func TestExpiryIsWholeSeconds(t *testing.T) {
	clock := testclock.NewManual(time.Unix(1_000_000, 300_000_000))
	s := Start(t, WithClock(clock))
	c := dial(t, s)
	if code, _ := c.rpc("set", "key", "k", "value", "v", "xt", "5"); code != 200 {
		t.Fatalf("set = %d", code)
	}
	if code, out := c.rpc("get", "key", "k"); code != 200 || out["xt"] != "1000005" {
		t.Fatalf("get = %d %v; want xt=1000005 (now, whole seconds, + 5)", code, out)
	}
	clock.Advance(5*time.Second + 690*time.Millisecond) // 1000005.99: the last visible second
	if code, _ := c.rpc("get", "key", "k"); code != 200 {
		t.Fatalf("get during second xt = %d; want 200", code)
	}
	clock.Advance(10 * time.Millisecond) // 1000006.0: now > xt
	if code, _ := c.rpc("get", "key", "k"); code != 450 {
		t.Fatalf("get after second xt = %d; want 450", code)
	}
	if code, _ := c.rpc("set", "key", "n", "value", "v", "xt", "0"); code != 200 {
		t.Fatalf("set xt=0 = %d", code)
	}
	if code, out := c.rpc("check", "key", "n"); code != 200 || out["xt"] != "1000006" {
		t.Fatalf("check of xt=0 = %d %v; want visible until the end of the second", code, out)
	}
}

func TestReplicationFollowsLiveWrites(t *testing.T) {
	s := Start(t)
	stream, writer := dial(t, s), dial(t, s)
	stream.write([]byte{0xB1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	if got := stream.read(10); got[0] != 0xB1 || got[1] != 0xB0 {
		t.Fatalf("stream start = %x; want B1 B0 <ts>", got)
	}
	if code, _ := writer.rpc("set", "DB", "1", "key", "k", "value", "v", "xt", "-4102444800"); code != 200 {
		t.Fatalf("set = %d", code)
	}
	if code, _ := writer.rpc("remove", "key", "gone"); code != 450 {
		t.Fatalf("remove of a missing key = %d; want 450", code)
	}
	stream.write([]byte{0xB1})
	// USET in DB 1 with the absolute xt prefix, then the UREMOVE KT logs
	// even for a missing key, then the next NOP.
	for _, msg := range []string{"00010001a101066b00f486570076", "00010000a20467 6f6e65"} {
		msg = strings.ReplaceAll(msg, " ", "")
		head := stream.read(13)
		if head[0] != 0xB1 || binary.BigEndian.Uint32(head[9:]) != uint32(len(msg)/2) {
			t.Fatalf("record head = %x; want B1 <ts> size %d", head, len(msg)/2)
		}
		if got := hex.EncodeToString(stream.read(len(msg) / 2)); got != msg {
			t.Fatalf("message = %s; want %s", got, msg)
		}
	}
	nop := stream.read(9)
	if nop[0] != 0xB0 || binary.BigEndian.Uint64(nop[1:]) != s.Store().LogPosition() {
		t.Fatalf("NOP = %x; want B0 and the last record's position %d", nop, s.Store().LogPosition())
	}
	stream.write([]byte{0x00}) // anything but B1 ends the stream
	stream.expectEOF()
}

func TestRESTExpiryHeader(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	c.write([]byte("PUT /1/k HTTP/1.1\r\nX-Kt-Xt: Fri, 01 Jan 2100 00:00:00 GMT\r\nContent-Length: 1\r\n\r\nv"))
	if rep, err := readHTTPReply(c.r, false); err != nil || rep.status != 201 {
		t.Fatalf("PUT = %+v, %v; want 201", rep, err)
	}
	c.write([]byte("HEAD /%25/k HTTP/1.1\r\n\r\n"))
	rep, err := readHTTPReply(c.r, true)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"Server", ktwire.ServerName}, {"Content-Length", "1"}, {"X-Kt-Xt", "Fri, 01 Jan 2100 00:00:00 GMT"}}
	if rep.status != 200 || fmt.Sprint(rep.headers) != fmt.Sprint(want) {
		t.Fatalf("HEAD = %d %q; want 200 %q", rep.status, rep.headers, want)
	}
}

func TestHTTPChunkedBodyAndLimit(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	c.write([]byte("POST /rpc/echo HTTP/1.1\r\nContent-Type: text/tab-separated-values\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4\r\na\tb\n\r\n3\r\nc\td\r\n0\r\n\r\n"))
	if code, out := c.reply(); code != 200 || out["a"] != "b" || out["c"] != "d" {
		t.Fatalf("chunked echo = %d %v; want a=b c=d", code, out)
	}
	c.write([]byte("POST /rpc/echo HTTP/1.1\r\nContent-Length: 268435457\r\n\r\n"))
	rep, err := readHTTPReply(c.r, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.status != 413 || !strings.HasPrefix(string(rep.body), "413 Request Entity Too Large (") {
		t.Fatalf("oversize body = %d %q; want 413", rep.status, rep.body)
	}
	c.expectEOF()
}

func TestReportCounters(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	c.rpc("set", "key", "k", "value", "v")
	c.rpc("get", "key", "k")
	c.rpc("get", "key", "missing")
	c.rpc("remove", "key", "missing")
	code, out := c.rpc("report")
	if code != 200 {
		t.Fatalf("report = %d", code)
	}
	for k, want := range map[string]string{
		"cnt_set": "1", "cnt_get": "1", "cnt_get_misses": "1", "cnt_remove_misses": "1",
		"db_0": "count=1 size=8390639 path=*", "db_total_count": "1", "serv_conn_count": "1",
	} {
		if out[k] != want {
			t.Errorf("report %s = %q; want %q", k, out[k], want)
		}
	}
}

func TestWithDatabases(t *testing.T) {
	s := Start(t, WithDatabases(Database{Name: "users.kct", Ordered: true}, Database{Name: "cache.kch"}))
	c := dial(t, s)
	if code, out := c.rpc("report"); code != 200 || !strings.HasSuffix(out["db_0"], "path=users.kct") || !strings.HasSuffix(out["db_1"], "path=cache.kch") || out["db_2"] != "" {
		t.Fatalf("report = %d db_0=%q db_1=%q db_2=%q", code, out["db_0"], out["db_1"], out["db_2"])
	}
	if code, _ := c.rpc("set", "DB", "cache.kch", "key", "k", "value", "v"); code != 200 {
		t.Fatalf("set by name = %d", code)
	}
	if code, out := c.rpc("get", "DB", "1", "key", "k"); code != 200 || out["value"] != "v" {
		t.Fatalf("get by index = %d %v", code, out)
	}
	// Only the tree database moves backwards.
	if code, _ := c.rpc("cur_jump_back", "DB", "users.kct", "CUR", "1"); code != 450 {
		t.Fatalf("cur_jump_back on the empty tree = %d; want 450", code)
	}
	if code, _ := c.rpc("cur_jump_back", "DB", "cache.kch", "CUR", "2"); code != 501 {
		t.Fatalf("cur_jump_back on the hash = %d; want 501", code)
	}
	if code, _ := c.rpc("status", "DB", "%"); code != 400 {
		t.Fatalf("status of a default database that is not configured = %d; want 400", code)
	}
	for _, bad := range [][]Database{nil, {{Name: ""}}, {{Name: "1x"}}, {{Name: "a"}, {Name: "a"}}} {
		if _, err := New(WithDatabases(bad...)); err == nil {
			t.Errorf("WithDatabases(%+v) was accepted", bad)
		}
	}
}

// cur_jump to a missing key: a tree cursor lands on the next key, a hash
// cursor fails with 450 and is left unpositioned, as Kyoto Cabinet's hash
// databases find a key only by its hash.
func TestCurJumpMissingKey(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	for _, db := range []string{"0", "1"} {
		if code, _ := c.rpc("set_bulk", "DB", db, "_a", "1", "_c", "3"); code != 200 {
			t.Fatalf("set_bulk on DB %s = %d", db, code)
		}
	}
	if code, _ := c.rpc("cur_jump", "DB", "1", "CUR", "1", "key", "b"); code != 200 {
		t.Fatalf("cur_jump to a missing key on the tree = %d; want 200", code)
	}
	if code, out := c.rpc("cur_get_key", "CUR", "1"); code != 200 || out["key"] != "c" {
		t.Fatalf("tree cursor after jumping to b: %d %v; want key c", code, out)
	}
	if code, _ := c.rpc("cur_jump", "DB", "0", "CUR", "2", "key", "a"); code != 200 {
		t.Fatalf("cur_jump to a present key on the hash = %d; want 200", code)
	}
	if code, out := c.rpc("cur_get_key", "CUR", "2"); code != 200 || out["key"] != "a" {
		t.Fatalf("hash cursor after jumping to a: %d %v; want key a", code, out)
	}
	if code, out := c.rpc("cur_jump", "CUR", "2", "key", "b"); code != 450 || out["ERROR"] != msgNoRecord {
		t.Fatalf("cur_jump to a missing key on the hash = %d %v; want 450 %q", code, out, msgNoRecord)
	}
	if code, _ := c.rpc("cur_get_key", "CUR", "2"); code != 450 {
		t.Fatalf("cur_get_key after a failed jump on the hash = %d; want 450 (unpositioned)", code)
	}
	if n := s.CursorCount(); n != 2 {
		t.Fatalf("CursorCount = %d; want 2", n)
	}
}

func TestCursorCount(t *testing.T) {
	s := Start(t)
	ctx := testContext(t)
	a, b := dial(t, s), dial(t, s)
	// A CUR parameter creates a cursor, even on a procedure that does not
	// use it; cur_delete deletes it, and a closed connection frees its own.
	a.rpc("cur_jump", "DB", "%", "CUR", "1")
	a.rpc("get", "key", "k", "CUR", "2")
	b.rpc("cur_jump", "CUR", "1")
	if n := s.CursorCount(); n != 3 {
		t.Fatalf("CursorCount = %d; want 3", n)
	}
	if code, _ := a.rpc("cur_delete", "CUR", "1"); code != 200 {
		t.Fatalf("cur_delete = %d", code)
	}
	if code, _ := a.rpc("cur_delete", "CUR", "1"); code != 501 {
		t.Fatalf("second cur_delete = %d; want 501", code)
	}
	if n := s.CursorCount(); n != 3 {
		// The second cur_delete made a fresh cursor, as KT's does.
		t.Fatalf("CursorCount after cur_delete of an unknown cursor = %d; want 3", n)
	}
	a.nc.Close()
	if err := s.WaitCursorCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.KillConnections()
	if err := s.WaitCursorCount(ctx, 0); err != nil {
		t.Fatal(err)
	}
}
