package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// writeRate is the pace of the writes through the gateway.
const writeRate = 1000

// eventsPerMessage is the subscribers' max_events_per_message, as the Go
// client asks for.
const eventsPerMessage = 256

// lagHist counts delivery lags in 10µs buckets up to 2s.
type lagHist struct {
	buckets [200000]atomic.Int64
}

func (h *lagHist) add(d time.Duration) {
	i := min(int(d/(10*time.Microsecond)), len(h.buckets)-1)
	h.buckets[max(i, 0)].Add(1)
}

func (h *lagHist) quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	want, seen := int64(float64(total)*q), int64(0)
	for i := range h.buckets {
		if seen += h.buckets[i].Load(); seen > want {
			return time.Duration(i+1) * 10 * time.Microsecond
		}
	}
	return 0
}

// cpuTime is the process's user plus system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes reads the process's resident set size.
func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkHub attaches 0, 1, 64 and 1,000 subscribers through the gateway
// to kttest and tttest with their default worker pools, writes at 1,000/s
// through the gateway, and reports: upstream replication sessions at the
// server, p50/p99 delivery lag, write throughput and its ratio to the run
// without subscribers, CPU time per write, and the process's RSS and heap
// (which include the in-process test server). Run it with a fixed count,
// for example -benchtime 2000x.
func BenchmarkHub(b *testing.B) {
	servers := []struct {
		name string
		open func(b *testing.B) (backend.Backend, func() int)
	}{
		{"kttest", func(b *testing.B) (backend.Backend, func() int) {
			srv := kttest.Start(b)
			return openKT(b, srv.Addr()), func() int { return srv.Stats().Replications }
		}},
		{"tttest", func(b *testing.B) (backend.Backend, func() int) {
			srv := tttest.Start(b)
			return openTT(b, srv.Addr()), func() int { return srv.Stats().Replications }
		}},
	}
	for _, sv := range servers {
		var baseline float64
		for _, subs := range []int{0, 1, 64, 1000} {
			b.Run(fmt.Sprintf("%s/subscribers=%d", sv.name, subs), func(b *testing.B) {
				be, repls := sv.open(b)
				conn := gatewaytest.Start(b, be)
				kv, repl := ktgrpcv1.NewKVClient(conn), ktgrpcv1.NewReplicationClient(conn)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				hist := &lagHist{}
				var received, messages atomic.Int64
				var wg sync.WaitGroup
				defer wg.Wait()
				defer cancel()
				// What one run leaves behind is not this one's.
				debug.FreeOSMemory()
				for range subs {
					st, err := repl.Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, MaxEventsPerMessage: eventsPerMessage})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := st.Recv(); err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							m, err := st.Recv()
							if err != nil {
								return
							}
							evs := m.GetEvents().GetEvents()
							if ev := m.GetEvent(); ev != nil {
								evs = []*ktgrpcv1.Event{ev}
							}
							now := time.Now().UnixNano()
							for _, ev := range evs {
								sent, _ := strconv.ParseInt(string(ev.Value), 10, 64)
								hist.add(time.Duration(now - sent))
							}
							received.Add(int64(len(evs)))
							if len(evs) > 0 {
								messages.Add(1)
							}
						}
					}()
				}
				runtime.GC()
				cpu0 := cpuTime()
				b.ResetTimer()
				start := time.Now()
				for i := range b.N {
					if d := time.Until(start.Add(time.Duration(i) * time.Second / writeRate)); d > 0 {
						time.Sleep(d)
					}
					v := strconv.FormatInt(time.Now().UnixNano(), 10)
					if _, err := kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k" + strconv.Itoa(i%1000)), Value: []byte(v)}); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.StopTimer()
				cpu := cpuTime() - cpu0
				want := int64(subs) * int64(b.N)
				deadline := time.Now().Add(30 * time.Second)
				for received.Load() < want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if got := received.Load(); got != want {
					b.Fatalf("delivered %d of %d events", got, want)
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				wps := float64(b.N) / elapsed.Seconds()
				if subs == 0 {
					baseline = wps
				}
				b.ReportMetric(float64(repls()), "upstream")
				b.ReportMetric(wps, "writes/s")
				if baseline > 0 {
					b.ReportMetric(wps/baseline, "throughput-ratio")
				}
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/write")
				if subs > 0 {
					b.ReportMetric(float64(received.Load())/float64(messages.Load()), "events/msg")
					b.ReportMetric(float64(hist.quantile(0.5).Microseconds())/1000, "p50-lag-ms")
					b.ReportMetric(float64(hist.quantile(0.99).Microseconds())/1000, "p99-lag-ms")
				}
				b.ReportMetric(rssBytes()/(1<<20), "RSS-MiB")
				b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(ms.StackInuse)/(1<<20), "stack-MiB")
			})
		}
	}
}
