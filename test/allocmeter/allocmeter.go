// Package allocmeter measures large-object allocations, so that fuzz targets
// can check that a decoder never commits memory on the word of a length
// field before the bytes it describes exist. Tests only.
package allocmeter

import (
	"runtime/metrics"
	"testing"
)

// Slack is the large-object allocation any decode may make regardless of its
// input: a first read buffer, the first slots of a record list.
const Slack = 1 << 20

// PerByte bounds the allocation per input byte: decoded structures (slice
// headers, pairs, records) are several times larger than the bytes that
// describe them, but never by orders of magnitude.
const PerByte = 128

// Large returns the bytes fn allocated in large objects (above 32 KiB), where
// every absurd allocation lands. Unlike the heap total, which credits small
// objects lazily, span by span (so a fuzzing engine's own allocations between
// runs could be billed to fn), large objects are counted when they are
// allocated: the total minus the per-size-class counts times the class sizes,
// both from the same snapshot, is exact.
func Large(fn func()) uint64 {
	before := largeHeapBytes()
	fn()
	return largeHeapBytes() - before
}

func largeHeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs-by-size:bytes"}}
	metrics.Read(s)
	total := s[0].Value.Uint64()
	h := s[1].Value.Float64Histogram()
	// Bucket i holds the size class whose size is Buckets[i+1]-1; the last
	// bucket, open-ended, holds the large objects.
	for i, n := range h.Counts[:len(h.Counts)-1] {
		total -= n * uint64(h.Buckets[i+1]-1)
	}
	return total
}

// Check runs fn, which decodes n input bytes, and fails t when it allocated
// out of proportion to them.
func Check(t testing.TB, n int, fn func()) {
	t.Helper()
	limit := Slack + PerByte*uint64(n)
	if got := Large(fn); got > limit {
		t.Errorf("decoding %d bytes allocated %d bytes (limit %d): a length field was trusted before its bytes arrived", n, got, limit)
	}
}
