// Package goclient_test runs the Go client of clients/go against a live
// gateway on the embedded store. The tests live in the gateway's module, not
// the client's, so that the client's module graph stays free of the server.
package goclient_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// clientModuleDir is the Go client's module, relative to this package.
var clientModuleDir = filepath.Join("..", "..", "clients", "go")

// goIn runs the go command in the client module's directory.
func goIn(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = clientModuleDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in clients/go: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// clientModules are the only modules whose packages a program using the Go
// client compiles: the client, the generated stubs, and what they import.
var clientModules = []string{
	"github.com/ktgrpc/ktgrpc/clients/go",
	"github.com/ktgrpc/ktgrpc/gen",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
	"google.golang.org/genproto/googleapis/rpc",
	"golang.org/x/net",
	"golang.org/x/sys",
	"golang.org/x/text",
}

// TestClientModuleBuildsOnlyClientPackages checks what a user of the client
// compiles: every package the client and its tests depend on comes from
// the standard library or from clientModules.
func TestClientModuleBuildsOnlyClientPackages(t *testing.T) {
	out := goIn(t, "list", "-deps", "-test", "-f", "{{if not .Standard}}{{with .Module}}{{.Path}}{{end}}{{end}}", "./...")
	seen := map[string]bool{}
	for _, m := range strings.Fields(out) {
		seen[m] = true
	}
	for m := range seen {
		if !contains(clientModules, m) {
			t.Errorf("the Go client's packages depend on module %s, which a client does not need", m)
		}
	}
	for _, m := range clientModules[:3] {
		if !seen[m] {
			t.Errorf("the Go client does not use module %s: the dependency check looks at the wrong packages", m)
		}
	}
}

// TestClientModuleGraph checks the client's module graph (go list -m all in
// clients/go), which is what a user's go.mod and go.sum inherit: it must hold
// none of the gateway's own dependencies (metrics, tracing exporters, the
// HTTP gateway, the embedded store's btree, ...). A module of the gateway's
// graph may appear only where a dependency of the client brings it by its
// own go.mod (gRPC lists OpenTelemetry for its optional stats package), never
// as a requirement of the client itself.
func TestClientModuleGraph(t *testing.T) {
	graph := strings.Fields(goIn(t, "list", "-m", "-f", "{{.Path}}", "all"))
	if len(graph) == 0 || graph[0] != "github.com/ktgrpc/ktgrpc/clients/go" {
		t.Fatalf("go list -m all in clients/go starts with %q, want the client module", graph)
	}
	// What gRPC, protobuf and the stubs bring along by themselves.
	byDeps := map[string]bool{}
	for _, line := range strings.Split(goIn(t, "mod", "graph"), "\n") {
		from, to, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		fromPath, _, _ := strings.Cut(from, "@")
		if fromPath != "github.com/ktgrpc/ktgrpc/clients/go" {
			toPath, _, _ := strings.Cut(to, "@")
			byDeps[toPath] = true
		}
	}
	root := strings.Fields(rootRequirements(t))
	for _, m := range graph[1:] {
		if contains(clientModules, m) || !contains(root, m) {
			continue
		}
		if !byDeps[m] {
			t.Errorf("the Go client's module graph holds %s, a dependency of the gateway that no client dependency requires", m)
		}
	}
	for _, serverOnly := range []string{
		"github.com/prometheus/client_golang",
		"github.com/grpc-ecosystem/grpc-gateway/v2",
		"github.com/grpc-ecosystem/go-grpc-middleware/v2",
		"github.com/google/btree",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc",
		"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
		"golang.org/x/time",
		"github.com/ktgrpc/ktgrpc",
		"github.com/ktgrpc/ktgrpc/gen/gateway",
	} {
		if contains(graph, serverOnly) {
			t.Errorf("the Go client's module graph holds %s", serverOnly)
		}
	}
}

// rootRequirements lists the modules the gateway's go.mod requires.
func rootRequirements(t *testing.T) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{if not .Main}}{{.Path}}{{end}}", "all")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m all at the repository root: %v", err)
	}
	return string(out)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
