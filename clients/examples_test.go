// Package clients holds the tests that run the Python and Node examples and
// the grpcurl examples against a live gateway on the embedded store.
package clients

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// exampleTimeout bounds one example run, so that a client stuck on a
// stream fails the test instead of hanging it; it is no timing assertion.
const exampleTimeout = 2 * time.Minute

// waitDelay bounds how long a killed or finished command may keep its
// output pipes open (through a child it started), so that Wait returns.
const waitDelay = 10 * time.Second

// startGateway serves a fresh embedded store and returns its address.
func startGateway(t *testing.T) string {
	t.Helper()
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatalf("embedded store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return gatewaytest.Start(t, store).Target()
}

// unavailable skips the test when a language's toolchain or packages are
// missing on a developer machine, and fails it in CI (CI set to anything but
// "", "0" or "false"), where the install steps must have provided them.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "0" && !strings.EqualFold(ci, "false") {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// goldenOutput is the output every example prints against a fresh store.
func goldenOutput(t *testing.T) string {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", "example.golden"))
	if err != nil {
		t.Fatal(err)
	}
	return string(want)
}

// program is a command to run against a gateway.
type program struct {
	name  string   // the executable
	args  []string // its arguments
	dir   string   // working directory; "" is the package's
	env   []string // added to the test's environment
	stdin string   // the program text, for interpreters reading stdin
}

// check runs p, bounded by exampleTimeout, and compares its standard output
// with want, which comes from the file or document named by source.
func (p program) check(t *testing.T, want, source string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.name, p.args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdin = strings.NewReader(p.stdin)
	cmd.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", cmd, err, stdout.String(), stderr.String())
	}
	if got := stdout.String(); got != want {
		t.Errorf("%s: output differs from %s\n--- got:\n%s--- want:\n%s--- stderr:\n%s",
			cmd, source, got, want, stderr.String())
	}
}

// pythonWithGRPC finds an interpreter that can import grpc and protobuf:
// $KTGRPC_PYTHON, else python3 on PATH, else Debian's /usr/bin/python3
// (where python3-grpcio installs, while PATH may lead to another Python).
func pythonWithGRPC() (string, []string) {
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("KTGRPC_PYTHON"); p != "" {
		candidates = []string{p}
	}
	var tried []string
	for _, c := range candidates {
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		out, err := exec.Command(path, "-c", "import grpc, google.protobuf").CombinedOutput()
		if err != nil {
			tried = append(tried, path+": "+strings.TrimSpace(lastLine(string(out))))
			continue
		}
		return path, nil
	}
	return "", tried
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// python returns an interpreter with grpc and protobuf, or ends the test
// through unavailable.
func python(t *testing.T) string {
	t.Helper()
	python, tried := pythonWithGRPC()
	if python == "" {
		unavailable(t, "no Python with grpc and protobuf (install Debian's python3-grpcio python3-protobuf, or set KTGRPC_PYTHON): %s",
			strings.Join(tried, "; "))
	}
	return python
}

// node returns the node executable once clients/node's modules are
// installed, or ends the test through unavailable.
func node(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node not found on PATH: install Node.js 20 or later")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "@connectrpc", "connect-node")); err != nil {
		unavailable(t, "clients/node/node_modules is incomplete (%v): run 'npm ci --prefix clients/node'", err)
	}
	return node
}

func TestPythonExample(t *testing.T) {
	py := python(t)
	program{
		name: py,
		args: []string{filepath.Join("python", "example", "example.py"), startGateway(t)},
		env:  []string{"PYTHONDONTWRITEBYTECODE=1"},
	}.check(t, goldenOutput(t), "clients/testdata/example.golden")
}

func TestNodeExample(t *testing.T) {
	node := node(t)
	program{
		name: node,
		args: []string{filepath.Join("node", "example", "example.js"), startGateway(t)},
	}.check(t, goldenOutput(t), "clients/testdata/example.golden")
}
