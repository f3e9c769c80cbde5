package ktwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// FuzzKTResponse reads arbitrary bytes as a stream of HTTP responses, for
// a HEAD or another request.
func FuzzKTResponse(f *testing.F) {
	seen := map[string]bool{}
	add := func(headOnly bool, b []byte) {
		k := strconv.FormatBool(headOnly) + string(b)
		if !seen[k] {
			seen[k] = true
			f.Add(headOnly, b)
		}
	}
	// Every recorded HTTP response, KT's and TT's, and a pipelined pair.
	var last []byte
	for _, c := range golden.Load(f, "kt-rpc.jsonl", "kt-binary.jsonl", "tt-binary.jsonl") {
		for _, s := range c.Steps {
			if s.Response == nil {
				continue
			}
			b := recordedResponse(f, s.Response)
			head := s.Request != nil && s.Request.Method == "HEAD"
			add(head, b)
			if !head {
				add(false, append(append([]byte{}, last...), b...))
				last = b
			}
		}
	}
	for _, b := range []string{
		"",
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 100663296\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Type : text/plain\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n ; colenc=B\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/tab-separated-values; colenc=B\r\nContent-Type: text/tab-separated-values\r\nContent-Length: 9\r\n\r\nYQ==\tYg==\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5ffffff\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0;ext=1\r\nTrailer: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Type: text/tab-separated-values; colenc=B\r\n\r\nYQ==\tYg==\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\r\n\r\nno length on a kept-alive connection",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 +20 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "garbage\n",
		"HTTP/1.1 450 Logical Inconsistency\r\nContent-Type: text/tab-separated-values\r\nContent-Length: 15\r\n\r\nERROR\tno record",
	} {
		add(false, []byte(b))
		add(true, []byte(b))
	}
	f.Fuzz(func(t *testing.T, headOnly bool, data []byte) {
		br := newSmallReader(data)
		for i := 0; ; i++ {
			var resp *Response
			var err error
			allocmeter.Check(t, len(data), func() { resp, err = ReadResponse(br, headOnly) })
			if err != nil {
				switch {
				case errors.Is(err, ErrProtocol), errors.Is(err, ErrBodyTooLarge), errors.Is(err, io.ErrUnexpectedEOF):
				case err == io.EOF && (i > 0 || len(data) == 0):
				default:
					t.Fatalf("response %d: unclassified error %T: %v", i, err, err)
				}
				return
			}
			checkResponse(t, resp, headOnly)
			allocmeter.Check(t, len(resp.Body), func() { DecodeBody(resp) })
			if i == 0 {
				compareWithNetHTTP(t, data, headOnly, resp)
			}
		}
	})
}

// compareWithNetHTTP reads the first response in data with net/http as
// well. The two readers differ in what they tolerate, but where both
// accept a response they must agree on where its body ends: a reader that
// frames garbage differently gives a wrong answer.
func compareWithNetHTTP(t *testing.T, data []byte, headOnly bool, resp *Response) {
	t.Helper()
	method := http.MethodPost
	if headOnly {
		method = http.MethodHead
	}
	hr, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: method})
	if err != nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, MaxBody+1))
	if err != nil {
		return
	}
	ct := strings.TrimSpace(hr.Header.Get("Content-Type"))
	if hr.StatusCode != resp.Status || !bytes.Equal(body, resp.Body) || ct != resp.ContentType {
		t.Fatalf("%q: status %d, body %q, type %q; net/http reads status %d, body %q, type %q",
			data, resp.Status, resp.Body, resp.ContentType, hr.StatusCode, body, ct)
	}
}

// checkResponse checks a decoded response against what the reader
// promises, then writes it out plainly and reads it again: the second
// reading must give the same response.
func checkResponse(t *testing.T, resp *Response, headOnly bool) {
	t.Helper()
	if resp.Status < 100 || resp.Status > 999 {
		t.Fatalf("status %d", resp.Status)
	}
	noBody := headOnly || resp.Status == 204 || resp.Status == 304 || resp.Status < 200
	if noBody && resp.Body != nil {
		t.Fatalf("status %d (HEAD %v) with a body of %d bytes", resp.Status, headOnly, len(resp.Body))
	}
	if len(resp.Body) > MaxBody {
		t.Fatalf("body of %d bytes", len(resp.Body))
	}
	b := []byte("HTTP/1.1 " + strconv.Itoa(resp.Status) + " " + resp.Reason + "\r\n")
	if resp.ContentType != "" {
		b = append(b, "Content-Type: "+resp.ContentType+"\r\n"...)
	}
	if resp.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	if !noBody {
		b = append(b, "Content-Length: "+strconv.Itoa(len(resp.Body))+"\r\n"...)
	}
	b = append(append(b, "\r\n"...), resp.Body...)
	again, err := ReadResponse(newSmallReader(b), headOnly)
	if err != nil {
		t.Fatalf("response %+v written as %q: %v", resp, b, err)
	}
	if again.Status != resp.Status || again.Reason != resp.Reason || again.ContentType != resp.ContentType ||
		again.Close != resp.Close || !bytes.Equal(again.Body, resp.Body) {
		t.Fatalf("response %+v written as %q read back as %+v", resp, b, again)
	}
}
