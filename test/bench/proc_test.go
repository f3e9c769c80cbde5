package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/dial"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// The side-by-side benchmarks run the gateway and the protocol test servers
// in processes of their own, so that each one's CPU time is its own: the
// test binary starts itself again with childRole set, and the child serves
// until its standard input closes. On its standard output it first writes
// "addr host:port", then answers each "cpu" line on its input with
// "cpu <ns>" (its user plus system time, from getrusage, which is finer
// than /proc's clock ticks) and each "mem" line with
// "mem <rss> <heap> <stacks> <mallocs>" (bytes, bytes, bytes, count).
const childRole = "KTGRPC_BENCH_CHILD"

// childBackend is the gateway child's backend URL.
const childBackend = "KTGRPC_BENCH_BACKEND"

func TestMain(m *testing.M) {
	if role := os.Getenv(childRole); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(role string) error {
	var (
		addr  string
		close func()
	)
	switch role {
	case "kttest":
		s, err := kttest.New()
		if err != nil {
			return err
		}
		s.Start()
		addr, close = s.Addr(), func() { s.Close() }
	case "tttest":
		s, err := tttest.New()
		if err != nil {
			return err
		}
		if err := s.Start(); err != nil {
			return err
		}
		addr, close = s.Addr(), func() { _ = s.Close() }
	case "gateway":
		b, err := dial.Open(context.Background(), os.Getenv(childBackend))
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := server.New(b, server.Options{})
		go func() { _ = srv.Serve(lis) }()
		addr, close = lis.Addr().String(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Stop(ctx)
			_ = b.Close()
		}
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	defer close()
	fmt.Printf("addr %s\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "cpu":
			fmt.Printf("cpu %d\n", cpuTime().Nanoseconds())
		case "mem":
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			rss, _ := rssOf(os.Getpid())
			fmt.Printf("mem %.0f %d %d %d\n", rss, ms.HeapInuse, ms.StackInuse, ms.Mallocs)
		}
	}
	return nil
}

// child is a process serving on addr: one the benchmark started (cmd set)
// or a real server found by its pid.
type child struct {
	name string
	addr string
	pid  int
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	// exitErr is how the child exited, once stopped.
	exitErr error
}

// startChild runs the test binary as role with env added, until the test
// ends.
func startChild(tb testing.TB, role string, env ...string) *child {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childRole+"="+role), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{name: role, pid: cmd.Process.Pid, cmd: cmd, in: in, out: bufio.NewReader(stdout)}
	tb.Cleanup(c.stop)
	line, err := c.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("%s child: %v", role, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if !ok {
		tb.Fatalf("%s child said %q", role, line)
	}
	c.addr = addr
	return c
}

// stop closes the child's input and waits for it to exit.
func (c *child) stop() {
	if c.cmd == nil {
		return
	}
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { c.exitErr = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.cmd = nil
}

// cpu is the process's user plus system time so far, or -1 when unknown.
func (c *child) cpu(tb testing.TB) time.Duration {
	switch {
	case c == nil || c.pid == 0:
		return -1
	case c.cmd != nil:
		var ns int64
		if _, err := fmt.Sscanf(c.ask(tb, "cpu"), "cpu %d", &ns); err != nil {
			tb.Fatalf("%s child: %v", c.name, err)
		}
		return time.Duration(ns)
	}
	d, err := cpuOf(c.pid)
	if err != nil {
		return -1
	}
	return d
}

// ask sends the child a line and returns its answer.
func (c *child) ask(tb testing.TB, line string) string {
	tb.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		tb.Fatalf("%s child: %v", c.name, err)
	}
	answer, err := c.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("%s child: %v", c.name, err)
	}
	return answer
}

// memStats are a gateway child's memory figures.
type memStats struct {
	rss, heap, stacks float64 // bytes
	mallocs           uint64
}

// mem asks the child for its memory figures.
func (c *child) mem(tb testing.TB) memStats {
	tb.Helper()
	line := c.ask(tb, "mem")
	var m memStats
	if _, err := fmt.Sscanf(line, "mem %f %f %f %d", &m.rss, &m.heap, &m.stacks, &m.mallocs); err != nil {
		tb.Fatalf("%s child said %q: %v", c.name, line, err)
	}
	return m
}

// clockTick is the unit of the times in /proc/<pid>/stat (USER_HZ), which
// is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuOf reads a process's CPU time: the sum of its threads' run times in
// /proc/<pid>/task/*/schedstat (nanoseconds; threads that ended are not
// counted, which suits a server's lasting worker threads), or else user
// plus system time from /proc/<pid>/stat (clock ticks).
func cpuOf(pid int) (time.Duration, error) {
	if tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid)); len(tasks) > 0 {
		var sum, read int64
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				// A thread that ended meanwhile, or no permission.
				continue
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				continue
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", t, err)
			}
			sum += ns
			read++
		}
		if read > 0 {
			return time.Duration(sum), nil
		}
	}
	return statCPU(pid)
}

// statCPU reads a process's user plus system time from /proc/<pid>/stat.
func statCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * clockTick, nil
}

// rssOf reads a process's resident set size in bytes.
func rssOf(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// externalServer describes a server the benchmark did not start: its pid
// from pidEnv, or else the process holding the socket listening on addr;
// pid 0 when neither is known (its CPU is then not reported).
func externalServer(name, addr, pidEnv string) *child {
	c := &child{name: name, addr: addr}
	if s := os.Getenv(pidEnv); s != "" {
		c.pid, _ = strconv.Atoi(s)
		return c
	}
	c.pid = listenerPID(addr)
	return c
}

// listenerPID finds the process with a socket listening on the TCP port of
// addr, through /proc/net/tcp{,6} and the processes' descriptors; 0 when
// not found (another user's process, for one).
func listenerPID(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			fs := strings.Fields(line)
			// local_address is fs[1] (hex ip:port), st fs[3] (0A = LISTEN),
			// inode fs[9].
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if v, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(v) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}
