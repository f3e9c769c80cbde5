// Package deploy holds the files that ship the gateway (systemd unit,
// settings and tokens examples); its tests check them and the Dockerfile
// against the Makefile and the binary.
package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ktgrpc/ktgrpc/server/access"
)

// root is the repository root, relative to this package.
const root = ".."

// dockerStages reads the Dockerfile into its stages' FROM and RUN lines.
func dockerStages(t *testing.T) (froms []string, runs [][]string, users []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			froms = append(froms, strings.TrimPrefix(line, "FROM "))
			runs = append(runs, nil)
		case strings.HasPrefix(line, "RUN ") && len(runs) > 0:
			runs[len(runs)-1] = append(runs[len(runs)-1], strings.TrimPrefix(line, "RUN "))
		case strings.HasPrefix(line, "USER "):
			users = append(users, strings.TrimPrefix(line, "USER "))
		}
	}
	return froms, runs, users
}

func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// The image builds with the repository's Go, on a minimal base, as a
// non-root user, and its build command is `make static`'s.
func TestDockerfile(t *testing.T) {
	froms, runs, users := dockerStages(t)
	if len(froms) != 2 {
		t.Fatalf("want a build and a runtime stage, got FROM %q", froms)
	}
	if want := "golang:" + goDirective(t) + " AS build"; froms[0] != want {
		t.Errorf("build stage FROM %q, want %q (go.mod's Go)", froms[0], want)
	}
	if !strings.HasPrefix(froms[1], "gcr.io/distroless/static") || !strings.HasSuffix(froms[1], ":nonroot") {
		t.Errorf("runtime stage FROM %q, want distroless static nonroot", froms[1])
	}
	if len(runs[1]) != 0 {
		t.Errorf("the runtime stage runs %q; it has no shell", runs[1])
	}
	if len(users) != 1 || strings.HasPrefix(users[0], "root") || strings.HasPrefix(users[0], "0") {
		t.Errorf("USER %q, want one non-root user", users)
	}
	var build string
	for _, r := range runs[0] {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	if build == "" {
		t.Fatal("the build stage runs no go build")
	}
	mk := makeStaticCommand(t, "/out/ktgrpc")
	if build != mk {
		t.Errorf("Dockerfile builds with\n\t%s\nmake static with\n\t%s", build, mk)
	}
}

// makeStaticCommand is what `make static` runs to write out.
func makeStaticCommand(t *testing.T, out string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not on PATH")
	}
	cmd := exec.CommandContext(t.Context(), "make", "-s", "-n", "static", "GO=go", "STATIC_OUT="+out)
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n static: %v", err)
	}
	return strings.TrimSpace(string(b))
}

var static struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// staticBinary runs `make static` once per test binary.
func staticBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not on PATH")
	}
	static.once.Do(func() {
		dir, err := os.MkdirTemp("", "ktgrpc-static")
		if err != nil {
			static.err = err
			return
		}
		static.bin = filepath.Join(dir, "ktgrpc")
		cmd := exec.Command("make", "-s", "static", "STATIC_OUT="+static.bin)
		cmd.Dir = root
		static.out, static.err = cmd.CombinedOutput()
	})
	if static.err != nil {
		t.Fatalf("make static: %v\n%s", static.err, static.out)
	}
	return static.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if static.bin != "" {
		os.RemoveAll(filepath.Dir(static.bin))
	}
	os.Exit(code)
}

// `make static` builds a static binary that names its revision.
func TestStaticBuild(t *testing.T) {
	bin := staticBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Errorf("the binary needs shared libraries %q", libs)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	version := string(out)
	if !strings.HasPrefix(version, "ktgrpc ") {
		t.Fatalf("--version = %q", version)
	}
	// The go command finds a revision only in a .git directory, not in the
	// .git file of a linked worktree.
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		t.Logf("no .git directory (a linked worktree or an export): not checking the revision in %q", version)
		return
	}
	rev, err := exec.CommandContext(t.Context(), "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git rev-parse: %v", err)
	}
	if want := strings.TrimSpace(string(rev))[:12]; !strings.Contains(version, want) {
		t.Errorf("--version = %q, want the revision %s", version, want)
	}
}

// systemd accepts the unit without a warning.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH (Debian package systemd): not verifying deploy/ktgrpc.service")
	}
	unit, err := os.ReadFile("ktgrpc.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/ktgrpc serve")) {
		t.Fatal("the unit does not start /usr/local/bin/ktgrpc serve")
	}
	// verify checks that ExecStart's binary exists, so it runs the one
	// just built.
	bin := staticBinary(t)
	file := filepath.Join(t.TempDir(), "ktgrpc.service")
	if err := os.WriteFile(file, bytes.ReplaceAll(unit, []byte("/usr/local/bin/ktgrpc"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), analyze, "verify", file).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte(file)) {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, opt := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "User=ktgrpc"} {
		if !bytes.Contains(unit, []byte(opt)) {
			t.Errorf("the unit lacks %q", opt)
		}
	}
}

func TestTokensExampleParses(t *testing.T) {
	f, err := access.Load("tokens.example")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := f.Table().Token("example-token-change-me")
	if !ok || p.Rights != access.Read {
		t.Errorf("the documented example token gives %+v, %v", p, ok)
	}
}
