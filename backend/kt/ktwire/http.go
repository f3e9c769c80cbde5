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
// Content-Length, by chunked transfer coding, or, when there is neither, by
// the end of the stream (Close is then set). headOnly says the request was a
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
	if err != nil || len(codeText) != 3 || !allDigits(codeText, 10) || code < 100 {
		return nil, fmt.Errorf("%w: bad HTTP status line %q", ErrProtocol, truncate(line))
	}
	resp := &Response{Status: code, Reason: reason, Close: proto == "HTTP/1.0"}
	contentLength := int64(-1)
	chunked, ctSeen := false, false
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
		// Strict field syntax: a line without a colon, a folded
		// continuation line or whitespace in a name would make the
		// fields mean different things to different readers.
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\v\f") {
			return nil, fmt.Errorf("%w: bad header line %q", ErrProtocol, truncate(line))
		}
		value = strings.Trim(value, " \t")
		switch strings.ToLower(name) {
		case "content-length":
			// Digits only (ParseInt would take a sign), and one value:
			// differing lengths leave the end of the body ambiguous.
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || !allDigits(value, 10) || contentLength >= 0 && n != contentLength {
				return nil, fmt.Errorf("%w: bad Content-Length %q", ErrProtocol, truncate(value))
			}
			contentLength = n
		case "content-type":
			// It picks the body's column encoding: two different ones
			// leave the body's meaning ambiguous.
			if ctSeen && value != resp.ContentType {
				return nil, fmt.Errorf("%w: two Content-Type headers, %q and %q", ErrProtocol, truncate(resp.ContentType), truncate(value))
			}
			resp.ContentType, ctSeen = value, true
		case "connection":
			switch strings.ToLower(value) {
			case "close":
				resp.Close = true
			case "keep-alive":
				resp.Close = false
			}
		case "transfer-encoding":
			// Any other coding would leave the body undelimited or
			// encoded in a way this reader cannot undo.
			if !strings.EqualFold(value, "chunked") {
				return nil, fmt.Errorf("%w: unsupported Transfer-Encoding %q", ErrProtocol, truncate(value))
			}
			chunked = true
		}
	}
	if chunked && proto == "HTTP/1.0" {
		// HTTP/1.0 has no transfer codings: such framing is faulty
		// (RFC 9112, section 6.1), and readers disagree on the body.
		return nil, fmt.Errorf("%w: Transfer-Encoding in an HTTP/1.0 response", ErrProtocol)
	}
	switch {
	case headOnly || code == 204 || code == 304 || code < 200:
	case chunked:
		resp.Body, err = readChunked(r)
	case contentLength >= 0:
		if contentLength > MaxBody {
			return nil, fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, contentLength)
		}
		resp.Body, err = appendN(nil, r, int(contentLength))
	default:
		// Neither length nor chunks: the body runs to the end of the
		// stream (RFC 9112, section 6.3), even on a connection that was
		// to stay open. Reading it as empty would leave it to be taken
		// for the next response.
		resp.Close = true
		resp.Body, err = io.ReadAll(io.LimitReader(r, MaxBody+1))
		if err == nil && len(resp.Body) > MaxBody {
			return nil, ErrBodyTooLarge
		}
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
		sizeText = strings.TrimSpace(sizeText)
		size, err := strconv.ParseInt(sizeText, 16, 64)
		if err != nil || !allDigits(sizeText, 16) {
			return nil, fmt.Errorf("%w: bad chunk size %q", ErrProtocol, truncate(line))
		}
		if size == 0 {
			for i := 0; ; i++ {
				trailer, err := readLine(r)
				if err != nil {
					return nil, unexpectedEOF(err)
				}
				if trailer == "" {
					return body, nil
				}
				if i >= maxHeaders {
					return nil, fmt.Errorf("%w: more than %d trailer lines", ErrProtocol, maxHeaders)
				}
			}
		}
		if int64(len(body))+size > MaxBody {
			return nil, ErrBodyTooLarge
		}
		if body, err = appendN(body, r, int(size)); err != nil {
			return nil, unexpectedEOF(err)
		}
		// The chunk's data ends with an empty line; anything else means
		// the size was wrong and the stream is out of step.
		end, err := readLine(r)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if end != "" {
			return nil, fmt.Errorf("%w: chunk of %d bytes not followed by CRLF", ErrProtocol, size)
		}
	}
}

// allDigits reports whether s is non-empty and made of digits in base 10 or
// 16 only: strconv would also take a sign.
func allDigits(s string, base int) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || base == 16 && ('a' <= c|0x20 && c|0x20 <= 'f')) {
			return false
		}
	}
	return s != ""
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
