package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server/access"
)

// serveLogged is serveInProcess that also returns the log, to wait for
// later lines.
func serveLogged(t *testing.T, env map[string]string, args ...string) (map[string]any, *lines) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	logs := newLines()
	done := make(chan int, 1)
	go func() {
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)
		done <- run(ctx, args, strings.NewReader(""), io.Discard, logs, func(k string) string { return env[k] })
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d; log:\n%s", code, logs)
		}
	})
	return startupLine(t, logs), logs
}

// waitLog reads log lines until one has msg.
func waitLog(t *testing.T, logs *lines, msg string) map[string]any {
	t.Helper()
	for {
		var m map[string]any
		if err := json.Unmarshal([]byte(logs.next(t)), &m); err == nil && m["msg"] == msg {
			return m
		}
	}
}

func writeFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

// dialTLS connects with the CA in caFile and sends token with every call.
func dialTLS(t *testing.T, addr, caFile, token string) *grpc.ClientConn {
	t.Helper()
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})),
		grpc.WithPerRPCCredentials(bearerToken(token)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// SIGHUP reads the certificates and the tokens file again: new connections
// get the new certificate and new calls the new tokens, while a stream
// opened before goes on delivering.
func TestReloadKeepsStreamsOpen(t *testing.T) {
	dir := t.TempDir()
	old, next := newPKI(t), newPKI(t)
	cert, key, tokens := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "tokens")
	copyFile(t, old.serverCert, cert)
	copyFile(t, old.serverKey, key)
	writeFile(t, tokens, "before all "+access.HashToken("old-token")+"\n")

	start, logs := serveLogged(t, map[string]string{"KTGRPC_TOKENS_FILE": tokens}, "--tls-cert", cert, "--tls-key", key)
	if start["tokens"] != float64(1) {
		t.Errorf("startup line %v, want tokens=1", start)
	}
	addr := start["listen"].(string)

	oldConn := dialTLS(t, addr, old.ca, "old-token")
	sub, err := ktgrpcv1.NewReplicationClient(oldConn).Subscribe(t.Context(),
		&ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_After{After: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Recv(); err != nil {
		t.Fatalf("first message of the stream: %v", err)
	}

	copyFile(t, next.serverCert, cert)
	copyFile(t, next.serverKey, key)
	writeFile(t, tokens, "after all "+access.HashToken("new-token")+"\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "reloaded")

	newConn := dialTLS(t, addr, next.ca, "new-token")
	kv := ktgrpcv1.NewKVClient(newConn)
	if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("after-reload"), Value: []byte("v")}); err != nil {
		t.Fatalf("a call with the new certificate and token: %v", err)
	}
	for {
		m, err := sub.Recv()
		if err != nil {
			t.Fatalf("the stream opened before the reload ended: %v", err)
		}
		if bytes.Equal(m.GetEvent().GetKey(), []byte("after-reload")) {
			break
		}
	}

	_, err = ktgrpcv1.NewKVClient(oldConn).Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("a new call with the removed token on the old connection: %v, want Unauthenticated", err)
	}
	_, err = ktgrpcv1.NewKVClient(dialTLS(t, addr, next.ca, "old-token")).Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("the removed token on a new connection: %v, want Unauthenticated", err)
	}
	_, err = ktgrpcv1.NewKVClient(dialTLS(t, addr, old.ca, "new-token")).Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a new connection trusting only the old CA: %v, want a certificate failure", err)
	}

	// A broken file is reported and changes nothing.
	writeFile(t, tokens, "garbage\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if m := waitLog(t, logs, "reload failed; the tokens read before stay in force"); !strings.Contains(m["error"].(string), "line 1") {
		t.Errorf("reload error %v does not name the line", m)
	}
	if _, err := kv.Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil {
		t.Errorf("the token in force before a failed reload: %v", err)
	}
}

// The client commands send the token from --token-file or KTGRPC_TOKEN.
func TestClientSendsToken(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	r := invoke(t.Context(), nil, "", "token", "app", "read,write")
	out := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(out) != 2 {
		t.Fatalf("token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	writeFile(t, tokens, out[1]+"\n")
	start := serveInProcess(t, nil, "--tokens-file", tokens)
	addr := start["listen"].(string)

	env := map[string]string{"KTGRPC_ADDR": addr, "KTGRPC_TOKEN": out[0]}
	must(t, env, "", "set", "k", "v")
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, out[0]+"\n")
	if got := must(t, map[string]string{"KTGRPC_ADDR": addr}, "", "get", "k", "--token-file", tokenFile); got != "v\n" {
		t.Errorf("get with --token-file = %q", got)
	}
	r = invoke(t.Context(), map[string]string{"KTGRPC_ADDR": addr}, "", "get", "k")
	if r.code != exitError || !strings.Contains(r.stderr, "Unauthenticated") {
		t.Errorf("get without a token: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The metrics listener serves Prometheus text, and Go profiles only when
// asked for.
func TestServeMetricsListener(t *testing.T) {
	for _, withPprof := range []bool{false, true} {
		args := []string{"--metrics-listen", "127.0.0.1:0"}
		if withPprof {
			args = append(args, "--pprof")
		}
		start := serveInProcess(t, nil, args...)
		metricsURL, _ := start["metrics"].(string)
		if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") {
			t.Fatalf("startup line %v names no metrics address", start)
		}
		must(t, map[string]string{"KTGRPC_ADDR": start["listen"].(string)}, "", "set", "k", "v")
		body := httpGet(t, metricsURL, http.StatusOK)
		for _, want := range []string{
			`grpc_server_handled_total{grpc_code="OK",grpc_method="Set",grpc_service="ktgrpc.v1.KV",grpc_type="unary"} 1`,
			"go_goroutines", "process_cpu_seconds_total",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		pprofURL := strings.TrimSuffix(metricsURL, "/metrics") + "/debug/pprof/"
		if withPprof {
			if body := httpGet(t, pprofURL, http.StatusOK); !strings.Contains(body, "goroutine") {
				t.Errorf("pprof index lacks the goroutine profile")
			}
		} else {
			httpGet(t, pprofURL, http.StatusNotFound)
		}
	}
}

func httpGet(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, wantStatus)
	}
	return string(b)
}

func TestVersionFlag(t *testing.T) {
	want := invoke(t.Context(), nil, "", "version")
	for _, arg := range []string{"--version", "-version"} {
		if r := invoke(t.Context(), nil, "", arg); r.code != exitOK || r.stdout != want.stdout {
			t.Errorf("%s: exit %d, stdout %q; want %q", arg, r.code, r.stdout, want.stdout)
		}
	}
}

func TestServeOpsFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--authenticate-health"}, "--authenticate-health needs --tokens-file"},
		{[]string{"--pprof"}, "--pprof needs --metrics-listen"},
		{[]string{"--otlp-insecure"}, "--otlp-insecure needs --otlp-endpoint"},
		{[]string{"--rate-burst", "3"}, "--rate-burst needs --rate-limit"},
		{[]string{"--rate-limit", "-1"}, "--rate-limit -1: must not be negative"},
		{[]string{"--max-bulk-keys", "-1"}, "--max-bulk-keys -1: must not be negative"},
		{[]string{"--default-deadline", "2s", "--max-deadline", "1s"}, "--default-deadline 2s must not exceed --max-deadline 1s"},
		{[]string{"--drain-delay", "-1s"}, "must not be negative"},
		{[]string{"--tokens-file", filepath.Join(t.TempDir(), "missing")}, "--tokens-file: tokens file: open"},
	} {
		r := invoke(t.Context(), nil, "", append([]string{"serve", "--listen", "127.0.0.1:0"}, tc.args...)...)
		if r.code == exitOK || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// On SIGTERM with --drain-delay, readiness turns NOT_SERVING while the
// gateway still serves, and only then do streams end.
func TestServeDrainDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := newLines()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-delay", "1s"},
			strings.NewReader(""), io.Discard, logs, func(string) string { return "" })
	}()
	addr := startupLine(t, logs)["listen"].(string)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	watch, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "readiness"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}
	cancel()
	r, err := watch.Recv()
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("readiness after SIGTERM: %v, %v; want NOT_SERVING while the stream is still open", r, err)
	}
	if code := <-done; code != exitOK {
		t.Fatalf("serve exited %d; log:\n%s", code, logs)
	}
	log := logs.String()
	if d, s := strings.Index(log, "draining: readiness is NOT_SERVING"), strings.Index(log, `"msg":"shutting down"`); d < 0 || s < d {
		t.Errorf("want the drain line before the shutdown line:\n%s", log)
	}
}

// Client certificates listed in the tokens file carry their rights; a
// bearer token, when sent, takes precedence.
func TestClientCertificateRights(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	srvTmpl := template(t, "gateway")
	srvTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	srvTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	srvCert, srvKey := ca.issue(t, dir, "server", srvTmpl)
	client := func(cn string) []string {
		tmpl := template(t, cn)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		cert, key := ca.issue(t, dir, cn, tmpl)
		return []string{"--tls-cert", cert, "--tls-key", key}
	}
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "reader read x509:reader\nops all "+access.HashToken("ops-token")+"\n")
	start := serveInProcess(t, nil, "--tls-cert", srvCert, "--tls-key", srvKey, "--tls-client-ca", caFile, "--tokens-file", tokens)
	env := map[string]string{"KTGRPC_ADDR": start["listen"].(string), "KTGRPC_TLS_CA": caFile}

	reader, stranger := client("reader"), client("stranger")
	r := invoke(t.Context(), env, "", append([]string{"set", "k", "v"}, reader...)...)
	if r.code != exitError || !strings.Contains(r.stderr, `PermissionDenied: caller "reader" lacks the write right`) {
		t.Errorf("set with the reader's certificate: exit %d, stderr %q", r.code, r.stderr)
	}
	r = invoke(t.Context(), env, "", append([]string{"get", "k"}, stranger...)...)
	if r.code != exitError || !strings.Contains(r.stderr, `Unauthenticated: client certificate "stranger" is not in the tokens file`) {
		t.Errorf("get with an unlisted certificate: exit %d, stderr %q", r.code, r.stderr)
	}
	withToken := map[string]string{"KTGRPC_ADDR": env["KTGRPC_ADDR"], "KTGRPC_TLS_CA": caFile, "KTGRPC_TOKEN": "ops-token"}
	must(t, withToken, "", append([]string{"set", "k", "v"}, reader...)...)
	if out := must(t, env, "", append([]string{"get", "k"}, reader...)...); out != "v\n" {
		t.Errorf("get with the reader's certificate = %q", out)
	}
}

// collector is an OTLP trace collector that keeps what it is sent.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
	attrs []string
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			c.attrs = append(c.attrs, a.GetKey()+"="+a.GetValue().GetStringValue())
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// With --otlp-endpoint the gateway sends its spans to the collector, all of
// them by the time it has stopped.
func TestServeSendsTracesOverOTLP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	cs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(cs, col)
	go func() { _ = cs.Serve(lis) }()
	defer cs.Stop()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := newLines()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--otlp-endpoint", lis.Addr().String(), "--otlp-insecure"},
			strings.NewReader(""), io.Discard, logs, func(string) string { return "" })
	}()
	start := startupLine(t, logs)
	if start["tracing"] != "otlp" {
		t.Errorf("startup line %v, want tracing=otlp", start)
	}
	must(t, map[string]string{"KTGRPC_ADDR": start["listen"].(string)}, "", "set", "k", "v")
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve exited %d; log:\n%s", code, logs)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if !slices.Contains(col.spans, "ktgrpc.v1.KV/Set") || !slices.Contains(col.attrs, "service.name=ktgrpc") {
		t.Errorf("the collector got spans %q with resource %q", col.spans, col.attrs)
	}
}
