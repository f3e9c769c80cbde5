package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"google.golang.org/grpc"
)

// The addresses the README's HTTP/JSON examples use: the gateway's HTTP
// listener and the nginx in front of it.
const (
	defaultHTTPAddress  = "127.0.0.1:7879"
	defaultNginxAddress = "127.0.0.1:8080"
)

// curlExample is a ```sh block of curl commands and the ```text block
// after it, which holds their output together.
type curlExample struct {
	line int
	args [][]string
	want *string
}

// readmeSection returns the lines of README.md from the heading line start
// to the next heading line of the same level or higher, or to the heading
// line stop when that comes first.
func readmeSection(t *testing.T, start, stop string) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(readme), "\n")
	level := strings.SplitN(start, " ", 2)[0] + " "
	for i, l := range lines {
		if strings.TrimSpace(l) != start {
			continue
		}
		inCode := false
		for j := i + 1; j < len(lines); j++ {
			l := strings.TrimSpace(lines[j])
			if strings.HasPrefix(l, "```") {
				inCode = !inCode
			}
			heading, _, _ := strings.Cut(l, " ")
			if !inCode && (l == stop || strings.Trim(heading, "#") == "" && heading != "" && len(heading) <= len(level)-1) {
				return lines[i:j]
			}
		}
		return lines[i:]
	}
	t.Fatalf("README.md: no heading %q", start)
	return nil
}

// parseCurlExamples reads the ```sh blocks of lines whose commands all
// start with curl.
func parseCurlExamples(lines []string) ([]curlExample, error) {
	var out []curlExample
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		body, end, err := fenced(lines, i)
		if err != nil {
			return nil, err
		}
		ex := curlExample{line: i + 2}
		i = end
		cmds, err := commands(body)
		if err != nil {
			return nil, err
		}
		for _, c := range cmds {
			args, err := splitWords(c)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", c, err)
			}
			if len(args) > 0 && args[0] == "curl" {
				ex.args = append(ex.args, args)
			}
		}
		if len(ex.args) == 0 {
			continue
		}
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
			ex.want = &want
			i = tend
		}
		out = append(out, ex)
	}
	return out, nil
}

// normalizeJSONLines compacts the JSON value each line starts with, since
// protobuf's JSON encoder varies its blanks on purpose; what follows the
// value (curl's -w output) is kept.
func normalizeJSONLines(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		dec := json.NewDecoder(strings.NewReader(l))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			out = append(out, l)
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			out = append(out, l)
			continue
		}
		out = append(out, b.String()+l[dec.InputOffset():])
	}
	return strings.Join(out, "\n")
}

// runCurlExamples runs each example with its address replaced by addr.
func runCurlExamples(t *testing.T, curl string, examples []curlExample, from, addr string) {
	t.Helper()
	for _, ex := range examples {
		var stdout bytes.Buffer
		for _, args := range ex.args {
			replaced := false
			argv := make([]string, len(args)-1)
			for i, a := range args[1:] {
				if strings.Contains(a, from) {
					a, replaced = strings.ReplaceAll(a, from, addr), true
				}
				argv[i] = a
			}
			if !replaced {
				t.Errorf("README.md:%d: %q does not call %s, which the test replaces with its own", ex.line, args, from)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
			cmd := exec.CommandContext(ctx, curl, argv...)
			cmd.WaitDelay = waitDelay
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			cancel()
			if err != nil {
				t.Errorf("README.md:%d: curl %s: %v\n%s", ex.line, strings.Join(argv, " "), err, stderr.String())
			}
		}
		if ex.want == nil {
			continue
		}
		if got, want := normalizeJSONLines(stdout.String()), normalizeJSONLines(*ex.want); got != want {
			t.Errorf("README.md:%d:\n--- got:\n%s\n--- want:\n%s", ex.line, got, want)
		}
	}
}

// startHTTPGateway serves a fresh embedded store over gRPC and HTTP/JSON and
// returns the HTTP address and a gRPC connection.
func startHTTPGateway(t *testing.T) (string, *grpc.ClientConn) {
	t.Helper()
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatalf("embedded store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	srv, conn := gatewaytest.StartServer(t, store, server.Options{})
	h, err := srv.HTTPHandler()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://"), conn
}

func curlPath(t *testing.T) string {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		unavailable(t, "curl not found on PATH: install Debian's curl")
	}
	return curl
}

// TestReadmeCurl runs the README's curl examples verbatim against a fresh
// gateway, only the address changed, and compares their output.
func TestReadmeCurl(t *testing.T) {
	curl := curlPath(t)
	examples, err := parseCurlExamples(readmeSection(t, "## HTTP/JSON", "### nginx + Lua"))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if len(examples) < 5 {
		t.Fatalf("README.md: %d curl examples in the HTTP/JSON section, want the documented walk-through", len(examples))
	}
	addr, _ := startHTTPGateway(t)
	runCurlExamples(t, curl, examples, defaultHTTPAddress, addr)
}

// nginxWithLua returns the nginx binary and the module files to load, or ends
// the test through unavailable.
func nginxWithLua(t *testing.T) (string, []string) {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			unavailable(t, "nginx not found (install Debian's nginx libnginx-mod-http-lua lua-cjson; make deps does): %v", err)
		}
		nginx = "/usr/sbin/nginx"
	}
	modules := []string{"/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so"}
	for _, m := range modules {
		if _, err := os.Stat(m); err != nil {
			unavailable(t, "nginx's Lua module is missing (install Debian's libnginx-mod-http-lua): %v", err)
		}
	}
	if found, _ := filepath.Glob("/usr/lib/*/lua/5.1/cjson.so"); len(found) == 0 {
		unavailable(t, "Lua's cjson module is missing (install Debian's lua-cjson)")
	}
	return nginx, modules
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// TestReadmeNginxLua runs the README's nginx configuration, only the
// addresses changed, in an nginx in front of a fresh gateway, and its curl
// examples against that nginx; what nginx writes, gRPC reads.
func TestReadmeNginxLua(t *testing.T) {
	curl := curlPath(t)
	nginx, modules := nginxWithLua(t)
	section := readmeSection(t, "### nginx + Lua", "## Development")
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := findSnippet(string(readme), "## HTTP/JSON", "### nginx + Lua", "nginx")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	examples, err := parseCurlExamples(section)
	if err != nil || len(examples) == 0 {
		t.Fatalf("README.md: nginx + Lua: curl examples %v: %v", examples, err)
	}
	gwAddr, conn := startHTTPGateway(t)
	nginxAddr := freePort(t)
	if !strings.Contains(conf.code, defaultHTTPAddress) || !strings.Contains(conf.code, defaultNginxAddress) {
		t.Fatalf("README.md:%d: the nginx configuration does not name %s and %s, which the test replaces", conf.line, defaultHTTPAddress, defaultNginxAddress)
	}
	server := strings.NewReplacer(defaultHTTPAddress, gwAddr, defaultNginxAddress, nginxAddr).Replace(conf.code)

	// What Debian's /etc/nginx/nginx.conf provides around conf.d, in a
	// directory of the test's own, in one foreground process.
	dir := t.TempDir()
	var b strings.Builder
	for _, m := range modules {
		fmt.Fprintf(&b, "load_module %s;\n", m)
	}
	fmt.Fprintf(&b, "daemon off;\nmaster_process off;\npid %s;\nerror_log stderr notice;\nevents {}\nhttp {\n", filepath.Join(dir, "nginx.pid"))
	b.WriteString("access_log off;\n")
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "%s_temp_path %s;\n", tmp, filepath.Join(dir, tmp))
	}
	b.WriteString(server + "}\n")
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(nginx, "-p", dir, "-c", confFile, "-e", "stderr")
	cmd.WaitDelay = waitDelay
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	// Until the log is followed below, a failed start only needs the
	// process gone.
	started := false
	defer func() {
		if !started {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// nginx reports the OS once its configuration is read and its sockets
	// listen: from then on connections are accepted.
	var log []string
	sc := bufio.NewScanner(stderr)
	for ready := false; !ready; {
		if !sc.Scan() {
			t.Fatalf("nginx exited before serving:\n%s", strings.Join(log, "\n"))
		}
		log = append(log, sc.Text())
		ready = strings.Contains(sc.Text(), "OS: ")
	}
	started = true
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		for sc.Scan() {
			t.Log("nginx: " + sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-logDone
		_ = cmd.Wait()
	})

	runCurlExamples(t, curl, examples, defaultNginxAddress, nginxAddr)

	got, err := ktgrpcv1.NewKVClient(conn).Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("greeting")})
	if err != nil || string(got.GetValue()) != "hello from nginx" {
		t.Errorf("gRPC get of the record nginx wrote: %v, %v", got, err)
	}
}
