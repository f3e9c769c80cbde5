package envflag

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func newSet() (*flag.FlagSet, *string, *time.Duration, *bool) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "default", "")
	timeout := fs.Duration("shutdown-timeout", time.Second, "")
	verbose := fs.Bool("verbose", false, "")
	return fs, listen, timeout, verbose
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestName(t *testing.T) {
	if got := Name("KTGRPC_", "shutdown-timeout"); got != "KTGRPC_SHUTDOWN_TIMEOUT" {
		t.Fatalf("Name = %q", got)
	}
}

func TestApplyPrecedence(t *testing.T) {
	vars := env(map[string]string{
		"KTGRPC_LISTEN":           "from-env",
		"KTGRPC_SHUTDOWN_TIMEOUT": "3s",
		"KTGRPC_VERBOSE":          "true",
	})
	tests := []struct {
		name        string
		args        []string
		wantListen  string
		wantTimeout time.Duration
	}{
		{"env fills unset flags", nil, "from-env", 3 * time.Second},
		{"flag wins over env", []string{"--listen", "from-flag"}, "from-flag", 3 * time.Second},
		// A flag set to its default value still counts as set.
		{"flag equal to default wins", []string{"--shutdown-timeout", "1s"}, "from-env", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, listen, timeout, verbose := newSet()
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := Apply(fs, vars, "KTGRPC_", nil); err != nil {
				t.Fatal(err)
			}
			if *listen != tt.wantListen || *timeout != tt.wantTimeout || !*verbose {
				t.Fatalf("got listen=%q timeout=%v verbose=%v", *listen, *timeout, *verbose)
			}
		})
	}
}

func TestApplyEmptyIsUnset(t *testing.T) {
	fs, listen, _, _ := newSet()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs, env(map[string]string{"KTGRPC_LISTEN": ""}), "KTGRPC_", nil); err != nil {
		t.Fatal(err)
	}
	if *listen != "default" {
		t.Fatalf("listen = %q, want the default", *listen)
	}
}

func TestApplyOnlyNamed(t *testing.T) {
	fs, listen, timeout, _ := newSet()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	vars := env(map[string]string{"KTGRPC_LISTEN": "x", "KTGRPC_SHUTDOWN_TIMEOUT": "bogus"})
	// The bogus timeout must not be read: it is not among the names.
	if err := Apply(fs, vars, "KTGRPC_", []string{"listen"}); err != nil {
		t.Fatal(err)
	}
	if *listen != "x" || *timeout != time.Second {
		t.Fatalf("got listen=%q timeout=%v", *listen, *timeout)
	}
}

func TestApplyBadValueNamesVariable(t *testing.T) {
	fs, _, _, _ := newSet()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := Apply(fs, env(map[string]string{"KTGRPC_SHUTDOWN_TIMEOUT": "soon"}), "KTGRPC_", nil)
	if err == nil {
		t.Fatal("want an error for an unparsable duration")
	}
	for _, want := range []string{"KTGRPC_SHUTDOWN_TIMEOUT", "--shutdown-timeout", `"soon"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	fs, _, _, _ := newSet()
	Describe(fs, "KTGRPC_", []string{"listen"})
	if u := fs.Lookup("listen").Usage; !strings.Contains(u, "KTGRPC_LISTEN") {
		t.Errorf("listen usage %q lacks its variable", u)
	}
	if u := fs.Lookup("verbose").Usage; strings.Contains(u, "KTGRPC_") {
		t.Errorf("verbose usage %q names a variable it does not read", u)
	}
}
