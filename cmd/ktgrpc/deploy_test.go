package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// The settings example in deploy/ is what serve accepts, and means what its
// comments say.
func TestSettingsExampleParses(t *testing.T) {
	f, err := os.Open("../../deploy/ktgrpc.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) {
			t.Fatalf("line %q is not KTGRPC_<FLAG>=value", line)
		}
		env[k] = v
	}
	c := &cli{stderr: os.Stderr, getenv: func(k string) string { return env[k] }}
	cfg, err := c.parseServe(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listen != "[::]:7878" || cfg.ops.tokensFile != "/etc/ktgrpc/tokens" || cfg.ops.drainDelay != 5*time.Second ||
		cfg.ops.limits.MaxBulkKeys != 10000 || cfg.ops.limits.MaxStreamsPerConnection != 64 || cfg.ops.metricsListen == "" {
		t.Errorf("the example parses to %+v", cfg)
	}
}
