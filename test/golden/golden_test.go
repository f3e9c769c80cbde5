package golden

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestLoadCaptures reads the real captures: the counts are those of the
// README, and every line decodes with no field left unknown.
func TestLoadCaptures(t *testing.T) {
	want := map[string]int{
		"kt-binary.jsonl": 64, "kt-rpc.jsonl": 96, "kt-replication.jsonl": 18,
		"tt-binary.jsonl": 79, "tt-replication.jsonl": 19,
	}
	total := 0
	for file, n := range want {
		if got := len(Load(t, file)); got != n {
			t.Errorf("%s: %d cases, want %d", file, got, n)
		}
		total += n
	}
	all := Load(t)
	if len(all) != total {
		t.Errorf("Load() = %d cases, want %d", len(all), total)
	}

	byName := map[string]Case{}
	for _, c := range all {
		byName[c.Name] = c
	}
	// The second response of a pipelined write has no request of its own
	// and is still an HTTP step.
	pipelined := byName["kt-rpc/http/pipelined"].Steps
	if len(pipelined) < 2 || !pipelined[1].HTTP || pipelined[1].Request != nil || pipelined[1].Response == nil ||
		pipelined[1].Response.BodyText == nil || *pipelined[1].Response.BodyText != "value\tv\n" {
		t.Errorf("kt-rpc/http/pipelined steps: %+v", pipelined)
	}
	// A null response (the server closed) is an HTTP step without Response.
	var closed *Step
	for i, st := range byName["kt-rpc/http/get-with-body"].Steps {
		if st.Request == nil && st.HTTP {
			closed = &byName["kt-rpc/http/get-with-body"].Steps[i]
		}
	}
	if closed == nil || closed.Response != nil || !closed.Closes {
		t.Errorf("kt-rpc/http/get-with-body: no HTTP step with a null response: %+v", byName["kt-rpc/http/get-with-body"].Steps)
	}
	for _, c := range all {
		for i, st := range c.Steps {
			if st.HTTP && st.ExpectHex != "" || !st.HTTP && st.Response != nil {
				t.Errorf("%s step %d: HTTP=%v with expect_hex %q", c.Name, i, st.HTTP, st.ExpectHex)
			}
		}
	}
}

// recorder stands in for a test to see whether Load skips or fails.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runLoad calls Load on a recorder, in a goroutine of its own because a
// skip or failure ends it.
func runLoad(t *testing.T, files ...string) (*recorder, []Case) {
	r := &recorder{TB: t}
	var cases []Case
	done := make(chan struct{})
	go func() {
		defer close(done)
		cases = Load(r, files...)
	}()
	<-done
	return r, cases
}

// writeFiles creates files (path relative to dir: content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const oneCase = `{"name": "x/%s", "server": "kt", "config": "kt-main", "steps": [{"conn": 0, "send_hex": "b8", "expect_hex": "bf", "closes": true}]}` + "\n"

func TestLoadWithoutCaptures(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"repo/go.mod": "module x\n", "repo/pkg/a/doc.txt": ""})
	t.Setenv(DirEnv, "")
	t.Setenv(legacyDirEnv, "")
	t.Chdir(filepath.Join(root, "repo", "pkg", "a"))

	t.Setenv("CI", "")
	r, _ := runLoad(t, "kt-binary.jsonl")
	if !r.skipped || r.failed || !strings.Contains(r.msg, DirEnv) || !strings.Contains(r.msg, filepath.Join(root, "shared", "golden")) {
		t.Errorf("outside CI: skipped=%v failed=%v %q; want a skip naming the directory and %s", r.skipped, r.failed, r.msg, DirEnv)
	}
	t.Setenv("CI", "true")
	r, _ = runLoad(t, "kt-binary.jsonl")
	if !r.failed || r.skipped || !strings.Contains(r.msg, "CI") {
		t.Errorf("in CI: skipped=%v failed=%v %q; want a failure", r.skipped, r.failed, r.msg)
	}

	// Captures beside the repository are found from any package directory.
	writeFiles(t, root, map[string]string{"shared/golden/kt-binary.jsonl": fmt.Sprintf(oneCase, "a")})
	r, cases := runLoad(t, "kt-binary.jsonl")
	if r.failed || r.skipped || len(cases) != 1 || cases[0].Name != "x/a" || !cases[0].Steps[0].Closes {
		t.Errorf("beside the repository: %+v %q %+v", r, r.msg, cases)
	}
}

func TestLoadFromVariable(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"kt-a.jsonl": fmt.Sprintf(oneCase, "a") + "\n" + fmt.Sprintf(oneCase, "b"),
		"kt-b.jsonl": fmt.Sprintf(oneCase, "c"),
		"tt-c.jsonl": fmt.Sprintf(oneCase, "d"),
	})
	legacy := t.TempDir()
	writeFiles(t, legacy, map[string]string{"kt-a.jsonl": fmt.Sprintf(oneCase, "legacy")})
	t.Setenv("CI", "")
	t.Setenv(DirEnv, dir)
	t.Setenv(legacyDirEnv, legacy)
	t.Chdir(t.TempDir()) // no repository around: only the variable can find them

	names := func(cases []Case) string {
		var s []string
		for _, c := range cases {
			s = append(s, c.Name)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{"kt-a.jsonl"}, "x/a x/b"},
		{[]string{"kt-*.jsonl"}, "x/a x/b x/c"},
		{[]string{"tt-c.jsonl", "kt-b.jsonl"}, "x/d x/c"},
		{nil, "x/a x/b x/c x/d"},
		{[]string{"kt-*.jsonl", "kt-a.jsonl", "*"}, "x/a x/b x/c x/d"},
	} {
		r, cases := runLoad(t, tc.files...)
		if r.failed || r.skipped || names(cases) != tc.want {
			t.Errorf("Load(%q) = %q (%q), want %q", tc.files, names(cases), r.msg, tc.want)
		}
	}

	t.Setenv(DirEnv, "")
	if r, cases := runLoad(t, "kt-a.jsonl"); r.failed || r.skipped || names(cases) != "x/legacy" {
		t.Errorf("%s: %q (%q)", legacyDirEnv, names(cases), r.msg)
	}
	t.Setenv(DirEnv, filepath.Join(dir, "missing"))
	if r, _ := runLoad(t, "kt-a.jsonl"); !r.failed || !strings.Contains(r.msg, DirEnv) {
		t.Errorf("a variable naming no directory must fail, not skip: %+v %q", r, r.msg)
	}
}

func TestLoadRefusesBrokenCaptures(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"dup.jsonl":      fmt.Sprintf(oneCase, "a") + fmt.Sprintf(oneCase, "a"),
		"unknown.jsonl":  `{"name": "u", "steps": [{"conn": 0, "send_hex": "", "mask_bits": [1]}]}`,
		"unknown2.jsonl": `{"name": "u", "steps": [{"conn": 0, "response": {"status": 200, "trailer": "x"}}]}`,
		"broken.jsonl":   fmt.Sprintf(oneCase, "a") + `{"name": "b", "steps": [`,
		"trailing.jsonl": strings.TrimSuffix(fmt.Sprintf(oneCase, "a"), "\n") + " {}\n",
		"nameless.jsonl": `{"steps": [{"conn": 0, "send_hex": ""}]}`,
		"stepless.jsonl": `{"name": "s", "steps": []}`,
		"empty.jsonl":    "\n\n",
		"badhex.jsonl":   `{"name": "h", "steps": [{"conn": 0, "send_hex": "zz"}]}`,
	})
	t.Setenv("CI", "")
	t.Setenv(DirEnv, dir)
	for _, tc := range []struct{ file, want string }{
		{"dup.jsonl", "unique"},
		{"unknown.jsonl", "mask_bits"},
		{"unknown2.jsonl", "trailer"},
		{"broken.jsonl", "broken.jsonl:2"},
		{"trailing.jsonl", "after the JSON value"},
		{"empty.jsonl", "no case"},
		{"nameless.jsonl", "nameless.jsonl:1: a case needs a name and steps"},
		{"stepless.jsonl", "stepless.jsonl:1: a case needs a name and steps"},
		{"none-*.jsonl", "no capture file"},
		{"[", "bad file pattern"},
	} {
		if r, _ := runLoad(t, tc.file); !r.failed || !strings.Contains(r.msg, tc.want) {
			t.Errorf("Load(%q): failed=%v %q, want a failure mentioning %q", tc.file, r.failed, r.msg, tc.want)
		}
	}
	r, cases := runLoad(t, "badhex.jsonl")
	if r.failed || len(cases) != 1 {
		t.Fatalf("badhex.jsonl: %q", r.msg)
	}
	r = &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Hex(r, cases[0].Steps[0].SendHex)
	}()
	<-done
	if !r.failed || !strings.Contains(r.msg, `"zz"`) {
		t.Errorf("Hex of bad hex: failed=%v %q", r.failed, r.msg)
	}
}

func TestMaskedDiff(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		masks     [][2]int
		diff      int
	}{
		{"abcd", "abcd", nil, -1},
		{"abXd", "abcd", nil, 2},
		{"abXd", "abcd", [][2]int{{2, 1}}, -1},
		{"XbcY", "abcd", [][2]int{{1, 2}}, 0},
		{"abcY", "abcd", [][2]int{{0, 3}}, 3},
		{"abXY", "abcd", [][2]int{{2, 10}}, -1},
		{"", "", [][2]int{{0, 4}}, -1},
		{"abc", "abcd", nil, 3},
		{"abcd", "abc", nil, 3},
		{"abX", "abcd", [][2]int{{2, 2}}, 3},
		{"abcd", "abcd", [][2]int{{-1, 2}}, -1},
	} {
		if got := MaskedDiff([]byte(tc.got), []byte(tc.want), tc.masks); got != tc.diff {
			t.Errorf("MaskedDiff(%q, %q, %v) = %d, want %d", tc.got, tc.want, tc.masks, got, tc.diff)
		}
		if eq := MaskedEqual([]byte(tc.got), []byte(tc.want), tc.masks); eq != (tc.diff < 0) {
			t.Errorf("MaskedEqual(%q, %q, %v) = %v", tc.got, tc.want, tc.masks, eq)
		}
	}
}

// TestOnlyTestsImport keeps the package out of the gateway: only test
// files and the helpers under test/ may import it.
func TestOnlyTestsImport(t *testing.T) {
	const self = "github.com/ktgrpc/ktgrpc/test/golden"
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(filepath.Dir(wd)) // test/golden -> repository root
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no repository root at %s: %v", root, err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			name := d.Name()
			if rel == "test" || p != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == self {
				t.Errorf("%s imports %s, which is for tests only", rel, self)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.SkipAll) {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Errorf("only %d non-test files checked under %s", checked, root)
	}
}
