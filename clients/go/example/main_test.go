package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// TestExample runs the example against a gateway on a fresh embedded store
// and compares its output with the expectation shared by the Python and Node
// examples.
func TestExample(t *testing.T) {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	conn := gatewaytest.Start(t, store)

	var out bytes.Buffer
	if err := run(context.Background(), conn.Target(), &out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "example.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("output differs from clients/testdata/example.golden\n--- got:\n%s--- want:\n%s", got, want)
	}
}
