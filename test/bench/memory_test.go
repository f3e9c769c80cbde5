package bench

import (
	"fmt"
	"testing"
)

// BenchmarkMemory reports the gateway's memory with 1,000 Subscribe streams
// and 1,000 open cursors (Cursor.Open streams, each with its cursor
// open), on the embedded store and on kttest: the process's RSS as the
// kernel counts it, and within it the Go heap in use and the goroutine
// stacks, with everything open and, for comparison, before anything was
// opened. The gateway runs in a fresh process of its own, so the figures
// are the gateway's alone. One run measures once.
func BenchmarkMemory(b *testing.B) {
	for _, name := range []string{"embedded", "kttest"} {
		b.Run(name, func(b *testing.B) {
			m := memoryRun(b, name, 1000, 1000)
			b.ReportMetric(m.idleRSS/(1<<20), "idle-RSS-MiB")
			b.ReportMetric(m.rss/(1<<20), "RSS-MiB")
			b.ReportMetric(m.heap/(1<<20), "heap-MiB")
			b.ReportMetric(m.stks/(1<<20), "stacks-MiB")
		})
	}
}

// memoryRun starts a gateway on name ("embedded", or "kttest" in a process
// of its own) and measures it idle, then with subs Subscribe streams and
// cursors open cursors.
func memoryRun(tb testing.TB, name string, subs, cursors int) memRow {
	tb.Helper()
	url := "embedded:"
	if name == "kttest" {
		srv := startChild(tb, "kttest")
		defer srv.stop()
		// The adapter allows 64 cursors unless told otherwise.
		url = backendURL("kt", srv.addr, fmt.Sprintf("cursors=%d", cursors))
	}
	gw := startChild(tb, "gateway", childBackend+"="+url)
	defer gw.stop()
	idle := gw.mem(tb)
	m := measureMemory(tb, gw, name, subs, cursors)
	m.idleRSS = idle.rss
	return m
}
