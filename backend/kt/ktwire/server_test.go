package ktwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/test/golden"
)

// The server's lenient decoding, as the test server relies on it.

func TestDecodeURLLikeServer(t *testing.T) {
	for in, want := range map[string]string{
		"a%20b":    "a b",
		"a+b":      "a b",
		"%e6%9D":   "\xe6\x9d",
		"%zz":      "\x00",
		"ab%4":     "ab",
		"a b\x7fc": "abc",
		"%2Fx%":    "/x",
	} {
		if got := string(Decode([]byte(in), URL)); got != want {
			t.Errorf("Decode(%q, URL) = %q; want %q", in, got, want)
		}
	}
}

func TestDecodeBase64IsLenient(t *testing.T) {
	for in, want := range map[string]string{
		"dmFsdWU=":    "value",
		"dm Fs\ndWU=": "value",
		"YQ==YmM=":    "a",
		"YWJj":        "abc",
		"YWI":         "ab",
		"":            "",
		"AAECA/8=":    "\x00\x01\x02\x03\xff",
	} {
		if got := string(Decode([]byte(in), Base64)); got != want {
			t.Errorf("Decode(%q, Base64) = %q; want %q", in, got, want)
		}
	}
}

func TestDecodeQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"nl=0Ahere":      "nl\nhere",
		"soft=\r\nbreak": "softbreak",
		"a\tb":           "ab",
		"x=3d":           "x=",
	} {
		if got := string(Decode([]byte(in), Quoted)); got != want {
			t.Errorf("Decode(%q, Quoted) = %q; want %q", in, got, want)
		}
	}
}

func TestParseContentTypeColenc(t *testing.T) {
	for in, want := range map[string]Encoding{
		"text/tab-separated-values":                          Raw,
		"text/tab-separated-values; colenc=B":                Base64,
		"text/tab-separated-values; charset=UTF-8; colenc=u": URL,
		"text/tab-separated-values;colenc=\"Quoted":          Quoted,
		"text/tab-separated-values; colenc=X":                Raw,
	} {
		if got, ok := ParseContentType(in); got != want || !ok {
			t.Errorf("ParseContentType(%q) = %q, %v; want %q, true", in, got, ok, want)
		}
	}
}

func TestResponseTSVChoosesLikeServer(t *testing.T) {
	for _, tc := range []struct {
		out      []Pair
		body, ct string
	}{
		{nil, "", "text/tab-separated-values"},
		{pairs("b", "2", "a", "1"), "a\t1\nb\t2\n", "text/tab-separated-values"},
		// A control byte forces an encoding; U wins the tie with B.
		{pairs("value", "a\nb"), "value\ta%0ab\n", "text/tab-separated-values; colenc=U"},
		{pairs("value", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"), "dmFsdWU=\tAAECAwQFBgcICQoLDA0ODw==\n", "text/tab-separated-values; colenc=B"},
		// Bytes >= 0x80 alone stay raw.
		{pairs("k", "\xe6\x9d\xb1"), "k\t\xe6\x9d\xb1\n", "text/tab-separated-values"},
		// Lines are sorted by the encoded name: "%09" sorts before "a".
		{pairs("a", "1", "\t", "2"), "%09\t2\na\t1\n", "text/tab-separated-values; colenc=U"},
		// A repeated name keeps its last value.
		{pairs("a", "1", "b", "2", "a", "3"), "a\t3\nb\t2\n", "text/tab-separated-values"},
	} {
		body, ct := ResponseTSV(tc.out)
		if string(body) != tc.body || ct != tc.ct {
			t.Errorf("ResponseTSV(%q) = %q, %q; want %q, %q", tc.out, body, ct, tc.body, tc.ct)
		}
	}
}

func pairs(kv ...string) []Pair {
	var ps []Pair
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, Pair{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return ps
}

func TestParseFormAndTSV(t *testing.T) {
	got := ParseForm("a=1&b=x+y; c=%41&&d&a=2")
	if want := pairs("a", "1", "b", "x y", "c", "A", "d", "", "a", "2"); !equalPairs(got, want) {
		t.Errorf("ParseForm = %q; want %q", got, want)
	}
	got = ParseTSV([]byte("k\tv\tw\r\nnotab\n\nlast\tx"), Raw)
	if want := pairs("k", "v\tw", "last", "x"); !equalPairs(got, want) {
		t.Errorf("ParseTSV = %q; want %q", got, want)
	}
}

func TestReadRequestLikeServer(t *testing.T) {
	raw := "POST /rpc/echo?x=1 HTTP/1.1\r\nContent-Type:  text/plain\r\nbad line\r\ncontent-length: 3\r\n\r\nabcGET /next HTTP/1.0\n\n"
	r := bufio.NewReader(strings.NewReader(raw))
	req, err := ReadRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.Path != "/rpc/echo" || req.Query != "x=1" || string(req.Body) != "abc" || !req.KeepAlive || req.Header["content-type"] != "text/plain" {
		t.Errorf("ReadRequest = %+v", req)
	}
	req, err = ReadRequest(r)
	if err != nil || req.Path != "/next" || req.KeepAlive {
		t.Errorf("second ReadRequest = %+v, %v; want /next without keep-alive", req, err)
	}
	if _, err := ReadRequest(bufio.NewReader(strings.NewReader("nonsense\r\n\r\n"))); !errors.Is(err, ErrMalformedRequest) {
		t.Errorf("malformed request line: %v; want ErrMalformedRequest", err)
	}
	_, err = ReadRequest(bufio.NewReader(strings.NewReader("PUT /k HTTP/1.1\r\nContent-Length: 268435457\r\n\r\n")))
	if he := (*HTTPError)(nil); !errors.As(err, &he) || he.Code != 413 {
		t.Errorf("oversized body: %v; want a 413 HTTPError", err)
	}
	req, err = ReadRequest(bufio.NewReader(strings.NewReader("PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n")))
	if err != nil || string(req.Body) != "abcde" {
		t.Errorf("chunked body = %q, %v; want abcde", req.Body, err)
	}
}

func TestAppendResponseLayout(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	got := string(AppendResponse(nil, now, false, false, 200, map[string]string{"x-kt-error": "a  b", "content-type": "text/plain"}, []byte("hi")))
	want := "HTTP/1.1 200 OK\r\nServer: " + ServerName + "\r\nDate: Sat, 21 Nov 2026 12:00:00 GMT\r\nConnection: close\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nX-Kt-Error: a b\r\n\r\nhi"
	if got != want {
		t.Errorf("AppendResponse =\n%q\nwant\n%q", got, want)
	}
	got = string(AppendResponse(nil, now, true, true, 404, nil, []byte("gone")))
	want = "HTTP/1.1 404 Not Found\r\nServer: " + ServerName + "\r\nDate: Sat, 21 Nov 2026 12:00:00 GMT\r\n\r\n"
	if got != want {
		t.Errorf("AppendResponse for HEAD =\n%q\nwant\n%q", got, want)
	}
}

func TestBinaryRequestsRoundTrip(t *testing.T) {
	recs := []Record{{DB: 1, Key: []byte("k"), Value: []byte("v"), XT: XTNever}, {Key: []byte{}, Value: []byte("w"), XT: 5}}
	r := bufio.NewReader(strings.NewReader(string(AppendSetBulk(nil, FlagNoReply, recs))))
	if m, _ := r.ReadByte(); m != MagicSetBulk {
		t.Fatalf("magic %02x", m)
	}
	flags, n, err := ReadBulkHeader(r)
	if err != nil || flags != FlagNoReply || n != 2 {
		t.Fatalf("ReadBulkHeader = %d, %d, %v", flags, n, err)
	}
	for _, want := range recs {
		got, err := ReadRecord(r)
		if err != nil || got.DB != want.DB || string(got.Key) != string(want.Key) || string(got.Value) != string(want.Value) || got.XT != want.XT {
			t.Errorf("ReadRecord = %+v, %v; want %+v", got, err, want)
		}
	}
	r = bufio.NewReader(strings.NewReader(string(AppendGetBulk(nil, []KeyRef{{DB: 3, Key: []byte("key")}}))[9:]))
	if ref, err := ReadKeyRef(r); err != nil || ref.DB != 3 || string(ref.Key) != "key" {
		t.Errorf("ReadKeyRef = %+v, %v", ref, err)
	}
	r = bufio.NewReader(strings.NewReader(string(AppendPlayScript(nil, 0, "echo", pairs("a", "1")))[1:]))
	if flags, name, args, err := ReadPlayScriptRequest(r); err != nil || flags != 0 || string(name) != "echo" || !equalPairs(args, pairs("a", "1")) {
		t.Errorf("ReadPlayScriptRequest = %d, %q, %q, %v", flags, name, args, err)
	}
	r = bufio.NewReader(strings.NewReader(string(AppendReplicationRequest(nil, FlagWhiteSID, 42, 7))[1:]))
	if flags, ts, sid, err := ReadReplicationRequest(r); err != nil || flags != FlagWhiteSID || ts != 42 || sid != 7 {
		t.Errorf("ReadReplicationRequest = %d, %d, %d, %v", flags, ts, sid, err)
	}
	// A length beyond the limit is refused before anything is read.
	r = bufio.NewReader(strings.NewReader("\x00\x00\x10\x00\x00\x01key"))
	if _, err := ReadKeyRef(r); !errors.Is(err, ErrProtocol) {
		t.Errorf("oversized key: %v; want ErrProtocol", err)
	}
}

func TestEachTSVMatchesParseTSV(t *testing.T) {
	for _, enc := range []Encoding{Raw, Base64, URL, Quoted} {
		want := pairs("name", "value", "k\x01", "v\n2", "", "", "last", "\xff\x00")
		if enc == Raw {
			want = pairs("name", "value", "", "", "last", "\xffz")
		}
		body := AppendTSV(nil, want, enc)
		var got []Pair
		EachTSV(body, enc, func(k, v []byte) {
			got = append(got, Pair{Key: bytes.Clone(k), Value: bytes.Clone(v)})
		})
		if !equalPairs(got, want) || !equalPairs(ParseTSV(body, enc), want) {
			t.Errorf("encoding %q: EachTSV = %q, ParseTSV = %q; want %q", enc, got, ParseTSV(body, enc), want)
		}
	}
}

// TestKTGoldenResponsesReencode rebuilds every recorded HTTP response with
// the server's encoder, from its status, handler headers and body.
func TestKTGoldenResponsesReencode(t *testing.T) {
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) // responseWire's Date
	checked := 0
	for _, c := range golden.Load(t, "kt-rpc.jsonl", "kt-binary.jsonl") {
		for i, s := range c.Steps {
			r := s.Response
			if r == nil || s.Request == nil || r.BodyRegex != "" {
				continue
			}
			head := s.Request.Method == "HEAD"
			body := responseBody(t, r)
			keepAlive := !strings.EqualFold(responseHeader(r, "Connection"), "close")
			var got []byte
			errPrefix := fmt.Sprintf("%d %s (", r.Status, r.Reason)
			if msg, ok := strings.CutPrefix(string(body), errPrefix); ok && strings.HasSuffix(msg, ")\n") {
				got = AppendErrorResponse(nil, date, &HTTPError{Code: r.Status, Msg: strings.TrimSuffix(msg, ")\n")})
			} else {
				header := map[string]string{}
				for _, h := range r.Headers {
					switch name := strings.ToLower(h[0]); {
					case name == "server", name == "connection":
					case name == "content-length" && !head && r.Status != 304:
					default:
						header[name] = h[1]
					}
				}
				got = AppendResponse(nil, date, head, keepAlive, r.Status, header, body)
			}
			if want := responseWire(t, r); !bytes.Equal(got, want) {
				t.Errorf("%s step %d: encoded\n%q\nwant\n%q", c.Name, i, got, want)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("only %d responses checked; the transcripts changed?", checked)
	}
	t.Logf("%d recorded responses re-encoded", checked)
}
