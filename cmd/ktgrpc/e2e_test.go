package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// bound keeps a broken end-to-end test from hanging; nothing is timed.
const bound = time.Minute

// buildBinary compiles this command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; cannot build the binary")
	}
	bin := filepath.Join(t.TempDir(), "ktgrpc")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.CommandContext(t.Context(), goBin, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cleanEnv is the test's environment without KTGRPC_ variables, so that the
// caller's shell cannot change what the binary does. A race-enabled binary
// would otherwise linger a second at every exit to flush reports.
func cleanEnv(extra ...string) []string {
	var env []string
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, envPrefix):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	return append(append(env, "GORACE="+gorace), extra...)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// process is a started binary.
type process struct {
	cmd    *exec.Cmd
	stdout *lines
	stderr *lines
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, once done is closed
}

func start(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{
		cmd:    exec.Command(bin, args...),
		stdout: newLines(),
		stderr: newLines(),
		done:   make(chan struct{}),
	}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code once the process ends.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(bound):
		t.Fatalf("%v did not exit; stderr:\n%s", p.cmd.Args, p.stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(p.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%v: %v", p.cmd.Args, p.err)
	}
	return 0
}

// waitServing blocks until the gateway at addr reports SERVING on the gRPC
// health service: the health Watch stream waits for the connection (with a
// short reconnect backoff) and then delivers every status change, so there
// is no polling interval to guess.
func waitServing(t *testing.T, addr string, srv *process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	// A server that dies while starting must fail the test now, not at the
	// bound.
	go func() {
		select {
		case <-srv.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("health watch on %s: %v; server log:\n%s", addr, err, srv.stderr)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("gateway on %s never became SERVING: %v; server log:\n%s", addr, err, srv.stderr)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

// cliRun runs one client command of the binary to completion.
func cliRun(t *testing.T, bin string, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%q: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// TestBinary builds ktgrpc, serves with it, drives it with its own client
// commands and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)

	// KTGRPC_BACKEND is read from the environment: only that configuration
	// has a database named "aux".
	srv := start(t, bin, cleanEnv("KTGRPC_BACKEND=embedded:?dbs=main,aux"),
		"serve", "--listen", addr, "--log-format", "json", "--shutdown-timeout", "10m")
	waitServing(t, addr, srv)

	env := cleanEnv("KTGRPC_ADDR=" + addr)
	ok := func(stdin string, args ...string) string {
		t.Helper()
		r := cliRun(t, bin, env, stdin, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r.stdout
	}

	t.Run("set and get", func(t *testing.T) {
		ok("", "set", "k1", "v1")
		if out := ok("", "get", "k1"); out != "v1\n" {
			t.Errorf("get k1 = %q, want \"v1\\n\"", out)
		}
	})
	t.Run("get missing", func(t *testing.T) {
		r := cliRun(t, bin, env, "", "get", "missing")
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "not found") {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and \"not found\"", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("scan prefix", func(t *testing.T) {
		ok("", "set", "k2", "v2")
		ok("", "set", "other", "x")
		if out := ok("", "scan", "--prefix", "k"); out != "k1\tv1\nk2\tv2\n" {
			t.Errorf("scan --prefix k = %q", out)
		}
	})
	t.Run("hex round trip", func(t *testing.T) {
		ok("", "set", "--format", "hex", "00ff", "0001feff")
		if out := ok("", "get", "--format", "hex", "00ff"); out != "0001feff\n" {
			t.Errorf("get --format hex 00ff = %q", out)
		}
	})
	t.Run("database from backend env", func(t *testing.T) {
		ok("", "set", "--db", "aux", "k1", "elsewhere")
		if out := ok("", "get", "k1", "--db", "aux"); out != "elsewhere\n" {
			t.Errorf("get --db aux = %q", out)
		}
	})
	t.Run("usage error", func(t *testing.T) {
		r := cliRun(t, bin, env, "", "get")
		if r.code != 2 || !strings.Contains(r.stderr, "want KEY") {
			t.Errorf("get without a key: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	// A subscription holds a stream open across the shutdown; with
	// --max-retries 1 it tries once to resume, then gives up.
	watch := start(t, bin, env, "subscribe", "--after", "0", "--prefix", "k", "--max-retries", "1")
	if f := strings.Fields(watch.stdout.next(t)); len(f) != 4 || f[1] != "set" || f[2] != "k1" || f[3] != "v1" {
		t.Fatalf("first watch line %q, want POSITION set k1 v1", f)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The shutdown timeout is 10m: exit 0 within the bound means the open
	// stream ended on its own rather than being cut by a forced stop.
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; log:\n%s", code, srv.stderr)
	}
	if code := watch.wait(t); code != 1 || !strings.Contains(watch.stderr.String(), "ktgrpc: subscribe: Unavailable: ") {
		t.Errorf("watch after the gateway stopped: exit %d, stderr %q", code, watch.stderr)
	}

	var startup map[string]any
	for _, line := range strings.Split(srv.stderr.String(), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["msg"] == "ktgrpc serving" {
			startup = m
		}
	}
	if startup["listen"] != addr || startup["backend"] != "embedded" {
		t.Errorf("startup line %v, want listen %s and backend embedded", startup, addr)
	}
	if log := srv.stderr.String(); !strings.Contains(log, `"msg":"shutting down"`) || !strings.Contains(log, `"msg":"stopped"`) {
		t.Errorf("log lacks the shutdown lines:\n%s", log)
	}
}

func TestBinaryServeFailures(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"bad backend", []string{"--backend", "bogus://x"}, 1, `ktgrpc: serve: open backend: backend URL "bogus://x": unknown scheme "bogus"`},
		{"bad flag", []string{"--log-level", "loud"}, 2, `invalid value "loud" for flag -log-level`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cliRun(t, bin, cleanEnv(), "", append([]string{"serve", "--listen", freeAddr(t)}, tt.args...)...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.wantCode, tt.want)
			}
		})
	}
}
