package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// printTable writes BenchmarkCompare's results as Markdown: one table per
// concurrency, the memory figures, then the ratios of the goals.
func printTable(w io.Writer, res *cmpResults, queries []string) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\n## BenchmarkCompare\n\nMachine: %s, %d CPUs (GOMAXPROCS %d), %s %s/%s, %s.\n",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, cpuModel())
	fmt.Fprintln(w, "\nThe gateway and the test servers (kttest, tttest) each run in a process of their own; \"client\" is the benchmark process: the gRPC client for gateway rows, the adapter for adapter rows, the raw connection for direct rows. CPU is user+system time per request; – means not measured (no such process, or a real server whose pid was not found).")
	for _, c := range cmpConcurrency {
		fmt.Fprintf(w, "\n### c = %d\n\n", c)
		fmt.Fprintln(w, "| path | backend | requests/s | p50 µs | p99 µs | CPU µs/req gateway | CPU µs/req client | CPU µs/req server | allocs/req gateway | allocs/req client |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, key := range res.order {
			r := res.rows[key]
			if r.c != c {
				continue
			}
			ops := fmt.Sprintf("%.0f", r.opsPerSec)
			if r.records > 1 {
				ops += fmt.Sprintf(" (%.0fk records/s)", r.opsPerSec*float64(r.records)/1000)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s |\n", r.path, r.backend, ops, r.p50, r.p99,
				num(r.gatewayCPU, 1), num(r.clientCPU, 1), num(r.backendCPU, 1), num(r.gatewayAllocs, 0), num(r.clientAllocs, 0))
		}
	}
	if len(res.mem) > 0 {
		fmt.Fprintln(w, "\n### Memory\n\nA fresh gateway process; RSS is the kernel's count, heap and stacks are the Go runtime's part of it.\n\n| backend | Subscribe streams | open cursors | gateway RSS MiB | Go heap in use MiB | goroutine stacks MiB | RSS before, MiB |\n|---|---:|---:|---:|---:|---:|---:|")
		for _, m := range res.mem {
			fmt.Fprintf(w, "| %s | %d | %d | %.1f | %.1f | %.1f | %.1f |\n", m.backend, m.subs, m.cursors, m.rss/(1<<20), m.heap/(1<<20), m.stks/(1<<20), m.idleRSS/(1<<20))
		}
	}

	fmt.Fprintln(w, "\n### Goals (c = 16)\n\n| ratio | backend | value | goal | met |\n|---|---|---:|---|---|")
	const c = 16
	ratio := func(name, backend string, num, den *cmpRow, field func(*cmpRow) float64, goal string, met func(float64) bool) {
		if num == nil || den == nil || field(num) <= 0 || field(den) <= 0 {
			fmt.Fprintf(w, "| %s | %s | n/a | %s | |\n", name, backend, goal)
			return
		}
		v := field(num) / field(den)
		fmt.Fprintf(w, "| %s | %s | %.2f | %s | %s |\n", name, backend, v, goal, yes(met(v)))
	}
	gwCPU := func(r *cmpRow) float64 { return r.gatewayCPU }
	srvCPU := func(r *cmpRow) float64 { return r.backendCPU }
	ops := func(r *cmpRow) float64 { return r.opsPerSec }
	atMost := func(g float64) func(float64) bool { return func(v float64) bool { return v <= g } }
	atLeast := func(g float64) func(float64) bool { return func(v float64) bool { return v >= g } }
	bare := res.get(pathBare, "embedded", c)
	ratio("gateway CPU per KV.Get ÷ bare unary", "embedded", res.get(pathGet, "embedded", c), bare, gwCPU, "≤ 1.1", atMost(1.1))
	for _, q := range queries {
		for _, base := range []string{"kttest", "kt-real", "tttest", "tt-real"} {
			name := label(base, q)
			get := res.get(pathGet, name, c)
			if get == nil {
				continue
			}
			ratio("gateway CPU per KV.Get ÷ bare unary", name, get, bare, gwCPU, "≤ 1.2", atMost(1.2))
			if strings.HasPrefix(base, "kt") {
				ratio("gateway CPU per KV.GetBulk 100 ÷ same on embedded", name, res.get(pathGetBulk, name, c), res.get(pathGetBulk, "embedded", c), gwCPU, "≤ 1.3", atMost(1.3))
				ratio("server CPU per gateway KV.Get ÷ per direct get", name, get, res.get(pathWireGet, name, c), srvCPU, "≤ 0.5", atMost(0.5))
				ratio("gateway KV.Get throughput ÷ bare unary", name, get, bare, ops, "≥ 0.8", atLeast(0.8))
				ratio("KV.Pipeline Get throughput (16 in flight) ÷ direct get", name, res.get(pathPipeline, name, c), res.get(pathWireGet, name, c), ops, "≥ 1.0", atLeast(1.0))
			} else {
				ratio("server CPU per gateway KV.Get ÷ per direct get", name, get, res.get(pathWireGet, name, c), srvCPU, "(KT's goal: ≤ 0.5)", atMost(0.5))
				ratio("gateway KV.Get throughput ÷ bare unary", name, get, bare, ops, "(KT's goal: ≥ 0.8)", atLeast(0.8))
			}
		}
		for _, key := range res.order {
			r := res.rows[key]
			if r.c == c && r.path == pathGet && strings.Contains(r.backend, "+") && strings.HasSuffix(r.backend, label("", q)) {
				ratio("gateway KV.Get throughput ÷ adapter Get, behind the delaying proxy", r.backend, r, res.get(pathDirectGet, r.backend, c), ops, "(shows merging)", atLeast(1))
				ratio("KV.Pipeline Get throughput ÷ adapter Get, behind the delaying proxy", r.backend, res.get(pathPipeline, r.backend, c), res.get(pathDirectGet, r.backend, c), ops, "(shows merging)", atLeast(1))
			}
		}
	}
	for _, m := range res.mem {
		v := m.rss / (1 << 20)
		fmt.Fprintf(w, "| gateway RSS with %d Subscribe streams and %d cursors, MiB | %s | %.1f | < %d | %s |\n", m.subs, m.cursors, m.backend, v, memGoalMiB, yes(v < memGoalMiB))
	}
	printVariants(w, res, queries)
}

// printVariants compares each backend URL query with the first, row by
// row, for the single-key gateway calls: how an adapter option such as
// coalescing changes them, at every concurrency.
func printVariants(w io.Writer, res *cmpResults, queries []string) {
	if len(queries) < 2 {
		return
	}
	fmt.Fprintf(w, "\n### Backend URL queries compared with %q\n\n", queries[0])
	fmt.Fprintln(w, "| path | backend | c | requests/s ratio | p50 ratio | gateway CPU ratio | server CPU ratio |\n|---|---|---:|---:|---:|---:|---:|")
	ratio := func(a, b float64) string {
		if a <= 0 || b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, q := range queries[1:] {
		for _, base := range []string{"kttest", "kt-real", "tttest", "tt-real"} {
			for _, path := range []string{pathGet, pathSet, pathPipeline} {
				for _, c := range cmpConcurrency {
					now, was := res.get(path, label(base, q), c), res.get(path, label(base, queries[0]), c)
					if now == nil || was == nil {
						continue
					}
					fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s |\n", path, label(base, q), c,
						ratio(now.opsPerSec, was.opsPerSec), ratio(now.p50, was.p50), ratio(now.gatewayCPU, was.gatewayCPU), ratio(now.backendCPU, was.backendCPU))
				}
			}
		}
	}
}

func num(v float64, decimals int) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// cpuModel names the processor, from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
