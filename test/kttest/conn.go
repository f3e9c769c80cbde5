package kttest

import (
	"bufio"
	"errors"
	"net"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// conn is one client connection. Requests on it are handled strictly one
// after another, HTTP and binary alike, as KT does.
type conn struct {
	srv *Server
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	// cursors are the RPC cursors of this connection, by the client's id.
	// Each stays bound to the database it was opened on.
	cursors map[int64]*rpcCursor
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv:     s,
		nc:      nc,
		r:       bufio.NewReaderSize(nc, 64<<10),
		w:       bufio.NewWriterSize(nc, 64<<10),
		cursors: map[int64]*rpcCursor{},
	}
}

// serve handles requests until one of them ends the connection.
func (c *conn) serve() {
	defer c.close()
	for {
		first, err := c.r.Peek(1)
		if err != nil {
			return
		}
		// A request takes a worker once its first byte arrives, as in
		// ktserver, where an idle connection waits in the poller.
		if !c.srv.workers.Take(c.srv.ctx) {
			return
		}
		var keep bool
		if first[0] == 0 || first[0] >= 0x80 {
			keep = c.serveBinary()
		} else {
			keep = c.serveHTTP()
		}
		err = c.w.Flush()
		c.srv.workers.Release()
		if err != nil || !keep {
			return
		}
	}
}

// close sends FIN before closing, so that a reply written just before is
// followed by an orderly end of stream, and frees the cursors.
func (c *conn) close() {
	c.w.Flush()
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	c.nc.Close()
	for _, cur := range c.cursors {
		cur.Close()
	}
	if n := len(c.cursors); n > 0 {
		c.cursors = nil
		c.srv.cursorsAdded(-n)
	}
}

// serveHTTP handles one HTTP request and reports whether the connection
// stays open.
func (c *conn) serveHTTP() bool {
	req, err := ktwire.ReadRequest(c.r)
	if err != nil {
		var he *ktwire.HTTPError
		if errors.As(err, &he) {
			c.w.Write(ktwire.AppendErrorResponse(c.w.AvailableBuffer(), c.srv.now(), he))
		}
		return false
	}
	var resp *httpResponse
	if strings.HasPrefix(req.Path, "/rpc/") {
		resp = c.serveRPC(req)
	} else {
		resp = c.serveREST(req)
	}
	c.w.Write(ktwire.AppendResponse(c.w.AvailableBuffer(), c.srv.now(), req.Method == "HEAD", req.KeepAlive, resp.code, resp.headers, resp.body))
	return req.KeepAlive
}

// httpResponse is a handler's answer. Header names are lower case.
type httpResponse struct {
	code    int
	headers map[string]string
	body    []byte
}
