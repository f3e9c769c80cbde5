package embedded

import (
	"fmt"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%08d", i)
	}
	return keys
}

func BenchmarkSet(b *testing.B) {
	s, _ := newStore(b, Options{LogCapacity: 1 << 16})
	keys := benchKeys(1 << 16)
	value := make([]byte, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Set(ctx, "", keys[i%len(keys)], value, backend.Expiry{}, backend.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet(b *testing.B) {
	s, _ := newStore(b, Options{})
	keys := benchKeys(1 << 16)
	value := make([]byte, 100)
	for _, k := range keys {
		mustSet(b, s, "", string(k), string(value), backend.Expiry{})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, found, err := s.Get(ctx, "", keys[i%len(keys)]); err != nil || !found {
			b.Fatalf("Get = %v, %v", found, err)
		}
		i++
	}
}

func BenchmarkScan(b *testing.B) {
	s, _ := newStore(b, Options{})
	keys := benchKeys(10000)
	for _, k := range keys {
		mustSet(b, s, "", string(k), "value", backend.Expiry{})
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := s.Scan(ctx, "", backend.ScanOptions{}, func(batch []backend.Record) error {
			n += len(batch)
			return nil
		})
		if err != nil || n != len(keys) {
			b.Fatalf("Scan = %d records, %v", n, err)
		}
	}
	b.ReportMetric(float64(len(keys)), "records/op")
}
