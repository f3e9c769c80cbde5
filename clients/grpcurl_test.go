package clients

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// defaultAddress is the gateway address the documented examples use; the
// test replaces it with the address of its own gateway.
const defaultAddress = "127.0.0.1:7878"

// grpcurlBuildTimeout bounds `go tool -n grpcurl`, which compiles grpcurl
// on a machine whose build cache lacks it (a minute and a half on two idle
// cores, more while other packages build).
const grpcurlBuildTimeout = 6 * time.Minute

// grpcurlExample is one documented grpcurl command and, when the document
// shows one, its expected output.
type grpcurlExample struct {
	line    int    // where the command's block starts, for messages
	command string // as written, continuation lines joined
	args    []string
	want    *string // nil: the document shows no output to compare
}

// parseGrpcurlExamples reads the ```sh blocks of a Markdown document whose
// commands start with "grpcurl", each optionally followed (blank lines
// between allowed) by a ```text block holding the expected output.
func parseGrpcurlExamples(doc string) ([]grpcurlExample, error) {
	lines := strings.Split(doc, "\n")
	var out []grpcurlExample
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		start := i + 1
		body, end, err := fenced(lines, i)
		if err != nil {
			return nil, err
		}
		i = end
		cmds, err := commands(body)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		var grpcurl []grpcurlExample
		for _, c := range cmds {
			args, err := splitWords(c)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: %w", start, c, err)
			}
			if len(args) == 0 || args[0] != "grpcurl" {
				continue
			}
			grpcurl = append(grpcurl, grpcurlExample{line: start, command: c, args: args[1:]})
		}
		if len(grpcurl) == 0 {
			continue
		}
		// An output block belongs to the block's last command.
		j := end + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j < len(lines) && strings.TrimSpace(lines[j]) == "```text" {
			text, tend, err := fenced(lines, j)
			if err != nil {
				return nil, err
			}
			want := strings.Join(text, "\n")
			grpcurl[len(grpcurl)-1].want = &want
			i = tend
		}
		out = append(out, grpcurl...)
	}
	return out, nil
}

// fenced returns the lines of the fenced block opening at lines[open] and
// the index of its closing fence.
func fenced(lines []string, open int) ([]string, int, error) {
	for k := open + 1; k < len(lines); k++ {
		if strings.TrimSpace(lines[k]) == "```" {
			return lines[open+1 : k], k, nil
		}
	}
	return nil, 0, fmt.Errorf("line %d: code block is not closed", open+1)
}

// commands joins backslash-continued lines and drops comments and blank
// lines.
func commands(body []string) ([]string, error) {
	var out []string
	var cur strings.Builder
	for _, l := range body {
		if cur.Len() == 0 && (strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#")) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			continue
		}
		cur.WriteString(l)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	if cur.Len() != 0 {
		return nil, errors.New("command ends with a line continuation")
	}
	return out, nil
}

// splitWords splits a command line as a POSIX shell would for the subset
// the examples use: blanks, single quotes, double quotes and backslash
// escapes. Anything else a shell would interpret (variables, pipes,
// redirections, command lists) is refused, so that a documented example
// never means something else in a real shell than in this test.
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
					i++
				case s[i] == '$' || s[i] == '`':
					return nil, fmt.Errorf("%q inside double quotes is not supported", s[i])
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("$`|&;<>(){}*?[", ch) >= 0 || (ch == '~' && !inWord):
			return nil, fmt.Errorf("shell syntax %q is not supported in examples; quote it", ch)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// normalizeOutput drops the record separators grpcurl's text format puts
// between streamed messages (a terminal shows nothing for them) and
// trailing blanks, so that output compares with what a document shows.
func normalizeOutput(s string) string {
	s = strings.ReplaceAll(s, "\x1e", "")
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), " \t"))
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// grpcurlCommand returns the argv prefix that runs the pinned grpcurl of
// tools/go.mod. `go tool -n` builds it first, so that the build's time and
// output do not mix with the first example, and names the binary: running
// that directly, rather than through `go tool`, leaves no grpcurl behind
// when a timeout kills the command (go would die, its child would not).
func grpcurlCommand(t *testing.T) []string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		unavailable(t, "go not found on PATH: %v", err)
	}
	argv := []string{goBin, "tool", "-modfile=" + filepath.Join(root, "tools", "go.mod")}
	ctx, cancel := context.WithTimeout(context.Background(), grpcurlBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "-n", "grpcurl")...)
	cmd.WaitDelay = waitDelay
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build the pinned grpcurl (%s): %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	// The output is the command line go would run: the binary alone, unless
	// an exec wrapper (go_GOOS_GOARCH_exec) precedes it; fall back to
	// `go tool grpcurl` then.
	if bin := strings.TrimSpace(string(out)); filepath.IsAbs(bin) {
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
			return []string{bin}
		}
	}
	return append(argv, "grpcurl")
}

// runGrpcurlExamples runs every grpcurl example of doc, in order, against
// one fresh gateway.
func runGrpcurlExamples(t *testing.T, name, doc string, grpcurl []string) {
	t.Helper()
	examples, err := parseGrpcurlExamples(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(examples) == 0 {
		t.Fatalf("%s: no grpcurl examples found", name)
	}
	addr := startGateway(t)
	for _, ex := range examples {
		args := make([]string, len(ex.args))
		replaced := false
		for i, a := range ex.args {
			if a == defaultAddress {
				a, replaced = addr, true
			}
			args[i] = a
		}
		if !replaced {
			t.Errorf("%s:%d: %s: no %s argument to point at the test gateway", name, ex.line, ex.command, defaultAddress)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
		cmd := exec.CommandContext(ctx, grpcurl[0], append(append([]string(nil), grpcurl[1:]...), args...)...)
		cmd.WaitDelay = waitDelay
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("%s:%d: %s: %v\nstderr:\n%s", name, ex.line, ex.command, err, stderr.String())
			continue
		}
		if ex.want == nil {
			continue
		}
		if got, want := normalizeOutput(stdout.String()), normalizeOutput(*ex.want); got != want {
			t.Errorf("%s:%d: %s\n--- got:\n%s\n--- want:\n%s", name, ex.line, ex.command, got, want)
		}
	}
}

// TestGrpcurlExamples runs the documented grpcurl examples verbatim, only
// the address replaced, with the pinned grpcurl.
func TestGrpcurlExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("grpcurl", "examples.md"))
	if err != nil {
		t.Fatal(err)
	}
	grpcurl := grpcurlCommand(t)
	t.Run("examples.md", func(t *testing.T) {
		runGrpcurlExamples(t, "clients/grpcurl/examples.md", string(doc), grpcurl)
	})
	// README.md carries the same section; its copy runs too, so that the
	// README cannot drift into examples that do not work.
	t.Run("README.md", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join("..", "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		runGrpcurlExamples(t, "README.md", string(readme), grpcurl)
	})
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: `grpcurl -plaintext -d 'key: "k1"' 127.0.0.1:7878 ktgrpc.v1.KV/Get`,
			want: []string{"grpcurl", "-plaintext", "-d", `key: "k1"`, "127.0.0.1:7878", "ktgrpc.v1.KV/Get"}},
		{in: `a "b \"c\" \$d" e\ f`, want: []string{"a", `b "c" $d`, "e f"}},
		{in: `a '' b`, want: []string{"a", "", "b"}},
		{in: `a 'b`, err: true},
		{in: `a $HOME`, err: true},
		{in: `a | b`, err: true},
		{in: `a "$HOME"`, err: true},
		{in: `a b*`, err: true},
		{in: `a ~/x`, err: true},
		{in: `a b~c '{x}'`, want: []string{"a", "b~c", "{x}"}},
	} {
		got, err := splitWords(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("splitWords(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
			t.Errorf("splitWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseGrpcurlExamples(t *testing.T) {
	doc := "text\n\n```sh\n# comment\ngrpcurl -plaintext \\\n  127.0.0.1:7878 list\n```\n\n```text\na\nb\n```\n\n" +
		"```sh\necho hi\n```\n\n```sh\ngrpcurl x 127.0.0.1:7878 y\n```\nprose\n```text\nnot attached\n```\n"
	got, err := parseGrpcurlExamples(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d examples, want 2: %+v", len(got), got)
	}
	if strings.Join(got[0].args, " ") != "-plaintext 127.0.0.1:7878 list" || got[0].want == nil || *got[0].want != "a\nb" {
		t.Errorf("first example = %q want %v", got[0].args, got[0].want)
	}
	if strings.Join(got[1].args, " ") != "x 127.0.0.1:7878 y" || got[1].want != nil {
		t.Errorf("second example = %q, output attached: %v", got[1].args, got[1].want != nil)
	}
	if _, err := parseGrpcurlExamples("```sh\ngrpcurl a\n"); err == nil {
		t.Error("unclosed block parsed without error")
	}
}

// TestGrpcurlExamplesInStep keeps README.md's grpcurl section, between its
// grpcurl-examples markers, the same as clients/grpcurl/examples.md below
// its title, as the marker promises.
func TestGrpcurlExamplesInStep(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("grpcurl", "examples.md"))
	if err != nil {
		t.Fatal(err)
	}
	const open, end = "<!-- grpcurl-examples", "<!-- /grpcurl-examples -->"
	s := string(readme)
	i := strings.Index(s, open)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md: no %q ... %q markers around the grpcurl examples", open+" ... -->", end)
	}
	section := s[i:j]
	section = section[strings.IndexByte(section, '\n')+1:] // drop the opening marker's line
	_, body, ok := strings.Cut(string(doc), "\n\n")        // drop the title
	if !ok {
		t.Fatal("clients/grpcurl/examples.md: no title line")
	}
	if strings.TrimSpace(section) != strings.TrimSpace(body) {
		t.Errorf("README.md's grpcurl examples and clients/grpcurl/examples.md differ; copy one to the other\n--- README.md:\n%s\n--- examples.md:\n%s", section, body)
	}
}
