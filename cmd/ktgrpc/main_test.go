package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/hub"
	"github.com/ktgrpc/ktgrpc/server"
)

// result is what one in-process invocation produced.
type result struct {
	code           int
	stdout, stderr string
}

// invoke runs the command line in-process with only the given environment.
func invoke(ctx context.Context, env map[string]string, stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

func TestHelp(t *testing.T) {
	ctx := t.Context()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := invoke(ctx, nil, "", args...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, cmd := range commands() {
			if !strings.Contains(r.stdout, "  "+cmd.name+" ") {
				t.Errorf("%v: usage does not list %q:\n%s", args, cmd.name, r.stdout)
			}
		}
	}

	r := invoke(ctx, nil, "")
	if r.code != exitUsage || !strings.Contains(r.stderr, "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q; want usage and exit 2", r.code, r.stderr)
	}

	r = invoke(ctx, nil, "", "help", "get")
	if r.code != exitOK || !strings.Contains(r.stdout, "Usage: ktgrpc get [flags] KEY") || !strings.Contains(r.stdout, "KTGRPC_ADDR") {
		t.Errorf("help get: exit %d, stdout %q", r.code, r.stdout)
	}
	r = invoke(ctx, nil, "", "help", "serve")
	for _, want := range []string{"KTGRPC_LISTEN", "KTGRPC_BACKEND", "KTGRPC_SHUTDOWN_TIMEOUT", "kt://host:port",
		"KTGRPC_TLS_CERT", "KTGRPC_TLS_KEY", "KTGRPC_TLS_CLIENT_CA", "KTGRPC_MAX_CONCURRENT_STREAMS"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help serve lacks %q:\n%s", want, r.stdout)
		}
	}
	r = invoke(ctx, nil, "", "help", "watch")
	for _, want := range []string{"(env KTGRPC_TLS)", "KTGRPC_TLS_CA", "KTGRPC_CLIENT_TLS_CERT", "KTGRPC_CLIENT_TLS_KEY", "KTGRPC_TLS_SERVER_NAME"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help watch lacks %q:\n%s", want, r.stdout)
		}
	}
	r = invoke(ctx, nil, "", "set", "-h")
	if r.code != exitOK || !strings.Contains(r.stderr, "-ttl") {
		t.Errorf("set -h: exit %d, stderr %q", r.code, r.stderr)
	}
	r = invoke(ctx, nil, "", "help", "nope")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown command "nope"`) {
		t.Errorf("help nope: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := invoke(t.Context(), nil, "", "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "ktgrpc ") || !strings.Contains(r.stdout, "go1") {
		t.Fatalf("version: exit %d, stdout %q", r.code, r.stdout)
	}
	// A test binary carries no VCS information: the version says so rather
	// than printing nothing or a made-up revision.
	if !strings.Contains(r.stdout, " revision unknown ") {
		t.Errorf("version of a build without VCS information = %q, want \"revision unknown\"", r.stdout)
	}
	buildRevision = "0123456789abcdef"
	t.Cleanup(func() { buildRevision = "" })
	if r := invoke(t.Context(), nil, "", "--version"); !strings.Contains(r.stdout, " 0123456789ab ") {
		t.Errorf("--version with a revision from the linker = %q, want its first 12 digits", r.stdout)
	}
}

// TestUsageErrors checks that every malformed command line exits 2 with a
// message naming the problem, before any connection is attempted (the
// address points nowhere).
func TestUsageErrors(t *testing.T) {
	nowhere := map[string]string{"KTGRPC_ADDR": "127.0.0.1:1"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"get without key", nil, []string{"get"}, "want KEY, got 0"},
		{"get with two keys", nil, []string{"get", "a", "b"}, "want KEY, got 2"},
		{"set too many", nil, []string{"set", "a", "b", "c"}, "want KEY [VALUE], got 3"},
		{"scan with argument", nil, []string{"scan", "x"}, "scan takes no arguments"},
		{"unknown flag", nil, []string{"get", "--bogus", "k"}, "flag provided but not defined"},
		{"bad format flag", nil, []string{"get", "--format", "yaml", "k"}, `unknown format "yaml"`},
		{"bad format env", map[string]string{"KTGRPC_FORMAT": "yaml"}, []string{"get", "k"}, "KTGRPC_FORMAT"},
		{"bad timeout env", map[string]string{"KTGRPC_TIMEOUT": "soon"}, []string{"get", "k"}, "KTGRPC_TIMEOUT (--timeout)"},
		{"bad hex key", nil, []string{"get", "--format", "hex", "zz"}, "not valid hex"},
		{"bad base64 value", nil, []string{"set", "--format", "base64", "AA==", "!!"}, "not valid base64"},
		{"negative ttl", nil, []string{"set", "k", "v", "--ttl", "-1s"}, "--ttl -1s"},
		{"negative limit", nil, []string{"scan", "--limit", "-1"}, "--limit -1"},
		{"bad hex prefix", nil, []string{"scan", "--format", "hex", "--prefix", "q"}, "--prefix"},
		{"serve argument", nil, []string{"serve", "extra"}, "serve takes no arguments"},
		{"serve log level", nil, []string{"serve", "--log-level", "loud"}, "log-level"},
		{"serve log format", nil, []string{"serve", "--log-format", "xml"}, "want one of text, json"},
		{"serve log format env", map[string]string{"KTGRPC_LOG_FORMAT": "xml"}, []string{"serve"}, "KTGRPC_LOG_FORMAT"},
		{"serve shutdown timeout", nil, []string{"serve", "--shutdown-timeout", "0s"}, "--shutdown-timeout 0s: must be positive"},
		{"serve value above message", nil, []string{"serve", "--max-value-size", "1G"}, "--max-value-size 1GiB must be below --max-message-size 128MiB"},
		{"serve bad size", nil, []string{"serve", "--max-value-size", "lots"}, "not a size"},
		{"serve tls cert without key", nil, []string{"serve", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"serve tls key env without cert", map[string]string{"KTGRPC_TLS_KEY": "k.pem"}, []string{"serve"}, "--tls-cert and --tls-key go together"},
		{"serve client CA without cert", nil, []string{"serve", "--tls-client-ca", "ca.pem"}, "--tls-client-ca needs --tls-cert and --tls-key"},
		{"serve too many streams", nil, []string{"serve", "--max-concurrent-streams", "4294967296"}, "--max-concurrent-streams 4294967296: must be at most 4294967295"},
		{"serve negative streams", nil, []string{"serve", "--max-concurrent-streams", "-1"}, "max-concurrent-streams"},
		{"serve empty hub window", nil, []string{"serve", "--hub-window-events", "0"}, "--hub-window-events, --hub-window-bytes, --hub-subscriber-buffer and --hub-catch-up-readers must be at least 1"},
		{"serve negative wake spacing", nil, []string{"serve", "--hub-wake-spacing", "-1ms"}, "--hub-wake-spacing -1ms must not be negative"},
		{"serve no cursor streams", nil, []string{"serve", "--max-cursor-streams", "0"}, "--max-cursor-streams 0"},
		{"serve no stall timeout", nil, []string{"serve", "--stall-timeout", "0s"}, "--stall-timeout 0s must be positive"},
		{"serve no pipeline depth", nil, []string{"serve", "--pipeline-depth", "0"}, "--pipeline-depth 0 must be at least 1"},
		{"client cert without key", nil, []string{"get", "--tls-cert", "c.pem", "k"}, "--tls-cert and --tls-key go together"},
		{"client key env without cert", map[string]string{"KTGRPC_CLIENT_TLS_KEY": "k.pem"}, []string{"get", "k"}, "--tls-cert and --tls-key go together"},
		{"tls off with a CA", map[string]string{"KTGRPC_TLS_CA": "ca.pem"}, []string{"get", "--tls=false", "k"}, "--tls=false contradicts"},
		{"tls env off with a server name", map[string]string{"KTGRPC_TLS": "false"}, []string{"status", "--tls-server-name", "gw"}, "--tls=false contradicts"},
		{"bad tls env", map[string]string{"KTGRPC_TLS": "maybe"}, []string{"get", "k"}, "KTGRPC_TLS (--tls)"},
		{"version argument", nil, []string{"version", "x"}, "version takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range nowhere {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			r := invoke(t.Context(), env, "", tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestParseServe(t *testing.T) {
	c := &cli{stdout: io.Discard, stderr: io.Discard}

	c.getenv = func(string) string { return "" }
	cfg, err := c.parseServe(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != "127.0.0.1:7878" || cfg.backend != "embedded:" || cfg.logLevel != slog.LevelInfo ||
		cfg.logFormat.value != "text" || cfg.shutdownTimeout != 10*time.Second ||
		cfg.maxValueSize != server.DefaultMaxValueSize || cfg.healthInterval != server.DefaultHealthInterval ||
		cfg.tls != (serverTLS{}) || cfg.tls.mode() != "off" || cfg.maxStreams != 0 || cfg.hub.wakeSpacing != hub.DefaultWakeSpacing {
		t.Errorf("defaults: %+v", cfg)
	}
	if hubWakeSpacing(0) >= 0 || hubWakeSpacing(time.Millisecond) != time.Millisecond {
		t.Errorf("--hub-wake-spacing 0 must wake on every change (the hub's negative), others pass through")
	}

	env := map[string]string{
		"KTGRPC_LISTEN":                 "127.0.0.1:9000",
		"KTGRPC_BACKEND":                "kt://db:1978",
		"KTGRPC_LOG_LEVEL":              "debug",
		"KTGRPC_LOG_FORMAT":             "JSON",
		"KTGRPC_MAX_VALUE_SIZE":         "2MiB",
		"KTGRPC_SHUTDOWN_TIMEOUT":       "3s",
		"KTGRPC_TLS_CERT":               "s.pem",
		"KTGRPC_TLS_KEY":                "s-key.pem",
		"KTGRPC_TLS_CLIENT_CA":          "ca.pem",
		"KTGRPC_MAX_CONCURRENT_STREAMS": "100",
		"KTGRPC_HUB_WINDOW_BYTES":       "1M",
		"KTGRPC_HUB_CATCH_UP_READERS":   "3",
		"KTGRPC_HUB_WAKE_SPACING":       "1ms",
	}
	c.getenv = func(k string) string { return env[k] }
	cfg, err = c.parseServe(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != "127.0.0.1:9000" || cfg.backend != "kt://db:1978" || cfg.logLevel != slog.LevelDebug ||
		cfg.logFormat.value != "json" || cfg.maxValueSize != 2<<20 || cfg.shutdownTimeout != 3*time.Second ||
		cfg.tls != (serverTLS{cert: "s.pem", key: "s-key.pem", clientCA: "ca.pem"}) || cfg.tls.mode() != "mutual" || cfg.maxStreams != 100 ||
		cfg.hub != (hubFlags{windowEvents: hub.DefaultWindowEvents, windowBytes: 1 << 20, subscriberBuffer: hub.DefaultSubscriberBuffer, catchUpReaders: 3, wakeSpacing: time.Millisecond}) {
		t.Errorf("from the environment: %+v", cfg)
	}

	// Flags win over the environment, wherever they stand.
	cfg, err = c.parseServe([]string{"--listen", ":1", "--backend=tt://x:1", "--log-level", "error", "--shutdown-timeout", "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != ":1" || cfg.backend != "tt://x:1" || cfg.logLevel != slog.LevelError || cfg.shutdownTimeout != time.Minute {
		t.Errorf("flags over the environment: %+v", cfg)
	}
	if cfg.logFormat.value != "json" {
		t.Errorf("log format %q: the environment should still fill unset flags", cfg.logFormat.value)
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args       []string
		wantPos    []string
		wantPrefix string
		wantKeys   bool
	}{
		{[]string{"k", "v", "--prefix", "p"}, []string{"k", "v"}, "p", false},
		{[]string{"--keys-only", "k", "--prefix=p", "v"}, []string{"k", "v"}, "p", true},
		{[]string{"k", "--", "--prefix", "-v"}, []string{"k", "--prefix", "-v"}, "", false},
		// "--" as a flag's value is a value, not the end of the flags.
		{[]string{"--prefix", "--", "k", "--keys-only"}, []string{"k"}, "--", true},
		{[]string{"--keys-only", "--", "-k"}, []string{"-k"}, "", true},
		{nil, nil, "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		prefix := fs.String("prefix", "", "")
		keys := fs.Bool("keys-only", false, "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !slices.Equal(pos, tt.wantPos) || *prefix != tt.wantPrefix || *keys != tt.wantKeys {
			t.Errorf("%q: positional %q prefix %q keys-only %v; want %q %q %v",
				tt.args, pos, *prefix, *keys, tt.wantPos, tt.wantPrefix, tt.wantKeys)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    byteSize
		printed string
	}{
		{"1024", 1024, "1KiB"},
		{"1000", 1000, "1000"},
		{"1000B", 1000, "1000"},
		{"64MiB", 64 << 20, "64MiB"},
		{"64M", 64 << 20, "64MiB"},
		{"3K", 3 << 10, "3KiB"},
		{"2GiB", 2 << 30, "2GiB"},
		{"1536KiB", 1536 << 10, "1536KiB"},
	}
	for _, tt := range tests {
		var s byteSize
		if err := s.Set(tt.in); err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if s != tt.want || s.String() != tt.printed {
			t.Errorf("%q = %d (%s), want %d (%s)", tt.in, s, s, tt.want, tt.printed)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1MB", "1.5M", "M", "99999999999G"} {
		var s byteSize
		if err := s.Set(bad); err == nil {
			t.Errorf("%q: accepted as %d", bad, s)
		}
	}
}
