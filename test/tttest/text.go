package tttest

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// maxLineSize bounds a text request line or HTTP header line.
const maxLineSize = 64 << 10

// serveText handles a task whose first byte is not the binary magic: one
// text line, read up to its line end, as a memcached command or an HTTP
// request. An unknown line closes the connection without a reply.
//
// The memcached subset: set, add, replace, append, prepend, get, gets,
// delete, incr, decr, stats, flush_all, version and quit; flags and
// exptime are ignored and reported as 0. The HTTP subset: GET, HEAD, PUT
// (X-TT-PDMODE 1 = putkeep, 2 = putcat) and DELETE of /key; POST (ext and
// misc) and OPTIONS answer 501.
func (c *conn) serveText() (bool, error) {
	line, err := c.line()
	if err != nil {
		return false, err
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return false, errClose
	}
	if len(f) == 3 && strings.HasPrefix(f[2], "HTTP/1.") {
		return c.serveHTTP(f[0], f[1], f[2])
	}
	return c.serveMemcached(f)
}

// line reads a line and strips its line end. A line longer than
// maxLineSize closes the connection.
func (c *conn) line() (string, error) {
	var b []byte
	for {
		part, err := c.r.ReadSlice('\n')
		b = append(b, part...)
		switch {
		case err == nil:
			return strings.TrimRight(string(b), "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull) && len(b) < maxLineSize:
		case errors.Is(err, bufio.ErrBufferFull):
			return "", errClose
		default:
			return "", err
		}
	}
}

func (c *conn) serveMemcached(f []string) (bool, error) {
	noreply := f[len(f)-1] == "noreply"
	reply := func(s string) (bool, error) {
		if noreply {
			return true, nil
		}
		return c.send([]byte(s + "\r\n"))
	}
	if c.s.cfg.mask.mc {
		return reply("SERVER_ERROR forbidden")
	}
	ctx, db := c.s.ctx, c.s.db
	switch f[0] {
	case "set", "add", "replace", "append", "prepend":
		if len(f) < 5 {
			return reply("CLIENT_ERROR bad command line format")
		}
		n, err := strconv.Atoi(f[4])
		if err != nil || n < 0 || n > ttwire.MaxArgSize {
			return reply("CLIENT_ERROR bad data chunk")
		}
		data, err := ttwire.ReadN(c.r, n+2)
		if err != nil {
			return false, err
		}
		key, value := []byte(f[1]), data[:n]
		ok, err := c.mcStore(f[0], key, value)
		if err != nil {
			return false, err
		}
		if ok {
			return reply("STORED")
		}
		return reply("NOT_STORED")
	case "get", "gets":
		c.count(cmdGet)
		var b []byte
		for _, k := range f[1:] {
			v, found, err := db.Get(ctx, []byte(k))
			if err != nil {
				return false, err
			}
			if found {
				b = append(b, fmt.Sprintf("VALUE %s 0 %d\r\n", k, len(v))...)
				b = append(append(b, v...), "\r\n"...)
			}
		}
		return c.send(append(b, "END\r\n"...))
	case "delete":
		c.count(cmdOut)
		if len(f) < 2 {
			return reply("CLIENT_ERROR bad command line format")
		}
		ok, err := db.Out(ctx, []byte(f[1]))
		if err != nil {
			return false, err
		}
		if ok {
			return reply("DELETED")
		}
		return reply("NOT_FOUND")
	case "incr", "decr":
		if len(f) < 3 {
			return reply("CLIENT_ERROR bad command line format")
		}
		delta, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return reply("CLIENT_ERROR invalid numeric delta argument")
		}
		n, found, err := c.mcIncr([]byte(f[1]), delta, f[0] == "decr")
		if err != nil {
			return false, err
		}
		if !found {
			return reply("NOT_FOUND")
		}
		return reply(strconv.FormatUint(n, 10))
	case "stats":
		rnum, err := db.RNum(ctx)
		if err != nil {
			return false, err
		}
		size, err := db.Size(ctx)
		if err != nil {
			return false, err
		}
		now := c.s.clock.Now()
		var b strings.Builder
		fmt.Fprintf(&b, "STAT pid %d\r\n", os.Getpid())
		fmt.Fprintf(&b, "STAT uptime %d\r\n", int64(now.Sub(c.s.start).Seconds()))
		fmt.Fprintf(&b, "STAT time %d\r\n", now.Unix())
		b.WriteString("STAT version 1.1.41\r\n")
		fmt.Fprintf(&b, "STAT curr_items %d\r\n", rnum)
		fmt.Fprintf(&b, "STAT bytes %d\r\n", size)
		b.WriteString("END\r\n")
		return c.send([]byte(b.String()))
	case "flush_all":
		if err := db.Vanish(ctx); err != nil {
			return false, err
		}
		return reply("OK")
	case "version":
		return reply("VERSION 1.1.41")
	case "quit":
		return false, nil
	}
	return false, errClose
}

// mcStore runs a memcached storage command through the TT operations it is
// logged as: set and replace as put, add as putkeep, append as putcat,
// prepend as a put of the joined value.
func (c *conn) mcStore(cmd string, key, value []byte) (bool, error) {
	ctx, db := c.s.ctx, c.s.db
	switch cmd {
	case "set":
		c.count(cmdPut)
		return db.Put(ctx, ttstore.PutOver, key, value, 0)
	case "add":
		c.count(cmdPutKeep)
		return db.Put(ctx, ttstore.PutKeep, key, value, 0)
	}
	cur, found, err := db.Get(ctx, key)
	if err != nil || !found {
		return false, err
	}
	switch cmd {
	case "append":
		c.count(cmdPutCat)
		return db.Put(ctx, ttstore.PutCat, key, value, 0)
	case "prepend":
		value = append(append([]byte{}, value...), cur...)
	}
	c.count(cmdPut)
	return db.Put(ctx, ttstore.PutOver, key, value, 0)
}

// mcIncr adds to or subtracts from a decimal record, stopping at 0, and
// stores the result as a put.
func (c *conn) mcIncr(key []byte, delta uint64, decr bool) (uint64, bool, error) {
	ctx, db := c.s.ctx, c.s.db
	cur, found, err := db.Get(ctx, key)
	if err != nil || !found {
		return 0, false, err
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(cur)), 10, 64)
	switch {
	case !decr:
		n += delta
	case delta > n:
		n = 0
	default:
		n -= delta
	}
	if _, err := db.Put(ctx, ttstore.PutOver, key, []byte(strconv.FormatUint(n, 10)), 0); err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// serveHTTP answers one HTTP/1.x request.
func (c *conn) serveHTTP(method, target, version string) (bool, error) {
	header := map[string]string{}
	for {
		h, err := c.line()
		if err != nil {
			return false, err
		}
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		header[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	var body []byte
	if cl, ok := header["content-length"]; ok {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > ttwire.MaxArgSize {
			return c.httpReply(400, "text/plain", []byte("Bad Request\n"), true, method)
		}
		if body, err = ttwire.ReadN(c.r, n); err != nil {
			return false, err
		}
	}
	conn := strings.ToLower(header["connection"])
	closeAfter := conn == "close" || (version == "HTTP/1.0" && conn != "keep-alive")
	if c.s.cfg.mask.http {
		return c.httpReply(403, "text/plain", []byte("Forbidden\n"), closeAfter, method)
	}
	key, err := url.PathUnescape(strings.TrimPrefix(target, "/"))
	if err != nil {
		return c.httpReply(400, "text/plain", []byte("Bad Request\n"), closeAfter, method)
	}
	ctx, db := c.s.ctx, c.s.db
	switch method {
	case "GET", "HEAD":
		c.count(cmdGet)
		v, found, err := db.Get(ctx, []byte(key))
		if err != nil {
			return false, err
		}
		if !found {
			c.count(cntGetMiss)
			return c.httpReply(404, "text/plain", []byte("Not Found\n"), closeAfter, method)
		}
		return c.httpReply(200, "application/octet-stream", v, closeAfter, method)
	case "PUT":
		mode, cmd := ttstore.PutOver, cmdPut
		switch header["x-tt-pdmode"] {
		case "1":
			mode, cmd = ttstore.PutKeep, cmdPutKeep
		case "2":
			mode, cmd = ttstore.PutCat, cmdPutCat
		}
		c.count(cmd)
		ok, err := db.Put(ctx, mode, []byte(key), body, 0)
		if err != nil {
			return false, err
		}
		if !ok {
			c.count(cntPutMiss)
			return c.httpReply(409, "text/plain", []byte("Conflict\n"), closeAfter, method)
		}
		return c.httpReply(201, "text/plain", []byte("Created\n"), closeAfter, method)
	case "DELETE":
		c.count(cmdOut)
		ok, err := db.Out(ctx, []byte(key))
		if err != nil {
			return false, err
		}
		if !ok {
			c.count(cntOutMiss)
			return c.httpReply(404, "text/plain", []byte("Not Found\n"), closeAfter, method)
		}
		return c.httpReply(200, "text/plain", []byte("OK\n"), closeAfter, method)
	case "POST", "OPTIONS":
		return c.httpReply(501, "text/plain", []byte("Not Implemented\n"), closeAfter, method)
	}
	return c.httpReply(400, "text/plain", []byte("Bad Request\n"), true, method)
}

var httpReasons = map[int]string{
	200: "OK", 201: "Created", 400: "Bad Request", 403: "Forbidden",
	404: "Not Found", 409: "Conflict", 501: "Not Implemented",
}

// httpReply sends a response; a HEAD response has no body. closeAfter
// ends the connection once it is sent.
func (c *conn) httpReply(code int, contentType string, body []byte, closeAfter bool, method string) (bool, error) {
	b := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", code, httpReasons[code], contentType, len(body))
	if method != "HEAD" {
		b = append(b, body...)
	}
	keep, err := c.send(b)
	if err == nil && closeAfter {
		err = errClose
	}
	return keep, err
}
