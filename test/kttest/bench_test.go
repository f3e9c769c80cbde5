package kttest_test

import (
	"bufio"
	"net"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// dialBench starts a server and opens one raw connection to it. The
// benchmarks below measure the server's cost per request: its allocations
// count in allocs/op, as the server runs in this process.
func dialBench(b *testing.B) (net.Conn, *bufio.Reader) {
	srv := kttest.Start(b)
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return nc, bufio.NewReader(nc)
}

// BenchmarkServeRPCSetGet is one TSV-RPC set and one get per op.
func BenchmarkServeRPCSetGet(b *testing.B) {
	nc, r := dialBench(b)
	set := ktwire.AppendRPCRequest(nil, "set", []ktwire.Pair{{Key: []byte("key"), Value: []byte("k1")}, {Key: []byte("value"), Value: []byte("some value of moderate length")}})
	get := ktwire.AppendRPCRequest(nil, "get", []ktwire.Pair{{Key: []byte("key"), Value: []byte("k1")}})
	b.ReportAllocs()
	for b.Loop() {
		for _, req := range [][]byte{set, get} {
			if _, err := nc.Write(req); err != nil {
				b.Fatal(err)
			}
			resp, err := ktwire.ReadResponse(r, false)
			if err != nil || resp.Status != 200 {
				b.Fatal(resp, err)
			}
		}
	}
}

// BenchmarkServeBinaryBulk is a set_bulk and a get_bulk of 20 records per op.
func BenchmarkServeBinaryBulk(b *testing.B) {
	nc, r := dialBench(b)
	var recs []ktwire.Record
	var keys []ktwire.KeyRef
	for i := range 20 {
		k := []byte{'k', byte('a' + i)}
		recs = append(recs, ktwire.Record{Key: k, Value: []byte("value of the record"), XT: ktwire.XTNever})
		keys = append(keys, ktwire.KeyRef{Key: k})
	}
	set := ktwire.AppendSetBulk(nil, 0, recs)
	get := ktwire.AppendGetBulk(nil, keys)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nc.Write(set); err != nil {
			b.Fatal(err)
		}
		if _, err := ktwire.ReadCountReply(r, ktwire.MagicSetBulk); err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(get); err != nil {
			b.Fatal(err)
		}
		if got, err := ktwire.ReadGetBulkReply(r); err != nil || len(got) != 20 {
			b.Fatal(len(got), err)
		}
	}
}
