package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
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

// gatewayEnv names the test server that a child process started by
// BenchmarkHub serves a gateway for.
const gatewayEnv = "KTGRPC_BENCH_HUB_GATEWAY"

// gatewayProfileEnv, when set, names the file prefix of a CPU profile each
// gateway process of BenchmarkHub writes, one per sub-benchmark.
const gatewayProfileEnv = "KTGRPC_BENCH_HUB_CPUPROFILE"

// gatewayHeapProfileEnv, when set, names the file a gateway process of
// BenchmarkHub writes its heap profile to while the subscribers are
// attached.
const gatewayHeapProfileEnv = "KTGRPC_BENCH_HUB_HEAPPROFILE"

// TestHubGatewayProcess is BenchmarkHub's gateway process: a test server
// with its default worker pool and a gateway with default options in front
// of it. It prints the gateway's address, answers "stats" on stdin with the
// test server's replication sessions and its own memory, and stops at the
// end of stdin. It skips unless BenchmarkHub started it.
func TestHubGatewayProcess(t *testing.T) {
	name := os.Getenv(gatewayEnv)
	if name == "" {
		t.Skip("BenchmarkHub's gateway process; it runs only when the benchmark starts it")
	}
	if os.Getenv(gatewayHeapProfileEnv) != "" {
		runtime.MemProfileRate = 64
	}
	var (
		be    backend.Backend
		err   error
		repls func() int
	)
	switch name {
	case "kttest":
		srv := kttest.Start(t)
		be, err = kt.Open(t.Context(), &url.URL{Scheme: "kt", Host: srv.Addr()})
		repls = func() int { return srv.Stats().Replications }
	case "tttest":
		srv := tttest.Start(t)
		be, err = tt.Open(t.Context(), &url.URL{Scheme: "tt", Host: srv.Addr()})
		repls = func() int { return srv.Stats().Replications }
	default:
		t.Fatalf("%s=%q: want kttest or tttest", gatewayEnv, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(be, server.Options{})
	go func() { _ = srv.Serve(lis) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	}()
	fmt.Printf("addr %s\n", lis.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "stats" {
			if prof := os.Getenv(gatewayHeapProfileEnv); prof != "" {
				writeHeapProfile(t, prof)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("stats %d %d %d %d\n", repls(), ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
		}
	}
}

// writeHeapProfile writes the gateway process's heap profile to file,
// after a collection, so that it shows what the attached streams hold.
func writeHeapProfile(t *testing.T, file string) {
	runtime.GC()
	f, err := os.Create(file)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Error(err)
	}
}

// gatewayProcess is a running TestHubGatewayProcess.
type gatewayProcess struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startGateway(b *testing.B, name string) *gatewayProcess {
	args := []string{"-test.run", "^TestHubGatewayProcess$", "-test.count", "1"}
	if prof := os.Getenv(gatewayProfileEnv); prof != "" {
		args = append(args, "-test.cpuprofile", prof+"."+strings.ReplaceAll(b.Name(), "/", "_"))
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), gatewayEnv+"="+name)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	g := &gatewayProcess{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, out)
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for g.out.Scan() {
		if addr, ok := strings.CutPrefix(g.out.Text(), "addr "); ok {
			g.addr = addr
			return g
		}
	}
	b.Fatalf("the gateway process ended before it served: %v", g.out.Err())
	return nil
}

// gatewayStats is what the gateway process reports of itself.
type gatewayStats struct {
	repls, heap, stack, goroutines int64
}

func (g *gatewayProcess) stats(b *testing.B) gatewayStats {
	if _, err := fmt.Fprintln(g.in, "stats"); err != nil {
		b.Fatal(err)
	}
	for g.out.Scan() {
		var st gatewayStats
		if n, _ := fmt.Sscanf(g.out.Text(), "stats %d %d %d %d", &st.repls, &st.heap, &st.stack, &st.goroutines); n == 4 {
			return st
		}
	}
	b.Fatalf("no stats from the gateway process: %v", g.out.Err())
	return gatewayStats{}
}

// procStatus reads the VmRSS of a process, in bytes, and its user plus
// system time.
func procStatus(pid int) (rss float64, cpu time.Duration) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				rss = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The fields after the command name, which is in parentheses:
		// utime and stime are the 12th and 13th, in clock ticks (100 a
		// second on Linux).
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			f := strings.Fields(string(b)[i+1:])
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				cpu = time.Duration(ut+st) * 10 * time.Millisecond
			}
		}
	}
	return rss, cpu
}

// fullDecodeEnv, when set, makes BenchmarkHub's subscribers decode every
// message into the generated types instead of reading only the values.
const fullDecodeEnv = "KTGRPC_BENCH_HUB_FULL_DECODE"

// subscribe starts a subscription and returns its receive function, which
// gives the write times (the values) of the events of the next message.
//
// Unless full is set it reads each message's bytes and picks out the
// events' values with protowire, as a lean consumer would: a thousand
// subscribers in one process receive a million events a second, and
// decoding each into the generated types would take much of the two cores
// the gateway under test needs too. Either way the events are counted from
// the messages the gateway sent.
func subscribe(ctx context.Context, conn *grpc.ClientConn, req *ktgrpcv1.SubscribeRequest, full bool) (func() ([]int64, error), error) {
	if full {
		st, err := ktgrpcv1.NewReplicationClient(conn).Subscribe(ctx, req)
		if err != nil {
			return nil, err
		}
		return func() ([]int64, error) {
			m, err := st.Recv()
			if err != nil {
				return nil, err
			}
			evs := m.GetEvents().GetEvents()
			if ev := m.GetEvent(); ev != nil {
				evs = []*ktgrpcv1.Event{ev}
			}
			sent := make([]int64, len(evs))
			for i, ev := range evs {
				sent[i], _ = strconv.ParseInt(string(ev.Value), 10, 64)
			}
			return sent, nil
		}, nil
	}
	desc := &ktgrpcv1.Replication_ServiceDesc.Streams[0]
	st, err := conn.NewStream(ctx, desc, "/"+ktgrpcv1.Replication_ServiceDesc.ServiceName+"/"+desc.StreamName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	var msg rawMessage
	var sent []int64
	return func() ([]int64, error) {
		if err := st.RecvMsg(&msg); err != nil {
			return nil, err
		}
		sent = sent[:0]
		err := eachField(msg.b, func(num protowire.Number, v []byte) error {
			switch num {
			case 1: // event
				sent = append(sent, eventValue(v))
			case 3: // events
				return eachField(v, func(num protowire.Number, v []byte) error {
					if num == 1 {
						sent = append(sent, eventValue(v))
					}
					return nil
				})
			}
			return nil
		})
		return sent, err
	}, nil
}

// eventValue reads an Event's value, which BenchmarkHub's writer sets to
// the write's time.
func eventValue(ev []byte) int64 {
	var sent int64
	_ = eachField(ev, func(num protowire.Number, v []byte) error {
		if num == 6 {
			sent, _ = strconv.ParseInt(string(v), 10, 64)
		}
		return nil
	})
	return sent
}

// eachField calls fn with the number and bytes of every length-delimited
// field of the message b, skipping the other fields.
func eachField(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := fn(num, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// rawMessage holds a received message's bytes, in a buffer it reuses.
type rawMessage struct{ b []byte }

// rawCodec sends requests as protobuf and receives messages as their bytes
// into a *rawMessage.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m := v.(*rawMessage)
	m.b = m.b[:0]
	for _, buf := range data {
		m.b = append(m.b, buf.ReadOnlyData()...)
	}
	return nil
}

func (rawCodec) Name() string { return "proto" }

// BenchmarkHub attaches 0, 1, 64 and 1,000 subscribers through the gateway
// to kttest and tttest with their default worker pools, writes at 1,000/s
// through the gateway, and reports: upstream replication sessions at the
// server, p50/p99 delivery lag, write throughput and its ratio to the run
// without subscribers, the events per message, CPU time per write of the
// gateway process and of the clients' process, and the gateway process's
// RSS, heap, stack memory and goroutines.
//
// The gateway and the test server run in a child process of their own, one
// per sub-benchmark, so that its memory and CPU time are the gateway's, not
// the clients'. The subscribers ask for up to 256 events per message, as the
// Go client does, and share one client connection with the writer. Run it
// with a fixed count, for example -benchtime 2000x.
func BenchmarkHub(b *testing.B) {
	for _, name := range []string{"kttest", "tttest"} {
		var baseline float64
		for _, subs := range []int{0, 1, 64, 1000} {
			b.Run(fmt.Sprintf("%s/subscribers=%d", name, subs), func(b *testing.B) {
				gw := startGateway(b, name)
				conn, err := grpc.NewClient(gw.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				kv := ktgrpcv1.NewKVClient(conn)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				hist := &lagHist{}
				var received, messages atomic.Int64
				var wg sync.WaitGroup
				defer wg.Wait()
				defer cancel()
				full := os.Getenv(fullDecodeEnv) != ""
				for range subs {
					req := &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}, MaxEventsPerMessage: eventsPerMessage}
					recv, err := subscribe(ctx, conn, req, full)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := recv(); err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							sent, err := recv()
							if err != nil {
								return
							}
							now := time.Now().UnixNano()
							for _, t := range sent {
								hist.add(time.Duration(now - t))
							}
							received.Add(int64(len(sent)))
							if len(sent) > 0 {
								messages.Add(1)
							}
						}
					}()
				}
				runtime.GC()
				_, gwCPU0 := procStatus(gw.cmd.Process.Pid)
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
				_, gwCPU := procStatus(gw.cmd.Process.Pid)
				gwCPU -= gwCPU0
				want := int64(subs) * int64(b.N)
				deadline := time.Now().Add(30 * time.Second)
				for received.Load() < want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if got := received.Load(); got != want {
					b.Fatalf("delivered %d of %d events", got, want)
				}
				st := gw.stats(b)
				rss, _ := procStatus(gw.cmd.Process.Pid)
				wps := float64(b.N) / elapsed.Seconds()
				if subs == 0 {
					baseline = wps
				}
				b.ReportMetric(float64(st.repls), "upstream")
				b.ReportMetric(wps, "writes/s")
				if baseline > 0 {
					b.ReportMetric(wps/baseline, "throughput-ratio")
				}
				b.ReportMetric(float64(gwCPU.Microseconds())/float64(b.N), "gw-cpu-µs/write")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "client-cpu-µs/write")
				if subs > 0 {
					b.ReportMetric(float64(received.Load())/float64(messages.Load()), "events/msg")
					b.ReportMetric(float64(hist.quantile(0.5).Microseconds())/1000, "p50-lag-ms")
					b.ReportMetric(float64(hist.quantile(0.99).Microseconds())/1000, "p99-lag-ms")
				}
				b.ReportMetric(rss/(1<<20), "gw-RSS-MiB")
				b.ReportMetric(float64(st.heap)/(1<<20), "gw-heap-MiB")
				b.ReportMetric(float64(st.stack)/(1<<20), "gw-stack-MiB")
				b.ReportMetric(float64(st.goroutines), "gw-goroutines")
			})
		}
	}
}
