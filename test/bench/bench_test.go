// Package bench measures the gateway end to end — a gRPC client, the
// gateway, a backend adapter and a protocol test server on loopback — so that
// changes to any layer can be compared with benchstat:
//
//	go test -run '^$' -bench . -count 10 ./test/bench > old.txt
//	(change)
//	go test -run '^$' -bench . -count 10 ./test/bench > new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt
//
// With KT_ADDR or TT_ADDR set, the same benchmarks also run against those
// real servers (which they write to).
package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/kt"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// target is one backend under measurement.
type target struct {
	name string
	open func(b *testing.B) backend.Backend
}

func targets() []target {
	ts := []target{
		{"embedded", func(b *testing.B) backend.Backend {
			s, err := embedded.New(embedded.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"kt", func(b *testing.B) backend.Backend { return openKT(b, kttest.Start(b).Addr()) }},
		{"tt", func(b *testing.B) backend.Backend { return openTT(b, tttest.Start(b).Addr()) }},
	}
	if addr := os.Getenv("KT_ADDR"); addr != "" {
		ts = append(ts, target{"kt-real", func(b *testing.B) backend.Backend { return openKT(b, addr) }})
	}
	if addr := os.Getenv("TT_ADDR"); addr != "" {
		ts = append(ts, target{"tt-real", func(b *testing.B) backend.Backend { return openTT(b, addr) }})
	}
	return ts
}

func openKT(b *testing.B, addr string) backend.Backend {
	be, err := kt.Open(context.Background(), &url.URL{Scheme: "kt", Host: addr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

func openTT(b *testing.B, addr string) backend.Backend {
	be, err := tt.Open(context.Background(), &url.URL{Scheme: "tt", Host: addr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

func BenchmarkSet(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			kv := ktgrpcv1.NewKVClient(gatewaytest.Start(b, tg.open(b)))
			value := make([]byte, 100)
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			i := 0
			for b.Loop() {
				key := fmt.Appendf(nil, "bench:set:%d", i%1000)
				if _, err := kv.Set(b.Context(), &ktgrpcv1.SetRequest{Key: key, Value: value}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			kv := ktgrpcv1.NewKVClient(gatewaytest.Start(b, tg.open(b)))
			if _, err := kv.Set(b.Context(), &ktgrpcv1.SetRequest{Key: []byte("bench:get"), Value: make([]byte, 100)}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := kv.Get(b.Context(), &ktgrpcv1.GetRequest{Key: []byte("bench:get")})
				if err != nil || !resp.GetFound() {
					b.Fatalf("Get = %v, %v", resp, err)
				}
			}
		})
	}
}

// BenchmarkGetParallel shows how the adapters' connection pools scale with
// concurrent callers.
func BenchmarkGetParallel(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			kv := ktgrpcv1.NewKVClient(gatewaytest.Start(b, tg.open(b)))
			if _, err := kv.Set(b.Context(), &ktgrpcv1.SetRequest{Key: []byte("bench:pget"), Value: make([]byte, 100)}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := kv.Get(context.Background(), &ktgrpcv1.GetRequest{Key: []byte("bench:pget")})
					if err != nil || !resp.GetFound() {
						b.Errorf("Get = %v, %v", resp, err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkGetBulk100(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			kv := ktgrpcv1.NewKVClient(gatewaytest.Start(b, tg.open(b)))
			req := &ktgrpcv1.SetBulkRequest{}
			keys := make([][]byte, 100)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "bench:bulk:%03d", i)
				req.Records = append(req.Records, &ktgrpcv1.SetBulkRequest_Entry{Key: keys[i], Value: make([]byte, 100)})
			}
			if _, err := kv.SetBulk(b.Context(), req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := kv.GetBulk(b.Context(), &ktgrpcv1.GetBulkRequest{Keys: keys})
				if err != nil || len(resp.GetRecords()) != len(keys) {
					b.Fatalf("GetBulk = %d records, %v", len(resp.GetRecords()), err)
				}
			}
		})
	}
}

func BenchmarkScan1000(b *testing.B) {
	for _, tg := range targets() {
		b.Run(tg.name, func(b *testing.B) {
			conn := gatewaytest.Start(b, tg.open(b))
			kv := ktgrpcv1.NewKVClient(conn)
			cur := ktgrpcv1.NewCursorClient(conn)
			req := &ktgrpcv1.SetBulkRequest{}
			for i := range 1000 {
				req.Records = append(req.Records, &ktgrpcv1.SetBulkRequest_Entry{Key: fmt.Appendf(nil, "bench:scan:%04d", i), Value: make([]byte, 100)})
			}
			if _, err := kv.SetBulk(b.Context(), req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				stream, err := cur.Scan(b.Context(), &ktgrpcv1.ScanRequest{Prefix: []byte("bench:scan:")})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					resp, err := stream.Recv()
					if err != nil {
						break
					}
					n += len(resp.GetRecords())
				}
				if n != 1000 {
					b.Fatalf("scanned %d records; want 1000", n)
				}
			}
		})
	}
}
