package tt

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool/pooltest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// benchEnv is the server of the benchmarks, TT_ADDR (with TT_PID, the
// server's process, for its CPU time) or an in-process tttest, whose CPU
// then counts as this process's; and 10,000 records of 100 bytes.
func benchEnv(b *testing.B) (addr, kind string, pid int, keys [][]byte, entries []backend.Entry) {
	addr, kind = os.Getenv("TT_ADDR"), "auto"
	pid, _ = strconv.Atoi(os.Getenv("TT_PID"))
	if addr == "" {
		addr, kind = tttest.Start(b, tttest.WithConfig("tt-hash")).Addr(), "hash"
	}
	value := make([]byte, 100)
	keys = make([][]byte, 10000)
	entries = make([]backend.Entry, len(keys))
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "bench-%05d", i)
		entries[i] = backend.Entry{Key: keys[i], Value: value}
	}
	return addr, kind, pid, keys, entries
}

// BenchmarkTTCoalesce compares Get and Set with and without coalescing, at
// 1, 16 and 64 concurrent callers, 100-byte values, side by side in one run.
func BenchmarkTTCoalesce(b *testing.B) {
	addr, kind, pid, keys, entries := benchEnv(b)
	value := entries[0].Value
	open := func(b *testing.B, coalesce bool) *Backend {
		tb, err := New(addr, Options{Kind: kind, PoolSize: 16, Coalesce: coalesce})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tb.Close() })
		return tb
	}
	if _, err := open(b, false).SetBulk(context.Background(), "", entries, backend.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, op := range []string{"get", "set"} {
		for _, c := range []int{1, 16, 64} {
			for _, coalesce := range []bool{false, true} {
				mode := map[bool]string{false: "off", true: "on"}[coalesce]
				b.Run(fmt.Sprintf("%s/c=%d/coalesce=%s", op, c, mode), func(b *testing.B) {
					tb := open(b, coalesce)
					b.ReportAllocs()
					pooltest.RunConcurrent(b, c, pid, func(ctx context.Context, i int) error {
						k := keys[i%len(keys)]
						if op == "get" {
							_, _, err := tb.Get(ctx, "", k)
							return err
						}
						return tb.Set(ctx, "", k, value, backend.Expiry{}, backend.WriteOptions{})
					})
				})
			}
		}
	}
}

// BenchmarkTTHotPath measures one caller's Get, Set and GetBulk of 100
// keys, the adapter's own cost per call (on TT_ADDR, allocations and
// proc-cpu-us/op are the adapter's alone).
func BenchmarkTTHotPath(b *testing.B) {
	addr, kind, pid, keys, entries := benchEnv(b)
	value := entries[0].Value
	tb, err := New(addr, Options{Kind: kind, PoolSize: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	if _, err := tb.SetBulk(context.Background(), "", entries, backend.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		pooltest.RunConcurrent(b, 1, pid, func(ctx context.Context, i int) error {
			_, _, err := tb.Get(ctx, "", keys[i%len(keys)])
			return err
		})
	})
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		pooltest.RunConcurrent(b, 1, pid, func(ctx context.Context, i int) error {
			return tb.Set(ctx, "", keys[i%len(keys)], value, backend.Expiry{}, backend.WriteOptions{})
		})
	})
	b.Run("getbulk100", func(b *testing.B) {
		b.ReportAllocs()
		pooltest.RunConcurrent(b, 1, pid, func(ctx context.Context, i int) error {
			start := (i * 100) % (len(keys) - 100)
			_, err := tb.GetBulk(ctx, "", keys[start:start+100], false)
			return err
		})
	})
}
