package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/dial"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/kttest"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// fails runs a command line that must exit 1 and returns its stderr.
func fails(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := invoke(t.Context(), env, "", args...)
	if r.code != exitError {
		t.Fatalf("%q: exit %d (stdout %q, stderr %q), want 1", args, r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("%q: stderr %q is not one line", args, r.stderr)
	}
	return r.stderr
}

func TestConditionalWrites(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "add", "k", "v1")
	if e := fails(t, env, "add", "k", "v2"); !strings.Contains(e, "exists; not added") {
		t.Errorf("second add: %q", e)
	}
	must(t, env, "", "replace", "k", "v2")
	if e := fails(t, env, "replace", "nope", "x"); !strings.Contains(e, "not found; not replaced") {
		t.Errorf("replace of a missing key: %q", e)
	}
	must(t, env, "", "append", "k", "+")
	must(t, env, "", "cas", "k", "v2+", "v3")
	if e := fails(t, env, "cas", "k", "v2+", "v4"); !strings.Contains(e, "not swapped") {
		t.Errorf("cas mismatch: %q", e)
	}
	must(t, env, "", "cas", "--absent", "new", "n")
	must(t, env, "", "cas", "--remove", "new", "n")
	fails(t, env, "get", "new")
	if out := must(t, env, "", "seize", "k"); out != "v3\n" {
		t.Errorf("seize = %q", out)
	}
	fails(t, env, "seize", "k")
	must(t, env, "", "set", "a", "12345", "--ttl", "1h")
	out := must(t, env, "", "check", "a")
	if f := strings.Split(strings.TrimSuffix(out, "\n"), "\t"); len(f) != 3 || f[0] != "a" || f[1] != "5" || f[2] == "never" {
		t.Errorf("check a = %q", out)
	}
	if e := fails(t, env, "check", "a", "zz"); !strings.Contains(e, `not found: "zz"`) {
		t.Errorf("check of a missing key: %q", e)
	}
}

func TestCounters(t *testing.T) {
	env := gateway(t, "embedded:")
	if out := must(t, env, "", "incr", "n"); out != "1\n" {
		t.Errorf("incr = %q", out)
	}
	if out := must(t, env, "", "incr", "n", "41"); out != "42\n" {
		t.Errorf("incr 41 = %q", out)
	}
	if out := must(t, env, "", "incr", "n", "0", "--must-exist"); out != "42\n" {
		t.Errorf("reading the counter = %q", out)
	}
	fails(t, env, "incr", "absent", "1", "--must-exist")
	if out := must(t, env, "", "incr", "f", "1.5", "--float", "--initial", "1"); out != "2.5\n" {
		t.Errorf("incr --float = %q", out)
	}
	// The stored counter is 8 binary bytes: get escapes them on one line.
	if out := must(t, env, "", "get", "n"); out != `\x00\x00\x00\x00\x00\x00\x00*`+"\n" {
		t.Errorf("get of a counter = %q", out)
	}
	if out := must(t, env, "", "incr", "n", "-w", "json"); out != `{"key":"n","value":43}`+"\n" {
		t.Errorf("incr -w json = %q", out)
	}
}

func TestOutputFormats(t *testing.T) {
	env := gateway(t, "embedded:")
	must(t, env, "", "set", "--format", "hex", "6b0a", "6c696e65310a6c696e6532ff")
	must(t, env, "", "set", "plain", "v")
	// simple: one record per line, bytes escaped.
	if out := must(t, env, "", "scan"); out != "k\\n\tline1\\nline2\\xff\nplain\tv\n" {
		t.Errorf("scan = %q", out)
	}
	// json: one object per line; bytes that are not UTF-8 go as base64.
	out := must(t, env, "", "scan", "-w", "json")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var first map[string]string
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["key"] != "k\n" || first["value_base64"] != "bGluZTEKbGluZTL/" {
		t.Errorf("scan -w json = %q", out)
	}
	// table: a header, then aligned columns.
	out = must(t, env, "", "scan", "--write-out", "table")
	if lines := strings.Split(out, "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "KEY") || !strings.Contains(lines[0], "VALUE") || !strings.HasPrefix(lines[2], "plain") {
		t.Errorf("scan -w table = %q", out)
	}
	// --raw writes the bytes as they are.
	if out := must(t, env, "", "get", "--raw", "--format", "hex", "6b0a"); out != "line1\nline2\xff" {
		t.Errorf("get --raw = %q", out)
	}
	// KTGRPC_WRITE_OUT applies unless -w says otherwise.
	jsonEnv := map[string]string{"KTGRPC_ADDR": env["KTGRPC_ADDR"], "KTGRPC_WRITE_OUT": "json"}
	if out := must(t, jsonEnv, "", "get", "plain"); out != `{"key":"plain","value":"v","expire_time":"never"}`+"\n" {
		t.Errorf("KTGRPC_WRITE_OUT=json get = %q", out)
	}
	if out := must(t, jsonEnv, "", "get", "plain", "-w", "simple"); out != "v\n" {
		t.Errorf("-w over KTGRPC_WRITE_OUT = %q", out)
	}
}

func TestMatchAndBulk(t *testing.T) {
	env := gateway(t, "embedded:")
	if out := must(t, env, "", "bulk", "set", "apple", "1", "apply", "2", "berry", "3"); out != "3\n" {
		t.Errorf("bulk set = %q", out)
	}
	if out := must(t, env, "", "bulk", "get", "berry", "none", "apple"); out != "berry\t3\napple\t1\n" {
		t.Errorf("bulk get = %q", out)
	}
	if out := must(t, env, "", "match", "prefix", "app"); out != "apple\napply\n" {
		t.Errorf("match prefix = %q", out)
	}
	if out := must(t, env, "", "match", "regex", "^b"); out != "berry\n" {
		t.Errorf("match regex = %q", out)
	}
	if out := must(t, env, "", "match", "similar", "appla", "--limit", "1"); out != "apple\n" {
		t.Errorf("match similar = %q", out)
	}
	if out := must(t, env, "", "bulk", "remove", "apple", "none", "--atomic"); out != "1\n" {
		t.Errorf("bulk remove = %q", out)
	}
}

func TestAdminCommands(t *testing.T) {
	env := gateway(t, "embedded:?dbs=main,cache:hash")
	must(t, env, "", "set", "a", "1")
	out := must(t, env, "", "status")
	if strings.Count(out, "count: ") != 1 || strings.Count(out, "\nsize: ") != 1 || !strings.HasPrefix(out, "count: 1\nsize: ") {
		t.Errorf("status prints count and size other than once, first:\n%s", out)
	}
	if out := must(t, env, "", "databases"); !strings.HasPrefix(out, "0\tmain\t") || !strings.Contains(out, "\n1\tcache\thash\t") {
		t.Errorf("databases = %q", out)
	}
	if out := must(t, env, "", "capabilities"); !strings.Contains(out, "\ntables\ttrue\t") || !strings.Contains(out, "\nscripts\tfalse\t") {
		t.Errorf("capabilities = %q", out)
	}
	out = must(t, env, "", "databases", "-w", "table")
	if lines := strings.Split(out, "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "INDEX  NAME ") || !strings.HasSuffix(lines[1], "true") || !strings.HasPrefix(lines[2], "1      cache  hash ") {
		t.Errorf("databases -w table = %q", out)
	}
	if out := must(t, env, "", "report"); !strings.Contains(out, "log_events: ") {
		t.Errorf("report = %q", out)
	}
	must(t, env, "", "sync", "--hard")
	must(t, env, "", "vacuum")
	must(t, env, "", "clear")
	if out := must(t, env, "", "status", "-w", "json"); !strings.HasPrefix(out, `{"name":"count","value":0}`) {
		t.Errorf("status after clear = %q", out)
	}
}

func TestHealthAndEndpoints(t *testing.T) {
	env := gateway(t, "embedded:")
	addr := env["KTGRPC_ADDR"]
	if out := must(t, env, "", "health"); out != addr+"\tSERVING\n" {
		t.Errorf("health = %q", out)
	}
	// Several endpoints: the one that is down is reported, and calls go to
	// the one that is up.
	two := map[string]string{"KTGRPC_ENDPOINTS": "127.0.0.1:1," + addr}
	r := invoke(t.Context(), two, "", "health", "--timeout", "2s")
	if r.code != exitError || !strings.Contains(r.stdout, "127.0.0.1:1\tUNREACHABLE") || !strings.Contains(r.stdout, addr+"\tSERVING") || !strings.Contains(r.stderr, "not serving: 127.0.0.1:1") {
		t.Errorf("health of two endpoints: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for range 3 {
		must(t, two, "", "set", "k", "v")
	}
	if out := must(t, two, "", "get", "k"); out != "v\n" {
		t.Errorf("get over --endpoints = %q", out)
	}
}

func TestScriptAndTable(t *testing.T) {
	serve := func(url string) map[string]string {
		b, err := dial.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return map[string]string{"KTGRPC_ADDR": gatewaytest.Start(t, b).Target()}
	}
	kt := serve("kt://" + kttest.Start(t).Addr())
	if out := must(t, kt, "", "script", "echo", "a=1"); out != "a\t1\n" {
		t.Errorf("script echo = %q", out)
	}
	if e := fails(t, kt, "script", "fail"); !strings.Contains(e, `procedure "fail" failed`) {
		t.Errorf("script fail: %q", e)
	}

	tt := serve("tt://" + tttest.Start(t, tttest.WithConfig("tt-table")).Addr())
	must(t, tt, "", "table", "put", "1", "name=ann", "age=31")
	must(t, tt, "", "table", "put", "2", "name=bob", "age=25")
	if e := fails(t, tt, "table", "put", "1", "name=x", "--mode", "keep"); !strings.Contains(e, "exists") {
		t.Errorf("table put --mode keep: %q", e)
	}
	if out := must(t, tt, "", "table", "get", "1"); out != "1\tage=31\tname=ann\n" {
		t.Errorf("table get = %q", out)
	}
	if out := must(t, tt, "", "table", "search", "--where", "age num_gt 26", "--keys"); out != "1\n" {
		t.Errorf("table search --keys = %q", out)
	}
	if out := must(t, tt, "", "table", "search", "--where", "!name str_eq ann", "--order", "age num_asc", "--columns", "name"); out != "2\tname=bob\n" {
		t.Errorf("table search = %q", out)
	}
	if out := must(t, tt, "", "table", "search", "--count"); out != "2\n" {
		t.Errorf("table search --count = %q", out)
	}
	must(t, tt, "", "table", "out", "2")
	fails(t, tt, "table", "get", "2")
}

func TestOneLineErrorsAndCompletion(t *testing.T) {
	for _, args := range [][]string{{"get", "--bogus", "k"}, {"scan", "-w", "yaml"}, {"frobnicate"}, {"table", "search", "--where", "a like b"}} {
		r := invoke(t.Context(), nil, "", args...)
		if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--help") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with a hint", args, r.code, r.stderr)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out := must(t, nil, "", "completion", shell)
		for _, want := range []string{"watch", "subscribe", "health", "write-out", "endpoints"} {
			if !strings.Contains(out, want) {
				t.Errorf("completion %s lacks %q", shell, want)
			}
		}
	}
	if r := invoke(t.Context(), nil, "", "completion", "tcsh"); r.code != exitUsage {
		t.Errorf("completion tcsh: exit %d", r.code)
	}
	r := invoke(t.Context(), nil, "", "--version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "ktgrpc ") {
		t.Errorf("--version = %q", r.stdout)
	}
}

// restartable is a gateway on a fixed address over one embedded store,
// which a test stops and starts again, as an operator restarts a gateway.
type restartable struct {
	t     *testing.T
	store *embedded.Store
	addr  string
	srv   *server.Server
	done  chan error
}

func newRestartable(t *testing.T) *restartable {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	g := &restartable{t: t, store: store, addr: "127.0.0.1:0"}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *restartable) start() {
	lis, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("listen on %s again: %v", g.addr, err)
	}
	g.addr = lis.Addr().String()
	g.srv = server.New(g.store, server.Options{})
	g.done = make(chan error, 1)
	go func(srv *server.Server, done chan error) { done <- srv.Serve(lis) }(g.srv, g.done)
}

func (g *restartable) stop() {
	if g.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = g.srv.Stop(ctx)
	<-g.done
	g.srv = nil
}

// TestStreamsResumeAcrossRestart checks that watch and subscribe print every
// change once across a restart of the gateway: the changes made after it
// arrive, and nothing before it comes again.
func TestStreamsResumeAcrossRestart(t *testing.T) {
	g := newRestartable(t)
	env := map[string]string{"KTGRPC_ADDR": g.addr}
	must(t, env, "", "set", "k1", "v1")
	sub, stopSub := startStream(t, env, "subscribe", "--after", "0", "--prefix", "k")
	watch, stopWatch := startStream(t, env, "watch", "--prefix", "k")
	if f := strings.Fields(sub.next(t)); len(f) != 4 || f[1] != "set" || f[2] != "k1" {
		t.Fatalf("subscribe's first line %q", f)
	}
	if f := strings.Fields(watch.next(t)); len(f) != 4 || f[1] != "record" || f[2] != "k1" {
		t.Fatalf("watch's first line %q", f)
	}

	g.stop()
	g.start()
	must(t, env, "", "set", "k2", "v2")
	if f := strings.Fields(sub.next(t)); len(f) != 4 || f[1] != "set" || f[2] != "k2" {
		t.Fatalf("subscribe after the restart printed %q, want the set of k2 only", f)
	}
	// The snapshot may be followed by the change it already showed (a
	// snapshot's position may precede a change it reflects), but never by a
	// second snapshot.
	for {
		f := strings.Fields(watch.next(t))
		if len(f) == 4 && f[1] == "set" && f[2] == "k2" {
			break
		}
		if len(f) != 4 || f[1] != "set" || f[2] != "k1" {
			t.Fatalf("watch across the restart printed %q, want the set of k2 without a second snapshot", f)
		}
	}
	// Each change once: the next change is the next line of both.
	must(t, env, "", "set", "k3", "v3")
	for name, out := range map[string]*lines{"subscribe": sub, "watch": watch} {
		if f := strings.Fields(out.next(t)); len(f) != 4 || f[1] != "set" || f[2] != "k3" {
			t.Errorf("%s printed %q after k2, want the set of k3", name, f)
		}
	}
	for name, stop := range map[string]func() (int, string){"subscribe": stopSub, "watch": stopWatch} {
		code, stderr := stop()
		if code != exitOK || !strings.HasPrefix(stderr, "ktgrpc: "+name+": the gateway is unreachable or ended the stream; resuming in ") {
			t.Errorf("%s: exit %d, stderr %q; want exit 0 and a note of the retry", name, code, stderr)
		}
	}
}
