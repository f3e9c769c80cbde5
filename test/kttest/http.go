package kttest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// maxLine is the longest request or header line KT keeps; the rest of a
	// longer line is read as the next line.
	maxLine = 8191
	// maxBody is KT's request body limit (1<<28); larger bodies get 413.
	maxBody = 1 << 28
	// serverHeader is the Server header value of the recorded KT build.
	serverHeader = "KyotoTycoon/0.9.56b"
	// httpTime is the RFC 1123 layout KT uses for Date and X-Kt-Xt.
	httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"
)

// httpRequest is one parsed HTTP/1.x request.
type httpRequest struct {
	method  string
	target  string
	path    string
	query   string
	version string
	// headers holds lower-case names; a repeated header keeps its last
	// value.
	headers map[string]string
	body    []byte
	// keepAlive says whether the connection stays open after the reply.
	keepAlive bool
}

// httpResponse is a handler's answer. Header names are lower case; they
// are written sorted, capitalised after '-' and ' '.
type httpResponse struct {
	code    int
	headers map[string]string
	body    []byte
}

// errHTTPClose means the request cannot be parsed and KT closes the
// connection without a response.
var errHTTPClose = errors.New("kttest: malformed HTTP request")

// httpError is a failure of the HTTP layer itself, which KT answers with a
// plain-text error and a close.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

// readLine reads one line: it ends at LF, every CR is dropped, and at most
// maxLine bytes are taken.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for len(b) < maxLine {
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

// readHTTPRequest reads a request. errHTTPClose and I/O errors mean close
// without a response; *httpError means answer with an error, then close.
func readHTTPRequest(r *bufio.Reader) (*httpRequest, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || target == "" || (version != "HTTP/1.0" && version != "HTTP/1.1") {
		return nil, errHTTPClose
	}
	req := &httpRequest{method: method, target: target, version: version, headers: map[string]string{}}
	req.path, req.query, _ = strings.Cut(target, "?")
	for {
		line, err := readLine(r)
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
		req.headers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimLeft(value, " \t")
	}
	req.keepAlive = version == "HTTP/1.1"
	switch conn := req.headers["connection"]; {
	case strings.EqualFold(conn, "close"):
		req.keepAlive = false
	case strings.EqualFold(conn, "keep-alive"):
		req.keepAlive = true
	}
	switch method {
	case "GET", "HEAD", "DELETE":
		// KT does not read a body for these; one that was sent stays in
		// the stream as the next request.
		return req, nil
	}
	if cl, ok := req.headers["content-length"]; ok {
		n := atoi(cl)
		if n > maxBody {
			return nil, &httpError{413, "the request body is too long"}
		}
		if n > 0 {
			req.body = make([]byte, n)
			if _, err := io.ReadFull(r, req.body); err != nil {
				return nil, &httpError{400, "reading the request body failed"}
			}
		}
		return req, nil
	}
	if strings.EqualFold(strings.TrimSpace(req.headers["transfer-encoding"]), "chunked") {
		body, err := readChunked(r)
		if err != nil {
			return nil, err
		}
		req.body = body
	}
	return req, nil
}

// readChunked reads a chunked body up to the zero chunk; trailers are not
// supported.
func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, &httpError{400, "reading the chunk size failed"}
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil || size < 0 {
			return nil, &httpError{400, "invalid chunk size"}
		}
		if size == 0 {
			if _, err := readLine(r); err != nil {
				return nil, &httpError{400, "reading the last chunk failed"}
			}
			return body, nil
		}
		if int64(len(body))+size > maxBody {
			return nil, &httpError{413, "the request body is too long"}
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, &httpError{400, "reading a chunk failed"}
		}
		body = append(body, chunk...)
		if _, err := readLine(r); err != nil {
			return nil, &httpError{400, "reading a chunk failed"}
		}
	}
}

// reason returns the reason phrase KT sends with a status code.
func reason(code int) string {
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

// capitalizeHeader upper-cases the first letter and every letter after '-'
// or ' ', as KT does for handler headers.
func capitalizeHeader(name string) string {
	b := []byte(name)
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '-' || c == ' '
	}
	return string(b)
}

// writeHTTPResponse writes resp in KT's layout: status line, Server, Date,
// Connection: close when closing, Content-Length (not for HEAD or 304),
// then the handler headers sorted by name.
func writeHTTPResponse(w *bufio.Writer, now time.Time, head, keepAlive bool, resp *httpResponse) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", resp.code, reason(resp.code))
	fmt.Fprintf(w, "Server: %s\r\n", serverHeader)
	fmt.Fprintf(w, "Date: %s\r\n", now.UTC().Format(httpTime))
	if !keepAlive {
		w.WriteString("Connection: close\r\n")
	}
	if !head && resp.code != 304 {
		fmt.Fprintf(w, "Content-Length: %d\r\n", len(resp.body))
	}
	names := make([]string, 0, len(resp.headers))
	for name := range resp.headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "%s: %s\r\n", capitalizeHeader(name), strings.Join(strings.Fields(resp.headers[name]), " "))
	}
	w.WriteString("\r\n")
	if !head {
		w.Write(resp.body)
	}
}

// writeHTTPError writes the plain-text error KT's HTTP layer sends before
// it closes the connection.
func writeHTTPError(w *bufio.Writer, now time.Time, e *httpError) {
	body := fmt.Sprintf("%d %s (%s)\n", e.code, reason(e.code), e.msg)
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", e.code, reason(e.code))
	fmt.Fprintf(w, "Server: %s\r\n", serverHeader)
	fmt.Fprintf(w, "Date: %s\r\n", now.UTC().Format(httpTime))
	w.WriteString("Connection: close\r\n")
	fmt.Fprintf(w, "Content-Length: %d\r\n", len(body))
	w.WriteString("Content-Type: text/plain\r\n\r\n")
	w.WriteString(body)
}

// atoi parses like KT's atoi: leading blanks, an optional sign, digits up
// to the first non-digit, no overflow check; anything else is 0.
func atoi(s string) int64 {
	s = strings.TrimLeft(s, " \t\r\n\v\f")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// atof parses like KT's atof: a decimal prefix, "inf" and "nan" included;
// anything unreadable is 0.
func atof(s string) float64 {
	s = strings.TrimSpace(s)
	s = s[:min(len(s), 64)]
	for end := len(s); end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return f
		}
	}
	return 0
}
