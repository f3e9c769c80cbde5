package ktwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxBody bounds the size of an HTTP response body a reader accepts; the
// server itself refuses request bodies above 256 MiB, and a Base64 reply of
// such a value is a third larger.
const MaxBody = 1<<28 + 1<<27

// maxHeaderLine bounds one status or header line; the server's own limit is
// 8191 bytes.
const maxHeaderLine = 64 << 10

// maxHeaders bounds the number of header lines of one response.
const maxHeaders = 128

// AppendRPCRequest appends a TSV-RPC request for procedure proc: a POST with
// the body's Content-Type and length and nothing else, since the server needs
// no Host header and keeps HTTP/1.1 connections open by default.
func AppendRPCRequest(dst []byte, proc string, pairs []Pair) []byte {
	enc := RequestEncoding(pairs)
	bodyLen := 0
	for _, p := range pairs {
		bodyLen += encodedLen(p.Key, enc) + encodedLen(p.Value, enc) + 2
	}
	dst = append(dst, "POST /rpc/"...)
	dst = append(dst, proc...)
	dst = append(dst, " HTTP/1.1\r\nContent-Type: "...)
	dst = append(dst, ContentType(enc)...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(bodyLen), 10)
	dst = append(dst, "\r\n\r\n"...)
	return AppendTSV(dst, pairs, enc)
}

func encodedLen(b []byte, enc Encoding) int {
	if enc == Base64 {
		return (len(b) + 2) / 3 * 4
	}
	return len(b)
}

// Response is an HTTP response as the server sends it.
type Response struct {
	Status int
	Reason string
	// ContentType is the Content-Type header ("" when absent).
	ContentType string
	// Close is true when the server announced that it closes the connection
	// after this response.
	Close bool
	Body  []byte
}

// ErrBodyTooLarge is returned for a response whose declared body exceeds the
// reader's limit; the connection is then out of step and must be closed.
var ErrBodyTooLarge = errors.New("kt http: response body too large")

// ReadResponse reads one HTTP/1.x response. The body is delimited by
// Content-Length, by chunked transfer coding, or, for a response that closes
// the connection, by the end of the stream. headOnly says the request was a
// HEAD, whose response has no body.
func ReadResponse(r *bufio.Reader, headOnly bool) (*Response, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return nil, fmt.Errorf("%w: bad HTTP status line %q", ErrProtocol, truncate(line))
	}
	codeText, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || code < 100 || code > 999 {
		return nil, fmt.Errorf("%w: bad HTTP status line %q", ErrProtocol, truncate(line))
	}
	resp := &Response{Status: code, Reason: reason, Close: proto == "HTTP/1.0"}
	contentLength := int64(-1)
	chunked := false
	for i := 0; ; i++ {
		line, err := readLine(r)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if line == "" {
			break
		}
		if i >= maxHeaders {
			return nil, fmt.Errorf("%w: more than %d header lines", ErrProtocol, maxHeaders)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: bad Content-Length %q", ErrProtocol, value)
			}
			contentLength = n
		case "content-type":
			resp.ContentType = value
		case "connection":
			switch strings.ToLower(value) {
			case "close":
				resp.Close = true
			case "keep-alive":
				resp.Close = false
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		}
	}
	switch {
	case headOnly || code == 204 || code == 304 || code < 200:
	case chunked:
		resp.Body, err = readChunked(r)
	case contentLength >= 0:
		if contentLength > MaxBody {
			return nil, fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, contentLength)
		}
		resp.Body = make([]byte, contentLength)
		_, err = io.ReadFull(r, resp.Body)
	case resp.Close:
		resp.Body, err = io.ReadAll(io.LimitReader(r, MaxBody))
	}
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	return resp, nil
}

func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%w: bad chunk size %q", ErrProtocol, truncate(line))
		}
		if size == 0 {
			for {
				trailer, err := readLine(r)
				if err != nil {
					return nil, unexpectedEOF(err)
				}
				if trailer == "" {
					return body, nil
				}
			}
		}
		if int64(len(body))+size > MaxBody {
			return nil, ErrBodyTooLarge
		}
		start := len(body)
		body = append(body, make([]byte, size)...)
		if _, err := io.ReadFull(r, body[start:]); err != nil {
			return nil, unexpectedEOF(err)
		}
		if _, err := readLine(r); err != nil {
			return nil, unexpectedEOF(err)
		}
	}
}

// readLine reads one line ending in LF and drops the CR before it.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxHeaderLine {
			return "", fmt.Errorf("%w: header line longer than %d bytes", ErrProtocol, maxHeaderLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		buf = bytes.TrimSuffix(buf[:len(buf)-1], []byte{'\r'})
		return string(buf), nil
	}
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// DecodeBody decodes a TSV-RPC response body according to its Content-Type.
// A body that is not TSV (the server's own HTTP-level errors are plain text)
// yields no pairs.
func DecodeBody(resp *Response) []Pair {
	enc, ok := ParseContentType(resp.ContentType)
	if !ok {
		return nil
	}
	return ParseTSV(resp.Body, enc)
}
