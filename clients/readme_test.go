package clients

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// snippet is a code block of the README's "Clients" section with the
// output block that follows it.
type snippet struct {
	line   int    // where the code starts in README.md
	code   string // the block's text
	output string // the ```text block after it, "" when there is none
}

// readmeSnippet returns the first ```lang block under the heading
// "### title" of README.md's "## Clients" section.
func readmeSnippet(t *testing.T, title, lang string) snippet {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := findSnippet(string(readme), "## Clients", "### "+title, lang)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if !strings.Contains(sn.code, defaultAddress) {
		t.Fatalf("README.md:%d: the %s snippet does not connect to %s, which the test replaces with its gateway's address", sn.line, title, defaultAddress)
	}
	if sn.output == "" {
		t.Fatalf("README.md:%d: the %s snippet has no ```text block with its output after it", sn.line, title)
	}
	return sn
}

// findSnippet finds the first ```lang block after the heading line sub
// within the part of doc that starts at the heading line section and ends
// at the next heading of the same level.
func findSnippet(doc, section, sub, lang string) (snippet, error) {
	lines := strings.Split(doc, "\n")
	level := strings.SplitN(section, " ", 2)[0] + " "
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) != section {
		i++
	}
	if i == len(lines) {
		return snippet{}, fmt.Errorf("no heading %q", section)
	}
	for i++; i < len(lines) && strings.TrimSpace(lines[i]) != sub; i++ {
		if strings.HasPrefix(lines[i], level) {
			return snippet{}, fmt.Errorf("no heading %q in %q", sub, section)
		}
	}
	for i++; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "####") {
			break
		}
		if l != "```"+lang {
			continue
		}
		code, end, err := fenced(lines, i)
		if err != nil {
			return snippet{}, err
		}
		sn := snippet{line: i + 2, code: strings.Join(code, "\n") + "\n"}
		j := end + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j < len(lines) && strings.TrimSpace(lines[j]) == "```text" {
			out, _, err := fenced(lines, j)
			if err != nil {
				return snippet{}, err
			}
			sn.output = strings.Join(out, "\n") + "\n"
		}
		return sn, nil
	}
	return snippet{}, fmt.Errorf("no ```%s block under %q", lang, sub)
}

// TestReadmeGo checks that the README's Go snippet is the body of the
// package's Example, whose output `go test ./test/goclient` verifies:
// the snippet's lines, the address written out as the example's addr, must
// appear in the Example's body in a row, and the README must show the
// Example's output.
func TestReadmeGo(t *testing.T) {
	sn := readmeSnippet(t, "Go", "go")
	const file = "../test/goclient/example_test.go"
	src, err := os.ReadFile(filepath.FromSlash(file))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var ex *doc.Example
	for _, e := range doc.Examples(f) {
		if e.Name == "" {
			ex = e
		}
	}
	if ex == nil {
		t.Fatalf("%s has no package Example", file)
	}
	body := ex.Code.(*ast.BlockStmt)
	var lines []string
	for _, l := range strings.Split(string(src[fset.Position(body.Lbrace).Offset+1:fset.Position(body.Rbrace).Offset]), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	want := strings.Split(strings.TrimSuffix(strings.ReplaceAll(sn.code, `"`+defaultAddress+`"`, "addr"), "\n"), "\n")
	if !containsRun(lines, want) {
		t.Errorf("README.md:%d: the Go snippet is not the body of Example in %s (with %q for addr); keep the two the same\n--- README:\n%s--- Example body:\n%s",
			sn.line, file, defaultAddress, sn.code, strings.Join(lines, "\n"))
	}
	if sn.output != ex.Output {
		t.Errorf("README.md: the Go snippet's output block differs from Example's // Output\n--- README:\n%s--- Example:\n%s", sn.output, ex.Output)
	}
}

// containsRun reports whether want occurs in lines as consecutive elements.
func containsRun(lines, want []string) bool {
	for i := 0; i+len(want) <= len(lines); i++ {
		match := true
		for j, w := range want {
			if lines[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestReadmePython runs the README's Python snippet, only the address
// replaced, and compares its output with the block the README shows.
func TestReadmePython(t *testing.T) {
	py := python(t)
	sn := readmeSnippet(t, "Python", "python")
	stubs, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	program{
		name:  py,
		args:  []string{"-"},
		env:   []string{"PYTHONPATH=" + stubs, "PYTHONDONTWRITEBYTECODE=1"},
		stdin: strings.ReplaceAll(sn.code, defaultAddress, startGateway(t)),
	}.check(t, sn.output, fmt.Sprintf("README.md:%d", sn.line))
}

// TestReadmeNode runs the README's Node snippet, only the address replaced,
// as an ES module inside clients/node, where @ktgrpc/client resolves to the
// package itself, and compares its output with the block the README shows.
func TestReadmeNode(t *testing.T) {
	node := node(t)
	sn := readmeSnippet(t, "Node", "js")
	program{
		name:  node,
		args:  []string{"--input-type=module"},
		dir:   "node",
		stdin: strings.ReplaceAll(sn.code, defaultAddress, startGateway(t)),
	}.check(t, sn.output, fmt.Sprintf("README.md:%d", sn.line))
}

func TestFindSnippet(t *testing.T) {
	doc := "# T\n\n## Clients\n\n### Go\n\n```sh\ngo get x\n```\n\n```go\nfmt.Println(1)\n```\n\n```text\n1\n```\n\n" +
		"### Python\n\nprose\n\n```python\nprint(2)\n```\n\n## Development\n\n### Rust\n\n```rust\n```\n"
	sn, err := findSnippet(doc, "## Clients", "### Go", "go")
	if err != nil || sn.code != "fmt.Println(1)\n" || sn.output != "1\n" || sn.line != 12 {
		t.Errorf("Go snippet = %+v, %v", sn, err)
	}
	sn, err = findSnippet(doc, "## Clients", "### Python", "python")
	if err != nil || sn.code != "print(2)\n" || sn.output != "" {
		t.Errorf("Python snippet = %+v, %v", sn, err)
	}
	if _, err := findSnippet(doc, "## Clients", "### Rust", "rust"); err == nil {
		t.Error("found a snippet under a heading of another section")
	}
	if _, err := findSnippet(doc, "## Clients", "### Python", "go"); err == nil {
		t.Error("found a go block under Python")
	}
}

// TestReadmeNodeFreshProject installs the package as a user would — the
// tarball `npm pack` makes, into a new CommonJS project — and runs the
// README's Node snippet there verbatim but for the address, saved as app.js
// (CommonJS) and as app.mjs (ES module).
func TestReadmeNodeFreshProject(t *testing.T) {
	node := node(t)
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, "npm not found on PATH: install Node.js 20 or later with npm")
	}
	sn := readmeSnippet(t, "Node", "js")
	dir := t.TempDir()
	pkg, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	tarball := strings.TrimSpace(npmRun(t, npm, pkg, "pack", "--silent", "--pack-destination", dir))
	if i := strings.LastIndexByte(tarball, '\n'); i >= 0 {
		tarball = tarball[i+1:]
	}
	app := filepath.Join(dir, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	// No "type" field: .js files are CommonJS, as in a new npm project.
	if err := os.WriteFile(filepath.Join(app, "package.json"), []byte(`{"name": "app", "version": "1.0.0", "private": true}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	npmRun(t, npm, app, "install", "--no-audit", "--no-fund", "--prefer-offline", filepath.Join(dir, tarball))
	for _, name := range []string{"app.js", "app.mjs"} {
		code := strings.ReplaceAll(sn.code, defaultAddress, startGateway(t)) // a fresh store each
		if err := os.WriteFile(filepath.Join(app, name), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		program{name: node, args: []string{name}, dir: app}.check(t, sn.output, fmt.Sprintf("README.md:%d as %s", sn.line, name))
	}
}

// npmRun runs npm in dir and returns its standard output.
func npmRun(t *testing.T, npm, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	cmd.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("npm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
