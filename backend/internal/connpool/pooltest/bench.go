package pooltest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ProcessCPU reads the user plus system CPU time a process has used so
// far (pid 0: this one), for benchmarks that report CPU per request.
func ProcessCPU(pid int) (time.Duration, error) {
	p := "self"
	if pid > 0 {
		p = strconv.Itoa(pid)
	}
	b, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: short", p)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad times", p)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}

// RunConcurrent runs op b.N times from c goroutines and reports, beside
// ns/op, the CPU time per op of this process (proc-cpu-us/op) and, when
// serverPID is not 0, of the server (srv-cpu-us/op).
func RunConcurrent(b *testing.B, c, serverPID int, op func(ctx context.Context, i int) error) {
	ctx := context.Background()
	cpu0, _ := ProcessCPU(0)
	srv0, _ := ProcessCPU(serverPID)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(ctx, i); err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	cpu1, _ := ProcessCPU(0)
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "proc-cpu-us/op")
	if serverPID != 0 {
		srv1, _ := ProcessCPU(serverPID)
		b.ReportMetric(float64((srv1-srv0).Microseconds())/float64(b.N), "srv-cpu-us/op")
	}
}
