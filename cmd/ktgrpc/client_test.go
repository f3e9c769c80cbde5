package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/dial"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// gateway serves a fresh embedded store and returns the environment that
// points the client commands at it.
func gateway(t *testing.T, backendURL string) map[string]string {
	t.Helper()
	b, err := dial.Open(t.Context(), backendURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	conn := gatewaytest.Start(t, b)
	return map[string]string{"KTGRPC_ADDR": conn.Target()}
}

// must runs a command line that has to succeed and returns its stdout.
func must(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	r := invoke(t.Context(), env, stdin, args...)
	if r.code != exitOK {
		t.Fatalf("%q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("%q: unexpected stderr %q", args, r.stderr)
	}
	return r.stdout
}

func TestGetSetRemove(t *testing.T) {
	env := gateway(t, "embedded:")

	if out := must(t, env, "", "set", "k1", "v1"); out != "" {
		t.Errorf("set printed %q", out)
	}
	if out := must(t, env, "", "get", "k1"); out != "v1\n" {
		t.Errorf("get k1 = %q, want \"v1\\n\"", out)
	}

	r := invoke(t.Context(), env, "", "get", "missing")
	if r.code != exitError || r.stdout != "" || r.stderr != "ktgrpc: get: key \"missing\" not found\n" {
		t.Errorf("get missing: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	must(t, env, "", "remove", "k1")
	r = invoke(t.Context(), env, "", "remove", "k1")
	if r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("second remove: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := invoke(t.Context(), env, "", "get", "k1"); r.code != exitError {
		t.Errorf("get after remove: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestSetFromStdinAndTTL(t *testing.T) {
	env := gateway(t, "embedded:")
	// Text from stdin keeps every byte, newline included.
	must(t, env, "line one\nline two\n", "set", "doc", "--ttl", "1h")
	if out := must(t, env, "", "get", "--format", "base64", "ZG9j"); out != "bGluZSBvbmUKbGluZSB0d28K\n" {
		t.Errorf("stdin value read back as %q", out)
	}
	// Hex on stdin ignores the trailing newline a shell adds.
	must(t, env, "00ff10\n", "set", "--format", "hex", "6b", "--ttl", "1h")
	if out := must(t, env, "", "get", "6b", "--format", "hex"); out != "00ff10\n" {
		t.Errorf("hex from stdin read back as %q", out)
	}
}

func TestKeyFormats(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "set", "--format", "hex", "00ff", "0001feff")
	if out := must(t, env, "", "get", "--format", "hex", "00ff"); out != "0001feff\n" {
		t.Errorf("hex round trip: %q", out)
	}
	if out := must(t, env, "", "get", "--format", "base64", "AP8="); out != "AAH+/w==\n" {
		t.Errorf("base64 read of a hex write: %q", out)
	}
	// KTGRPC_FORMAT applies when --format is absent; the flag overrides it.
	hexEnv := map[string]string{"KTGRPC_ADDR": env["KTGRPC_ADDR"], "KTGRPC_FORMAT": "hex"}
	if out := must(t, hexEnv, "", "get", "00ff"); out != "0001feff\n" {
		t.Errorf("KTGRPC_FORMAT=hex: %q", out)
	}
	if out := must(t, hexEnv, "", "get", "--format", "base64", "AP8="); out != "AAH+/w==\n" {
		t.Errorf("--format over KTGRPC_FORMAT: %q", out)
	}
	r := invoke(t.Context(), hexEnv, "", "get", "abab")
	if r.code != exitError || r.stderr != "ktgrpc: get: key abab not found\n" {
		t.Errorf("missing hex key: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestScan(t *testing.T) {
	env := gateway(t, "embedded:")
	for _, kv := range [][2]string{{"a1", "x"}, {"b1", "one"}, {"b2", "two"}, {"b3", "three"}, {"c1", "y"}} {
		must(t, env, "", "set", kv[0], kv[1])
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--prefix", "b"}, "b1\tone\nb2\ttwo\nb3\tthree\n"},
		{[]string{"--prefix", "b", "--reverse", "--limit", "2"}, "b3\tthree\nb2\ttwo\n"},
		{[]string{"--start", "b2", "--end", "c1", "--keys-only"}, "b2\nb3\n"},
		{[]string{"--limit", "1"}, "a1\tx\n"},
		{[]string{"--format", "hex", "--prefix", "63"}, "6331\t79\n"},
		{[]string{"--prefix", "zz"}, ""},
	}
	for _, tt := range tests {
		if out := must(t, env, "", append([]string{"scan"}, tt.args...)...); out != tt.want {
			t.Errorf("scan %q = %q, want %q", tt.args, out, tt.want)
		}
	}
}

func TestDatabaseFlag(t *testing.T) {
	env := gateway(t, "embedded:?dbs=users,cache:hash")
	must(t, env, "", "set", "--db", "cache", "k", "cached")
	must(t, env, "", "set", "k", "default")
	if out := must(t, env, "", "get", "k", "--db", "cache"); out != "cached\n" {
		t.Errorf("--db cache: %q", out)
	}
	if out := must(t, env, "", "get", "k", "--db", "users"); out != "default\n" {
		t.Errorf("--db users (index 0, the default): %q", out)
	}
	dbEnv := map[string]string{"KTGRPC_ADDR": env["KTGRPC_ADDR"], "KTGRPC_DB": "1"}
	if out := must(t, dbEnv, "", "get", "k"); out != "cached\n" {
		t.Errorf("KTGRPC_DB=1: %q", out)
	}
	r := invoke(t.Context(), env, "", "get", "k", "--db", "nope")
	if r.code != exitError || !strings.HasPrefix(r.stderr, "ktgrpc: get: InvalidArgument: ") {
		t.Errorf("unknown database: exit %d, stderr %q", r.code, r.stderr)
	}
	r = invoke(t.Context(), env, "", "scan", "--db", "cache", "--reverse")
	if r.code != exitError || !strings.HasPrefix(r.stderr, "ktgrpc: scan: Unimplemented: ") {
		t.Errorf("reverse scan of a hash database: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestStatus(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "set", "a", "12345")
	must(t, env, "", "set", "b", "1")
	out := must(t, env, "", "status")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 || lines[0] != "count: 2" || !strings.HasPrefix(lines[1], "size: ") {
		t.Fatalf("status:\n%s", out)
	}
	fields := lines[2:]
	for i := 1; i < len(fields); i++ {
		if fields[i-1] > fields[i] {
			t.Errorf("fields not sorted: %q before %q", fields[i-1], fields[i])
		}
	}
}

func TestEnvAddressAndFlagOverride(t *testing.T) {
	env := gateway(t, "embedded:")
	real := env["KTGRPC_ADDR"]
	nowhere := map[string]string{"KTGRPC_ADDR": "127.0.0.1:1"}
	r := invoke(t.Context(), nowhere, "", "set", "k", "v")
	if r.code != exitError || !strings.HasPrefix(r.stderr, "ktgrpc: set: Unavailable: ") {
		t.Errorf("set to a closed port: exit %d, stderr %q", r.code, r.stderr)
	}
	must(t, nowhere, "", "set", "k", "v", "--addr", real)
	if out := must(t, env, "", "get", "k"); out != "v\n" {
		t.Errorf("get = %q", out)
	}
}

// lines collects what a command writes, line by line, for commands that run
// until cancelled. Writes never block, so a chatty logger cannot stall the
// code under test.
type lines struct {
	mu      sync.Mutex
	partial string
	all     []string
	read    int
	grew    chan struct{} // closed and replaced when a line arrives
}

func newLines() *lines { return &lines{grew: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial += string(p)
	for {
		i := strings.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.all = append(l.all, l.partial[:i])
		l.partial = l.partial[i+1:]
		close(l.grew)
		l.grew = make(chan struct{})
	}
}

// next returns the next unread line; the bound only keeps a broken test from
// hanging.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		if l.read < len(l.all) {
			s := l.all[l.read]
			l.read++
			l.mu.Unlock()
			return s
		}
		grew := l.grew
		l.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			t.Fatal("no line written")
		}
	}
}

// String returns everything written so far.
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n") + l.partial
}

// startStream runs `ktgrpc cmd args...` until the returned stop is called,
// which returns its exit code and stderr.
func startStream(t *testing.T, env map[string]string, cmd string, args ...string) (*lines, func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := newLines()
	var errb strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{cmd}, args...), strings.NewReader(""), out, &errb, func(k string) string { return env[k] })
	}()
	var once sync.Once
	var code int
	stop := func() (int, string) {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code, errb.String()
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

func TestSubscribe(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "set", "k1", "v1")
	must(t, env, "", "set", "other", "x")
	must(t, env, "", "remove", "k1")

	// --after 0 replays the retained log, so nothing depends on when the
	// subscription starts.
	out, stop := startStream(t, env, "subscribe", "--after", "0", "--prefix", "k")
	first := strings.Fields(out.next(t))
	if len(first) != 4 || first[1] != "set" || first[2] != "k1" || first[3] != "v1" {
		t.Fatalf("first event %q, want POSITION set k1 v1", first)
	}
	second := strings.Fields(out.next(t))
	if len(second) != 3 || second[1] != "remove" || second[2] != "k1" {
		t.Fatalf("second event %q, want POSITION remove k1", second)
	}
	p1, err1 := strconv.ParseUint(first[0], 10, 64)
	p2, err2 := strconv.ParseUint(second[0], 10, 64)
	if err1 != nil || err2 != nil || p2 <= p1 {
		t.Fatalf("positions %q then %q are not increasing numbers", first[0], second[0])
	}

	// A change made while watching arrives too.
	must(t, env, "", "set", "k2", "v2")
	if got := strings.Fields(out.next(t)); len(got) != 4 || got[1] != "set" || got[2] != "k2" {
		t.Fatalf("live event %q, want POSITION set k2 v2", got)
	}
	if code, stderr := stop(); code != exitOK || stderr != "" {
		t.Errorf("interrupted subscribe: exit %d, stderr %q; want a clean exit", code, stderr)
	}

	// Resuming after the first position skips it.
	out, stop = startStream(t, env, "subscribe", "--after", first[0], "--prefix", "k")
	if got := strings.Fields(out.next(t)); len(got) != 3 || got[0] != second[0] {
		t.Fatalf("resumed subscribe began with %q, want the remove at %s", got, second[0])
	}
	stop()
}

func TestSubscribeProgressAndHex(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "set", "--format", "hex", "00", "ff")
	out, stop := startStream(t, env, "subscribe", "--after", "0", "--format", "hex", "--progress", "--progress-interval", "10ms")
	if got := strings.Fields(out.next(t)); len(got) != 4 || got[1] != "set" || got[2] != "00" || got[3] != "ff" {
		t.Fatalf("event %q, want POSITION set 00 ff", got)
	}
	for {
		got := strings.Fields(out.next(t))
		if len(got) == 2 && got[1] == "progress" {
			if _, err := strconv.ParseUint(got[0], 10, 64); err != nil {
				t.Fatalf("progress line %q", got)
			}
			break
		}
	}
	stop()
}

func TestWatchUnreachable(t *testing.T) {
	r := invoke(t.Context(), map[string]string{"KTGRPC_ADDR": "127.0.0.1:1"}, "", "watch")
	if r.code != exitError || !strings.HasPrefix(r.stderr, "ktgrpc: watch: Unavailable: ") {
		t.Errorf("watch of a closed port: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestWatchSnapshotThenChangesAsJSON(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "set", "k1", "v1")
	must(t, env, "", "set", "other", "x")
	out, stop := startStream(t, env, "watch", "--prefix", "k", "--json")
	var rec struct {
		Position   uint64
		Kind       string
		Key, Value string
	}
	if err := json.Unmarshal([]byte(out.next(t)), &rec); err != nil || rec.Kind != "record" || rec.Key != "k1" || rec.Value != "v1" || rec.Position == 0 {
		t.Fatalf("first line %+v (%v), want the record k1=v1 with the snapshot's position", rec, err)
	}
	snap := rec.Position
	must(t, env, "", "set", "other", "y")
	must(t, env, "", "set", "k2", "v2")
	if err := json.Unmarshal([]byte(out.next(t)), &rec); err != nil || rec.Kind != "set" || rec.Key != "k2" || rec.Value != "v2" || rec.Position <= snap {
		t.Fatalf("second line %+v (%v), want set k2=v2 after position %d", rec, err, snap)
	}
	if code, stderr := stop(); code != exitOK || stderr != "" {
		t.Errorf("interrupted watch: exit %d, stderr %q; want a clean exit", code, stderr)
	}
}
