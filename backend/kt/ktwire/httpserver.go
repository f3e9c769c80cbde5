package ktwire

import (
	"bufio"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file is the server's half of the HTTP framing: how ktserver reads a
// request and lays out its response. It is lenient where the server is
// (the client's half in http.go is strict on purpose).

const (
	// MaxRequestLine is the longest request or header line the server
	// keeps; the rest of a longer line is read as the next line.
	MaxRequestLine = 8191
	// MaxRequestBody is the server's request body limit; a larger body
	// gets 413.
	MaxRequestBody = 1 << 28
	// ServerName is the Server header value of ktserver 0.9.56b.
	ServerName = "KyotoTycoon/0.9.56b"
	// HTTPTime is the RFC 1123 layout of the Date and X-Kt-Xt headers.
	HTTPTime = "Mon, 02 Jan 2006 15:04:05 GMT"
)

// Request is one HTTP/1.x request as the server reads it.
type Request struct {
	Method string
	// Target is the request target as sent; Path and Query are its parts
	// before and after the first '?', still URL-encoded.
	Target string
	Path   string
	Query  string
	// Version is "HTTP/1.0" or "HTTP/1.1", the only ones the server reads.
	Version string
	// Header holds lower-case names; a repeated header keeps its last
	// value.
	Header map[string]string
	Body   []byte
	// KeepAlive says whether the connection stays open after the reply.
	KeepAlive bool
}

// ErrMalformedRequest means the request line cannot be parsed; the server
// closes the connection without a response.
var ErrMalformedRequest = errors.New("kt http: malformed request")

// HTTPError is a failure of the HTTP layer itself, which the server answers
// with AppendErrorResponse before it closes the connection.
type HTTPError struct {
	// Code is the HTTP status, 400 or 413.
	Code int
	// Msg is the explanation the server puts in parentheses.
	Msg string
}

// Error gives the status code and the message.
func (e *HTTPError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Msg) }

// readRequestLine reads one line as the server does: it ends at LF, every
// CR is dropped, and at most MaxRequestLine bytes are taken.
func readRequestLine(r *bufio.Reader) (string, error) {
	var b []byte
	for len(b) < MaxRequestLine {
		c, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '\n':
			return string(b), nil
		case '\r':
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

// ReadRequest reads a request. ErrMalformedRequest and I/O errors mean the
// server closes without a response; an *HTTPError means it answers with
// that error, then closes.
func ReadRequest(r *bufio.Reader) (*Request, error) {
	line, err := readRequestLine(r)
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || target == "" || (version != "HTTP/1.0" && version != "HTTP/1.1") {
		return nil, ErrMalformedRequest
	}
	req := &Request{Method: method, Target: target, Version: version, Header: map[string]string{}}
	req.Path, req.Query, _ = strings.Cut(target, "?")
	for {
		line, err := readRequestLine(r)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		req.Header[strings.ToLower(strings.TrimSpace(name))] = strings.TrimLeft(value, " \t")
	}
	req.KeepAlive = version == "HTTP/1.1"
	switch conn := req.Header["connection"]; {
	case strings.EqualFold(conn, "close"):
		req.KeepAlive = false
	case strings.EqualFold(conn, "keep-alive"):
		req.KeepAlive = true
	}
	switch method {
	case "GET", "HEAD", "DELETE":
		// The server reads no body for these; one that was sent stays in
		// the stream as the next request.
		return req, nil
	}
	if cl, ok := req.Header["content-length"]; ok {
		n := Atoi(cl)
		if n > MaxRequestBody {
			return nil, &HTTPError{413, "the request body is too long"}
		}
		if n > 0 {
			if req.Body, err = appendN(nil, r, int(n)); err != nil {
				return nil, &HTTPError{400, "reading the request body failed"}
			}
		}
		return req, nil
	}
	if strings.EqualFold(strings.TrimSpace(req.Header["transfer-encoding"]), "chunked") {
		if req.Body, err = readRequestChunked(r); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// readRequestChunked reads a chunked request body up to the zero chunk; the
// server supports no trailers.
func readRequestChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readRequestLine(r)
		if err != nil {
			return nil, &HTTPError{400, "reading the chunk size failed"}
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return nil, &HTTPError{400, "invalid chunk size"}
		}
		if size == 0 {
			if _, err := readRequestLine(r); err != nil {
				return nil, &HTTPError{400, "reading the last chunk failed"}
			}
			return body, nil
		}
		if int64(len(body))+size > MaxRequestBody {
			return nil, &HTTPError{413, "the request body is too long"}
		}
		if body, err = appendN(body, r, int(size)); err != nil {
			return nil, &HTTPError{400, "reading a chunk failed"}
		}
		if _, err := readRequestLine(r); err != nil {
			return nil, &HTTPError{400, "reading a chunk failed"}
		}
	}
}

// Reason returns the reason phrase the server sends with a status code.
func Reason(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 450:
		return "Logical Inconsistency"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	}
	return "Unknown Status"
}

// appendHeaderName appends name with its first letter and every letter
// after '-' or ' ' upper-cased, as the server writes handler headers.
func appendHeaderName(dst []byte, name string) []byte {
	up := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
		up = c == '-' || c == ' '
	}
	return dst
}

// appendResponseHead appends the status line and the headers every response
// starts with.
func appendResponseHead(dst []byte, now time.Time, code int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, Reason(code)...)
	dst = append(dst, "\r\nServer: "+ServerName+"\r\nDate: "...)
	dst = now.UTC().AppendFormat(dst, HTTPTime)
	return append(dst, "\r\n"...)
}

// AppendResponse appends a response in the server's layout: status line,
// Server, Date, Connection: close when closing, Content-Length (not for
// HEAD or 304), then the handler's headers (lower-case names) sorted by
// name, capitalised, their values' blanks folded to single spaces; head
// leaves the body out.
func AppendResponse(dst []byte, now time.Time, head, keepAlive bool, code int, header map[string]string, body []byte) []byte {
	dst = appendResponseHead(dst, now, code)
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	if !head && code != 304 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	var names []string
	if len(header) > 0 {
		names = make([]string, 0, len(header))
		for name := range header {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	for _, name := range names {
		dst = appendHeaderName(dst, name)
		dst = append(dst, ": "...)
		for i, f := range strings.Fields(header[name]) {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, f...)
		}
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	if !head {
		dst = append(dst, body...)
	}
	return dst
}

// AppendErrorResponse appends the plain-text error the server's HTTP layer
// sends before it closes the connection.
func AppendErrorResponse(dst []byte, now time.Time, e *HTTPError) []byte {
	body := fmt.Sprintf("%d %s (%s)\n", e.Code, Reason(e.Code), e.Msg)
	dst = appendResponseHead(dst, now, e.Code)
	dst = append(dst, "Connection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nContent-Type: text/plain\r\n\r\n"...)
	return append(dst, body...)
}

// ParseForm decodes form data (a query string or an
// application/x-www-form-urlencoded body) as the server does: '&' and ';'
// both separate pairs, leading blanks of a pair are skipped, names and
// values are URL-decoded. Repeated names are kept, in order.
func ParseForm(s string) []Pair {
	var pairs []Pair
	for pair := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '&' || r == ';' }) {
		pair = strings.TrimLeftFunc(pair, func(r rune) bool { return r >= 1 && r <= ' ' })
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		pairs = append(pairs, Pair{Key: Decode([]byte(name), URL), Value: Decode([]byte(value), URL)})
	}
	return pairs
}

// Atoi reads a number the way Kyoto Cabinet's atoi does: leading control
// characters and blanks (any byte from 1 to ' '), an optional sign, digits
// up to the first non-digit, no overflow check; anything else is 0.
func Atoi(s string) int64 {
	i := 0
	for i < len(s) && s[i] > 0 && s[i] <= ' ' {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg, i = s[i] == '-', i+1
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}
