package kt

import (
	"errors"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"strconv"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Every RPC failure status maps to the sentinel its meaning calls for, keeps
// the server's message, and leaves the connection in step (the reply was
// read completely).
func TestKTRPCStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		status string
		body   string
		want   error
	}{
		{"400 Bad Request", "ERROR\tinvalid parameters\n", backend.ErrInvalid},
		{"413 Request Entity Too Large", "ERROR\ttoo large\n", backend.ErrInvalid},
		{"500 Internal Server Error", "ERROR\tDB: 9: system error\n", backend.ErrFailed},
		{"501 Not Implemented", "ERROR\tnot implemented: x\n", backend.ErrUnsupported},
		{"503 Service Unavailable", "ERROR\tthe condition timed out\n", backend.ErrTimeout},
	} {
		raw := "HTTP/1.1 " + tc.status + "\r\nContent-Length: " + strconv.Itoa(len(tc.body)) +
			"\r\nContent-Type: text/tab-separated-values\r\n\r\n" + tc.body + "HTTP/1.1 200 OK\r\n"
		c := connpool.NewConn(nil, strings.NewReader(raw))
		_, err := readRPC(c, "proc")
		var ae *connpool.AppError
		if !errors.As(err, &ae) || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want an application error wrapping %v", tc.status, err, tc.want)
			continue
		}
		msg := strings.TrimSuffix(strings.SplitN(tc.body, "\t", 2)[1], "\n")
		if !strings.Contains(err.Error(), msg) || c.Broken {
			t.Errorf("%s: %v (broken=%v); want the server's message and the connection kept", tc.status, err, c.Broken)
		}
		if rest, _ := c.BR.ReadString('\n'); rest != "HTTP/1.1 200 OK\r\n" {
			t.Errorf("%s: the reply was not read to its end: next %q", tc.status, rest)
		}
	}
	// 450 is an answer, not an error.
	c := connpool.NewConn(nil, strings.NewReader("HTTP/1.1 450 Logical Inconsistency\r\nContent-Length: 0\r\n\r\n"))
	if rep, err := readRPC(c, "proc"); err != nil || !rep.logic() {
		t.Errorf("450: %v %v; want a reply with logic()", rep, err)
	}
	// A response that announces a close marks the connection for discarding.
	c = connpool.NewConn(nil, strings.NewReader("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
	if _, err := readRPC(c, "proc"); err != nil || !c.Broken {
		t.Errorf("Connection: close: err %v, broken %v; want the connection discarded", err, c.Broken)
	}
}
