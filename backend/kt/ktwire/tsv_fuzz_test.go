package ktwire

import (
	"bufio"
	"bytes"
	"strconv"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// FuzzKTTSV decodes arbitrary TSV bodies in each column encoding and checks
// that the pairs survive every encoder: the client's request, the server's
// reply rule, and each encoding on its own.
func FuzzKTTSV(f *testing.F) {
	encodings := [4]Encoding{Raw, Base64, URL, Quoted}
	seen := map[string]bool{}
	add := func(enc Encoding, body []byte) {
		k := string(rune(enc)) + string(body)
		if !seen[k] {
			seen[k] = true
			f.Add(byte(enc), body)
		}
	}
	// Every recorded TSV body, request or response, in its own encoding.
	for _, c := range golden.Load(f, "kt-rpc.jsonl") {
		for _, s := range c.Steps {
			if s.Response != nil && (s.Response.BodyText != nil || s.Response.BodyHex != nil) {
				if enc, ok := ParseContentType(headerOf(s.Response.Headers, "Content-Type")); ok {
					add(enc, recordedBody(f, s.Response))
				}
			}
			if s.Request != nil && s.SendHex != "" {
				if enc, ok := ParseContentType(headerOf(s.Request.Headers, "Content-Type")); ok {
					_, body, _ := bytes.Cut(golden.Hex(f, s.SendHex), []byte("\r\n\r\n"))
					add(enc, body)
				}
			}
		}
	}
	for _, enc := range encodings {
		for _, b := range []string{
			"", "\n", "\t", "a\tb", "a\tb\r\n", "a\tb\r\r\n", "no tab\n", "a\tb\tc\n",
			"YWJj\tZA==\n", "YW\nJj ZA==ignored", "====\t=\n", "%\t%4\n", "%zz\t+\n",
			"=\t=\r\n=\n", "=4\t=0D=0A\n", "a=\r\nb\tc\n",
		} {
			add(enc, []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, encByte byte, body []byte) {
		enc := encodings[encByte%4]
		var pairs []Pair
		allocmeter.Check(t, len(body), func() { pairs = ParseTSV(body, enc) })
		// A decoded body survives any encoding the client and the server
		// write; raw only when the encoders would choose it.
		for _, e := range encodings {
			if e == Raw && RequestEncoding(pairs) != Raw {
				continue
			}
			if got := ParseTSV(AppendTSV(nil, pairs, e), e); !equalPairs(got, pairs) {
				t.Fatalf("%c: pairs %q came back as %q", e, pairs, got)
			}
		}
		checkResponseTSV(t, pairs)
		checkRPCRequest(t, pairs)
		// The body as a Content-Type value: any text must be read safely.
		ParseContentType(string(body))
	})
}

// checkResponseTSV checks that a body written by the server's rule reads
// back as the pairs, a repeated name keeping its last value.
func checkResponseTSV(t *testing.T, pairs []Pair) {
	t.Helper()
	body, ct := ResponseTSV(pairs)
	enc, ok := ParseContentType(ct)
	if !ok || enc != ResponseEncoding(pairs) {
		t.Fatalf("ResponseTSV's Content-Type %q reads as %c, %v", ct, enc, ok)
	}
	want := map[string]string{}
	for _, p := range pairs {
		want[string(p.Key)] = string(p.Value)
	}
	got := ParseTSV(body, enc)
	if len(got) != len(want) {
		t.Fatalf("ResponseTSV(%q) = %q: %d lines, want %d", pairs, body, len(got), len(want))
	}
	for _, p := range got {
		if v, ok := want[string(p.Key)]; !ok || v != string(p.Value) {
			t.Fatalf("ResponseTSV(%q) = %q: line %q", pairs, body, p)
		}
	}
}

// checkRPCRequest checks that a request carrying the pairs declares its
// body's true length and that the body reads back as the pairs.
func checkRPCRequest(t *testing.T, pairs []Pair) {
	t.Helper()
	req := AppendRPCRequest(nil, "echo", pairs)
	head, body, ok := bytes.Cut(req, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("request %q has no blank line", req)
	}
	var ct, cl string
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		name, value, _ := bytes.Cut(line, []byte(": "))
		switch string(name) {
		case "Content-Type":
			ct = string(value)
		case "Content-Length":
			cl = string(value)
		}
	}
	if cl != strconv.Itoa(len(body)) {
		t.Fatalf("request %q: Content-Length %s for %d bytes", req, cl, len(body))
	}
	enc, ok := ParseContentType(ct)
	if !ok {
		t.Fatalf("request Content-Type %q is not TSV", ct)
	}
	if got := ParseTSV(body, enc); !equalPairs(got, pairs) {
		t.Fatalf("request body %q reads as %q, want %q", body, got, pairs)
	}
}

func equalPairs(a, b []Pair) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// headerOf returns the value of the first header called name.
func headerOf(headers [][2]string, name string) string {
	for _, h := range headers {
		if bytes.EqualFold([]byte(h[0]), []byte(name)) {
			return h[1]
		}
	}
	return ""
}

// recordedBody returns the recorded body of an HTTP response.
func recordedBody(tb testing.TB, r *golden.Response) []byte {
	switch {
	case r.BodyText != nil:
		return []byte(*r.BodyText)
	case r.BodyHex != nil:
		return golden.Hex(tb, *r.BodyHex)
	}
	return nil
}

// recordedResponse rebuilds a recorded response as the server sent it, a
// Date header after Server included.
func recordedResponse(tb testing.TB, r *golden.Response) []byte {
	b := []byte("HTTP/1.1 " + strconv.Itoa(r.Status) + " " + r.Reason + "\r\n")
	for _, h := range r.Headers {
		b = append(b, h[0]+": "+h[1]+"\r\n"...)
		if h[0] == "Server" {
			b = append(b, "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"...)
		}
	}
	return append(append(b, "\r\n"...), recordedBody(tb, r)...)
}

// newSmallReader reads data through a buffer of bufio's minimum size, so
// that header lines longer than the buffer take the reader's slow path.
func newSmallReader(data []byte) *bufio.Reader {
	return bufio.NewReaderSize(bytes.NewReader(data), 16)
}
