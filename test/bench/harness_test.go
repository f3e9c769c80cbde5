package bench

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// The benchmarks' own machinery runs in every test run, so that it cannot
// rot unseen between benchmark runs.

func TestListenerPIDFindsTheListeningProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if pid := listenerPID(ln.Addr().String()); pid != os.Getpid() {
		t.Fatalf("listenerPID(%s) = %d; want this process, %d", ln.Addr(), pid, os.Getpid())
	}
	if pid := externalServer("x", ln.Addr().String(), "KTGRPC_BENCH_NO_SUCH_PID").pid; pid != os.Getpid() {
		t.Fatalf("externalServer found pid %d; want %d", pid, os.Getpid())
	}
}

func TestCPUOfReadsThisProcess(t *testing.T) {
	// Spend some CPU so that there is something to count.
	x := 0
	for i := range 10_000_000 {
		x ^= i
	}
	_ = x
	for name, read := range map[string]func(int) (time.Duration, error){"cpuOf": cpuOf, "statCPU": statCPU} {
		if d, err := read(os.Getpid()); err != nil || d <= 0 {
			t.Errorf("%s of this process = %v, %v", name, d, err)
		}
	}
}

// A gateway child serves the backend it is given and answers for its CPU
// time and memory.
func TestGatewayChild(t *testing.T) {
	gw := startChild(t, "gateway", childBackend+"=embedded:")
	conn := dialGateway(t, gw.addr)
	kv := ktgrpcv1.NewKVClient(conn)
	if _, err := kv.Set(context.Background(), &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if resp, err := kv.Get(context.Background(), &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil || string(resp.GetValue()) != "v" {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	if d := gw.cpu(t); d <= 0 {
		t.Errorf("child CPU time %v", d)
	}
	if m := gw.mem(t); m.rss <= 0 || m.heap <= 0 || m.mallocs == 0 {
		t.Errorf("child memory %+v", m)
	}
	gw.stop()
	if err := gw.exitErr; err != nil {
		t.Errorf("the child exited with %v", err)
	}
}
