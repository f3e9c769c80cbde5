package tttest_test

import (
	"bufio"
	"net"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// BenchmarkServePutGet is a put, a get and an mget of 20 keys per op over
// one raw connection; the server runs in this process, so its allocations
// count in allocs/op.
func BenchmarkServePutGet(b *testing.B) {
	srv := tttest.Start(b)
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	r := bufio.NewReader(nc)
	put, _ := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdPut, Key: []byte("k1"), Value: []byte("some value of moderate length")})
	get, _ := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdGet, Key: []byte("k1")})
	keys := make([][]byte, 20)
	for i := range keys {
		keys[i] = []byte("k1")
	}
	mget, _ := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdMGet, Keys: keys})
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range []struct {
			cmd ttwire.Command
			req []byte
		}{{ttwire.CmdPut, put}, {ttwire.CmdGet, get}, {ttwire.CmdMGet, mget}} {
			if _, err := nc.Write(c.req); err != nil {
				b.Fatal(err)
			}
			if rep, err := ttwire.ReadReply(r, c.cmd); err != nil || !rep.OK() {
				b.Fatal(rep, err)
			}
		}
	}
}
