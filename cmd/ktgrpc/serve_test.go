package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// startupLine waits for the JSON log line that announces the server and
// returns its fields.
func startupLine(t *testing.T, logs *lines) map[string]any {
	t.Helper()
	for {
		line := logs.next(t)
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["msg"] == "ktgrpc serving" {
			return m
		}
	}
}

// TestServeInProcess runs serve in-process (so that the race detector sees
// it), reads the address from its startup line, uses it, and checks that
// cancelling its context (what SIGTERM does in main) stops it cleanly while a
// stream is open.
func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := newLines()
	env := map[string]string{"KTGRPC_BACKEND": "embedded:?dbs=main", "KTGRPC_LOG_FORMAT": "json"}
	done := make(chan int, 1)
	go func() {
		// The long shutdown timeout means a clean exit can only come from the
		// stream ending, not from the forced stop.
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "10m"},
			strings.NewReader(""), io.Discard, logs, func(k string) string { return env[k] })
	}()

	start := startupLine(t, logs)
	addr, _ := start["listen"].(string)
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Fatalf("startup line names listen %q, want the bound address: %v", addr, start)
	}
	if start["backend"] != "embedded" || start["level"] != "INFO" {
		t.Errorf("startup line %v, want backend embedded at INFO", start)
	}

	cenv := map[string]string{"KTGRPC_ADDR": addr}
	must(t, cenv, "", "set", "--db", "main", "k", "v")
	if out := must(t, cenv, "", "get", "k"); out != "v\n" {
		t.Errorf("get = %q", out)
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := ktgrpcv1.NewReplicationClient(conn).Subscribe(t.Context(),
		&ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first message of the stream: %v", err)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exited %d after cancel; log:\n%s", code, logs)
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop; log:\n%s", logs)
	}
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			t.Fatalf("stream ended with %v, want a status saying the gateway stops", err)
		}
		t.Logf("stream ended with %v", err)
		break
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no stop line in the log:\n%s", logs)
	}
}

func TestServeFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scheme", []string{"--backend", "bogus://x"}, `ktgrpc: serve: open backend: backend URL "bogus://x": unknown scheme "bogus"`},
		{"bad embedded options", []string{"--backend", "embedded:?dbs=a:weird"}, "ktgrpc: serve: open backend: "},
		{"address in use", []string{"--listen", busy.Addr().String()}, "ktgrpc: serve: listen on " + busy.Addr().String() + ": "},
		{"bad address", []string{"--listen", "not-an-address"}, "ktgrpc: serve: listen on not-an-address: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0"}, tt.args...)
			r := invoke(t.Context(), nil, "", args...)
			if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestServeBackendDown checks that a backend that cannot be reached is
// reported at the default log level: either opening it fails, or the
// gateway starts and warns.
func TestServeBackendDown(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []string{"kt", "tt"} {
		t.Run(scheme, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			logs := newLines()
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--backend", scheme + "://" + addr},
					strings.NewReader(""), io.Discard, logs, func(string) string { return "" })
			}()
			for {
				line := logs.next(t)
				if strings.HasPrefix(line, "ktgrpc: serve: open backend: ") {
					if code := <-done; code != exitError {
						t.Errorf("exit %d after %q", code, line)
					}
					return
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					continue
				}
				if m["level"] == "WARN" && strings.Contains(line, "backend is not answering") {
					if !strings.Contains(line, addr) {
						t.Errorf("warning %q does not name the backend address", line)
					}
					cancel()
					if code := <-done; code != exitOK {
						t.Errorf("exit %d after cancel", code)
					}
					return
				}
			}
		})
	}
}
