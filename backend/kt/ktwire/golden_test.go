package ktwire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/golden"
)

// responseBody returns the recorded body of r.
func responseBody(t *testing.T, r *golden.Response) []byte {
	if r.BodyText != nil {
		return []byte(*r.BodyText)
	}
	if r.BodyHex != nil {
		return golden.Hex(t, *r.BodyHex)
	}
	return nil
}

// responseWire rebuilds the response bytes as the server sent them: the
// recorded headers with a Date after Server.
func responseWire(t *testing.T, r *golden.Response) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", r.Status, r.Reason)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		if h[0] == "Server" {
			b.WriteString("Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n")
		}
	}
	b.WriteString("\r\n")
	b.Write(responseBody(t, r))
	return b.Bytes()
}

// responseHeader returns the value of the recorded header name.
func responseHeader(r *golden.Response, name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// parseBinaryRequest decodes the binary request at the start of b with the
// server's decoders and re-encodes it with the client's encoders. ok is
// false for the deliberately broken requests of the transcripts (bad magic,
// oversize, truncated).
func parseBinaryRequest(b []byte) (reencoded []byte, n int, ok bool) {
	r := bytes.NewReader(b)
	reencoded, err := decodeRequest(r)
	if err != nil {
		return nil, 0, false
	}
	return reencoded, len(b) - r.Len(), true
}

// decodeRequest reads one binary request with the server's decoders and
// returns its re-encoding by the client's encoders.
func decodeRequest(r *bytes.Reader) ([]byte, error) {
	magic, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	switch magic {
	case MagicSetBulk:
		flags, n, err := ReadBulkHeader(r)
		if err != nil {
			return nil, err
		}
		var recs []Record
		for range n {
			rec, err := ReadRecord(r)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		return AppendSetBulk(nil, flags, recs), nil
	case MagicRemoveBulk, MagicGetBulk:
		flags, n, err := ReadBulkHeader(r)
		if err != nil {
			return nil, err
		}
		var keys []KeyRef
		for range n {
			k, err := ReadKeyRef(r)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		if magic == MagicRemoveBulk {
			return AppendRemoveBulk(nil, flags, keys), nil
		}
		if flags != 0 {
			return nil, fmt.Errorf("%w: get_bulk flags %#x, which the encoder never sends", ErrProtocol, flags)
		}
		return AppendGetBulk(nil, keys), nil
	case MagicPlayScript:
		flags, name, args, err := ReadPlayScriptRequest(r)
		if err != nil {
			return nil, err
		}
		return AppendPlayScript(nil, flags, string(name), args), nil
	case MagicReplication:
		flags, ts, sid, err := ReadReplicationRequest(r)
		if err != nil {
			return nil, err
		}
		return AppendReplicationRequest(nil, flags, ts, sid), nil
	}
	return nil, fmt.Errorf("%w: request starts with 0x%02X", ErrProtocol, magic)
}

func TestKTGoldenBinaryRequestsReencode(t *testing.T) {
	checked := 0
	for _, file := range []string{"kt-binary.jsonl", "kt-replication.jsonl"} {
		for _, c := range golden.Load(t, file) {
			for i, s := range c.Steps {
				if s.Request != nil || s.SendHex == "" {
					continue
				}
				send := golden.Hex(t, s.SendHex)
				for len(send) > 0 && send[0] >= 0x80 {
					re, n, ok := parseBinaryRequest(send)
					if !ok {
						break
					}
					if !bytes.Equal(re, send[:n]) {
						t.Errorf("%s step %d: re-encoded\n%x\nwant\n%x", c.Name, i, re, send[:n])
					}
					send = send[n:]
					checked++
				}
			}
		}
	}
	if checked < 80 {
		t.Errorf("only %d requests checked; the transcripts changed?", checked)
	}
}

// decodeBinaryReplies decodes every reply in b, re-encodes it and returns the
// re-encoded bytes, so that a decoder that drops or misreads a field shows up
// as a difference.
func decodeBinaryReplies(t *testing.T, b []byte) ([]byte, error) {
	r := bytes.NewReader(b)
	var out []byte
	for r.Len() > 0 {
		first, _ := r.ReadByte()
		_ = r.UnreadByte()
		switch first {
		case MagicSetBulk, MagicRemoveBulk:
			n, err := ReadCountReply(r, first)
			if err != nil {
				return out, err
			}
			out = AppendCountReply(out, first, n)
		case MagicGetBulk:
			recs, err := ReadGetBulkReply(r)
			if err != nil {
				return out, err
			}
			out = AppendGetBulkReply(out, recs)
		case MagicPlayScript:
			pairs, err := ReadPlayScriptReply(r)
			if err != nil {
				return out, err
			}
			out = AppendPlayScriptReply(out, pairs)
		case MagicError:
			if _, err := ReadCountReply(r, MagicSetBulk); !errors.Is(err, ErrServer) {
				t.Fatalf("0xBF read as %v, want ErrServer", err)
			}
			out = append(out, MagicError)
		default:
			return out, fmt.Errorf("unknown reply byte %02x", first)
		}
	}
	return out, nil
}

func TestKTGoldenBinaryRepliesDecode(t *testing.T) {
	checked := 0
	for _, c := range golden.Load(t, "kt-binary.jsonl") {
		for i, s := range c.Steps {
			if s.Request != nil || s.ExpectHex == "" {
				continue
			}
			want := golden.Hex(t, s.ExpectHex)
			got, err := decodeBinaryReplies(t, want)
			if err != nil {
				t.Errorf("%s step %d: %v", c.Name, i, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s step %d: decoded and re-encoded\n%x\nwant\n%x", c.Name, i, got, want)
			}
			checked++
		}
	}
	if checked < 60 {
		t.Errorf("only %d replies checked", checked)
	}
}

func TestKTGoldenGetBulkSemantics(t *testing.T) {
	// kt-bin/set_bulk/one-record: "k"="v" in DB 0, never expires.
	recs, err := ReadGetBulkReply(bytes.NewReader(golden.Hex(t, "ba0000000100000000000100000001000000ffffffffff6b76")))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || string(recs[0].Key) != "k" || string(recs[0].Value) != "v" || recs[0].DB != 0 {
		t.Fatalf("records = %+v", recs)
	}
	if recs[0].XT != XTMax || !XTTime(recs[0].XT).IsZero() {
		t.Errorf("XT %d -> %v, want XTMax -> never", recs[0].XT, XTTime(recs[0].XT))
	}
	if got := XTTime(4102444800); got.Unix() != 4102444800 {
		t.Errorf("XTTime(4102444800) = %v", got)
	}
	if !XTTime(XTNever).IsZero() {
		t.Error("INT64_MAX (persistent databases) must read as never")
	}
	// A reply cut short is an error, not a short list.
	if _, err := ReadGetBulkReply(bytes.NewReader(golden.Hex(t, "ba000000010000000000010000000100"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated reply: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := ReadGetBulkReply(bytes.NewReader([]byte{MagicError})); !errors.Is(err, ErrServer) {
		t.Errorf("0xBF: err = %v, want ErrServer", err)
	}
}

func TestKTGoldenReplicationStream(t *testing.T) {
	var sets, removes, clears, fillers, nops int
	for _, c := range golden.Load(t, "kt-replication.jsonl") {
		for i, s := range c.Steps {
			if s.Request != nil || s.ExpectHex == "" || s.SendHex != "" && s.SendHex[:2] != "b1" {
				continue // not the replication connection
			}
			want := golden.Hex(t, s.ExpectHex)
			r := bytes.NewReader(want)
			var got []byte
			if s.SendHex != "" && s.SendHex[:2] == "b1" && len(s.SendHex) == 30 {
				if err := ReadReplicationAccept(r); err != nil {
					if errors.Is(err, ErrServer) && c.Name == "kt-repl/no-ulog/refused" {
						continue
					}
					t.Fatalf("%s step %d: accept: %v", c.Name, i, err)
				}
				got = append(got, MagicReplication)
			}
			for r.Len() > 0 {
				f, err := ReadFrame(r)
				if err != nil {
					t.Fatalf("%s step %d: %v", c.Name, i, err)
				}
				switch f.Kind {
				case FrameNOP:
					nops++
				case FrameFiller:
					fillers++
				case FrameData:
					m, err := ParseMessage(f.Message)
					if err != nil {
						t.Fatalf("%s step %d: %v", c.Name, i, err)
					}
					if re := AppendMessage(nil, m); !bytes.Equal(re, f.Message) {
						t.Errorf("%s: message re-encoded %x, want %x", c.Name, re, f.Message)
					}
					if m.SID != 1 {
						t.Errorf("%s: origin sid %d, want 1", c.Name, m.SID)
					}
					switch m.Op {
					case OpSet:
						sets++
						if _, _, ok := SplitXT(m.Value); !ok {
							t.Errorf("%s: USET value without xt prefix", c.Name)
						}
					case OpRemove:
						removes++
					case OpClear:
						clears++
					}
				}
				got = AppendFrame(got, f)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s step %d: frames re-encoded\n%x\nwant\n%x", c.Name, i, got, want)
			}
		}
	}
	if sets < 10 || removes < 3 || clears < 1 || fillers < 1 || nops < 10 {
		t.Errorf("decoded %d sets, %d removes, %d clears, %d fillers, %d NOPs: fewer than the transcripts hold", sets, removes, clears, fillers, nops)
	}
}

func TestKTGoldenXTPrefix(t *testing.T) {
	// kt-repl/records/xt-prefix: "never" = FFFFFFFFFF and 4102444800 as
	// 00F4865700.
	for _, tc := range []struct {
		msg  string
		key  string
		xt   int64
		user string
	}{
		{"00010000a105066e65766572ffffffffff61", "never", XTMax, "a"},
		{"00010000a1030661627300f486570062", "abs", 4102444800, "b"},
	} {
		m, err := ParseMessage(golden.Hex(t, tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		xt, user, ok := SplitXT(m.Value)
		if !ok || string(m.Key) != tc.key || xt != tc.xt || string(user) != tc.user {
			t.Errorf("%s: key %q xt %d user %q ok %v", tc.msg, m.Key, xt, user, ok)
		}
		if re := AppendXTPrefix(nil, xt); !bytes.Equal(re, m.Value[:5]) {
			t.Errorf("AppendXTPrefix(%d) = %x, want %x", xt, re, m.Value[:5])
		}
	}
}

func TestKTVarnum(t *testing.T) {
	for _, tc := range []struct {
		v   uint64
		hex string
	}{{0, "00"}, {127, "7f"}, {128, "8100"}, {300, "822c"}, {16383, "ff7f"}, {16384, "818000"}, {200, "8148"}, {305, "8231"}} {
		if got := hex.EncodeToString(AppendVarnum(nil, tc.v)); got != tc.hex {
			t.Errorf("AppendVarnum(%d) = %s, want %s", tc.v, got, tc.hex)
		}
		v, n, err := ReadVarnum(golden.Hex(t, tc.hex+"ff"))
		if err != nil || v != tc.v || n != len(tc.hex)/2 {
			t.Errorf("ReadVarnum(%s) = %d, %d, %v", tc.hex, v, n, err)
		}
	}
	if _, _, err := ReadVarnum([]byte{0x81, 0x82}); err == nil {
		t.Error("an unterminated varnum must fail")
	}
	for _, v := range []uint64{1 << 35, 1<<64 - 1} {
		got, _, err := ReadVarnum(AppendVarnum(nil, v))
		if err != nil || got != v {
			t.Errorf("round trip %d = %d, %v", v, got, err)
		}
	}
}

func TestKTGoldenRPC(t *testing.T) {
	requests, responses := 0, 0
	for _, c := range golden.Load(t, "kt-rpc.jsonl") {
		for i, s := range c.Steps {
			if s.Request == nil {
				continue
			}
			send := golden.Hex(t, s.SendHex)
			if proc, pairs, ok := parseSimpleRPC(t, s); ok && RequestEncoding(pairs) == requestEncodingOf(s) {
				if got := AppendRPCRequest(nil, proc, pairs); !bytes.Equal(got, send) {
					t.Errorf("%s step %d: request\n%q\nwant\n%q", c.Name, i, got, send)
				}
				requests++
			}
			if s.Response == nil {
				continue
			}
			wire := responseWire(t, s.Response)
			br := bufio.NewReader(bytes.NewReader(wire))
			resp, err := ReadResponse(br, s.Request.Method == "HEAD")
			if err != nil {
				t.Fatalf("%s step %d: %v", c.Name, i, err)
			}
			if resp.Status != s.Response.Status || resp.ContentType != responseHeader(s.Response, "Content-Type") || br.Buffered() != 0 {
				t.Errorf("%s step %d: status %d content type %q, %d bytes left", c.Name, i, resp.Status, resp.ContentType, br.Buffered())
			}
			if s.Request.Method == "HEAD" {
				continue
			}
			if want := responseBody(t, s.Response); !bytes.Equal(resp.Body, want) {
				t.Errorf("%s step %d: body %q, want %q", c.Name, i, resp.Body, want)
			}
			enc, isTSV := ParseContentType(resp.ContentType)
			if !isTSV || !strings.HasPrefix(s.Request.Target, "/rpc/") {
				continue
			}
			// Decoding then encoding with the server's own rule must give
			// the recorded body back, byte for byte.
			body, ct := ResponseTSV(ParseTSV(resp.Body, enc))
			if !bytes.Equal(body, resp.Body) || ct != resp.ContentType {
				t.Errorf("%s step %d: server encoding rule gives %q (%s), recorded %q (%s)", c.Name, i, body, ct, resp.Body, resp.ContentType)
			}
			responses++
		}
	}
	if requests < 150 || responses < 200 {
		t.Errorf("checked %d requests and %d responses; the transcripts changed?", requests, responses)
	}
}

// parseSimpleRPC decodes a recorded request of the shape the client sends
// (POST /rpc/<proc> with exactly Content-Type and Content-Length).
func parseSimpleRPC(t *testing.T, s golden.Step) (string, []Pair, bool) {
	req := s.Request
	if req.Method != "POST" || req.Version != "HTTP/1.1" || !strings.HasPrefix(req.Target, "/rpc/") || strings.Contains(req.Target, "?") ||
		len(req.Headers) != 2 || req.Headers[0][0] != "Content-Type" || req.Headers[1][0] != "Content-Length" {
		return "", nil, false
	}
	enc, ok := ParseContentType(req.Headers[0][1])
	if !ok {
		return "", nil, false
	}
	send := golden.Hex(t, s.SendHex)
	_, body, _ := bytes.Cut(send, []byte("\r\n\r\n"))
	return strings.TrimPrefix(req.Target, "/rpc/"), ParseTSV(body, enc), true
}

func requestEncodingOf(s golden.Step) Encoding {
	enc, _ := ParseContentType(s.Request.Headers[0][1])
	if s.Request.Headers[0][1] != ContentType(enc) {
		return 0xFF // a spelling the encoder never produces
	}
	return enc
}

func TestKTColumnEncodings(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, enc := range []Encoding{Raw, Base64, URL, Quoted} {
		in := all
		if enc == Raw {
			in = []byte("plain text é")
		}
		if got := Decode(AppendEncoded(nil, in, enc), enc); !bytes.Equal(got, in) {
			t.Errorf("%c: round trip lost bytes: %x", enc, got)
		}
	}
	// The server's decoders are lenient; these are its documented quirks.
	for _, tc := range []struct {
		enc      Encoding
		in, want string
	}{
		{URL, "a+b%20c%2", "a b c"},
		{URL, "%E6%9d%b1 x", "\xe6\x9d\xb1x"},
		{URL, "%zz", "\x00"},
		{Quoted, "a=3Db=\r\nc\x01", "a=bc"},
		{Base64, "YW\nJj ZA==ignored", "abcd"},
		{Base64, "YWJjZA", "abcd"},
	} {
		if got := Decode([]byte(tc.in), tc.enc); string(got) != tc.want {
			t.Errorf("Decode(%q, %c) = %q, want %q", tc.in, tc.enc, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ct  string
		enc Encoding
		tsv bool
	}{
		{"text/tab-separated-values", Raw, true},
		{"text/tab-separated-values; colenc=B", Base64, true},
		{"text/tab-separated-values; charset=UTF-8; colenc=b", Base64, true},
		{`Text/Tab-Separated-Values;colenc="U"`, URL, true},
		{"text/tab-separated-values; colenc=Q", Quoted, true},
		{"text/plain", Raw, false},
		{"", Raw, false},
	} {
		enc, tsv := ParseContentType(tc.ct)
		if enc != tc.enc || tsv != tc.tsv {
			t.Errorf("ParseContentType(%q) = %c, %v", tc.ct, enc, tsv)
		}
	}
}

func TestKTParseTSVLines(t *testing.T) {
	got := ParseTSV([]byte("a\t1\r\nno tab\n\nb\tx\ty\nlast\tz"), Raw)
	want := []Pair{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("x\ty")}, {[]byte("last"), []byte("z")}}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("line %d = %q", i, got[i])
		}
	}
}

func TestKTReadResponseFraming(t *testing.T) {
	for _, tc := range []struct {
		name, wire string
		status     int
		body       string
		close      bool
	}{
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n", 200, "abcd", false},
		{"close-delimited", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request (x)\n", 400, "400 Bad Request (x)\n", true},
		{"http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"bare LF", "HTTP/1.1 450 Logical Inconsistency\nContent-Length: 1\n\nx", 450, "x", false},
	} {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tc.wire)), false)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if resp.Status != tc.status || string(resp.Body) != tc.body || resp.Close != tc.close {
			t.Errorf("%s: %+v", tc.name, resp)
		}
	}
	for _, bad := range []string{
		"",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
		"SSH-2.0 hello\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
	} {
		if _, err := ReadResponse(bufio.NewReader(strings.NewReader(bad)), false); err == nil {
			t.Errorf("ReadResponse(%q) succeeded", bad)
		}
	}
	if _, err := ReadResponse(bufio.NewReader(strings.NewReader("")), false); err != io.EOF {
		t.Errorf("empty stream: err = %v, want io.EOF (the server closed between requests)", err)
	}
}
