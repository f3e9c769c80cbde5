package allocmeter

import (
	"bytes"
	"runtime/metrics"
	"testing"
)

// TestLarge checks the meter the fuzz targets rely on: a large allocation is
// counted in full, many small ones, which do reach the heap, not at all.
func TestLarge(t *testing.T) {
	var big, small []byte
	if got := Large(func() { big = make([]byte, 1<<20) }); got < 1<<20 || got > 1<<20+64<<10 {
		t.Errorf("1 MiB allocation measured as %d bytes", got)
	}
	objects := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(objects)
	before := objects[0].Value.Uint64()
	if got := Large(func() {
		for range 10000 {
			small = bytes.Repeat([]byte{1}, 100)
		}
	}); got != 0 {
		t.Errorf("small allocations measured as %d large-object bytes", got)
	}
	// Small objects are counted lazily, so a few may not show yet.
	if metrics.Read(objects); objects[0].Value.Uint64()-before < 9000 {
		t.Errorf("the small allocations did not reach the heap: %d objects", objects[0].Value.Uint64()-before)
	}
	if len(big) != 1<<20 || len(small) != 100 {
		t.Fatal("allocations lost")
	}
}
