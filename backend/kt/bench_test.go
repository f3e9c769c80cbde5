package kt

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool/pooltest"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// benchKeys is how many records the benchmarks read and write.
const benchKeys = 10000

// benchServer is KT_ADDR (with KT_PID, the server's process, for its CPU
// time) or an in-process kttest, whose CPU then counts as this process's.
func benchServer(b *testing.B) (string, int) {
	if addr := os.Getenv("KT_ADDR"); addr != "" {
		pid, _ := strconv.Atoi(os.Getenv("KT_PID"))
		return addr, pid
	}
	return kttest.Start(b).Addr(), 0
}

// BenchmarkKTCoalesce compares Get and Set with and without coalescing, at
// 1, 16 and 64 concurrent callers, 100-byte values, side by side in one run.
func BenchmarkKTCoalesce(b *testing.B) {
	addr, pid := benchServer(b)
	keys, value := benchRecords()
	open := func(b *testing.B, coalesce string) *Backend { return mustOpenBench(b, addr, coalesce) }
	seed := open(b, "off")
	if _, err := seed.SetBulk(context.Background(), "", entries(keys, value), backend.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, op := range []string{"get", "set"} {
		for _, c := range []int{1, 16, 64} {
			for _, mode := range []string{"off", "on"} {
				b.Run(fmt.Sprintf("%s/c=%d/coalesce=%s", op, c, mode), func(b *testing.B) {
					kb := open(b, mode)
					b.ReportAllocs()
					pooltest.RunConcurrent(b, c, pid, func(ctx context.Context, i int) error {
						k := keys[i%len(keys)]
						if op == "get" {
							_, _, err := kb.Get(ctx, "", k)
							return err
						}
						return kb.Set(ctx, "", k, value, backend.Expiry{}, backend.WriteOptions{})
					})
				})
			}
		}
	}
}

// benchRecords are the benchmarks' keys and their 100-byte value.
func benchRecords() ([][]byte, []byte) {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "bench-%05d", i)
	}
	return keys, make([]byte, 100)
}

func entries(keys [][]byte, value []byte) []backend.Entry {
	out := make([]backend.Entry, len(keys))
	for i, k := range keys {
		out[i] = backend.Entry{Key: k, Value: value}
	}
	return out
}

// BenchmarkKTHotPath measures one caller's Get, Set and GetBulk of 100
// keys, the adapter's own cost per call (profile it with -cpuprofile and
// -memprofile; an in-process kttest's work shows there too).
func BenchmarkKTHotPath(b *testing.B) {
	addr, pid := benchServer(b)
	u, _ := url.Parse("kt://" + addr + "?pool=4&coalesce=off")
	kb, err := Open(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	defer kb.Close()
	keys, value := benchRecords()
	if _, err := kb.SetBulk(context.Background(), "", entries(keys, value), backend.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		pooltest.RunConcurrent(b, 1, pid, func(ctx context.Context, i int) error {
			_, _, err := kb.Get(ctx, "", keys[i%len(keys)])
			return err
		})
	})
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		pooltest.RunConcurrent(b, 1, pid, func(ctx context.Context, i int) error {
			return kb.Set(ctx, "", keys[i%len(keys)], value, backend.Expiry{}, backend.WriteOptions{})
		})
	})
	b.Run("getbulk100", func(b *testing.B) {
		b.ReportAllocs()
		pooltest.RunConcurrent(b, 1, pid, func(ctx context.Context, i int) error {
			start := (i * 100) % (len(keys) - 100)
			_, err := kb.GetBulk(ctx, "", keys[start:start+100], false)
			return err
		})
	})
}

// BenchmarkKTCoalesceLatency is BenchmarkKTCoalesce's Gets behind a
// loopback proxy that delays every chunk 500µs each way, as a backend
// across a network would, where merging matters most.
func BenchmarkKTCoalesceLatency(b *testing.B) {
	addr, pid := benchServer(b)
	p := faultproxy.Start(b, addr)
	keys, value := benchRecords()
	seed := mustOpenBench(b, addr, "off")
	if _, err := seed.SetBulk(context.Background(), "", entries(keys, value), backend.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	p.SetDelay(500 * time.Microsecond)
	for _, c := range []int{1, 16, 64} {
		for _, mode := range []string{"off", "on"} {
			b.Run(fmt.Sprintf("get/c=%d/coalesce=%s", c, mode), func(b *testing.B) {
				kb := mustOpenBench(b, p.Addr(), mode)
				b.ReportAllocs()
				pooltest.RunConcurrent(b, c, pid, func(ctx context.Context, i int) error {
					_, _, err := kb.Get(ctx, "", keys[i%len(keys)])
					return err
				})
			})
		}
	}
}

func mustOpenBench(b *testing.B, addr, coalesce string) *Backend {
	u, _ := url.Parse("kt://" + addr + "?pool=16&coalesce=" + coalesce)
	kb, err := Open(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = kb.Close() })
	return kb
}
