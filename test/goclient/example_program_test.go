package goclient_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// TestExample builds the example program of clients/go as a user of the
// client module would, runs it against a gateway on a fresh embedded store
// and compares its output with the expectation shared by the Python and Node
// examples.
func TestExample(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building the example program")
	}
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	conn := gatewaytest.Start(t, store)

	bin := filepath.Join(t.TempDir(), "example")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./example")
	build.Dir = filepath.Join("..", "..", "clients", "go")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./example in clients/go: %v\n%s", err, out)
	}
	var out, stderr bytes.Buffer
	run := exec.CommandContext(t.Context(), bin, conn.Target())
	run.Stdout, run.Stderr = &out, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("example: %v\nstderr:\n%s\noutput so far:\n%s", err, stderr.String(), out.String())
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "clients", "testdata", "example.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("output differs from clients/testdata/example.golden\n--- got:\n%s--- want:\n%s", got, want)
	}
}
