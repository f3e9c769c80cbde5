package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/server/access"
)

// httpsClient trusts caFile and presents the given key pair, if any.
func httpsClient(t *testing.T, caFile string, certKey ...string) *http.Client {
	t.Helper()
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if len(certKey) == 2 {
		pair, err := tls.LoadX509KeyPair(certKey[0], certKey[1])
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// postJSON posts body and returns the status and the answer's fields; err
// is the transport's error.
func postJSON(ctx context.Context, c *http.Client, url, token, body string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, map[string]any{"raw": string(raw)}, nil
	}
	return resp.StatusCode, out, nil
}

// --http-listen serves HTTP/JSON behind the same mutual TLS and tokens file
// as gRPC: a listed client certificate carries its rights, a bearer token
// takes precedence, a client without a certificate is refused at the
// handshake, and what HTTP writes gRPC reads. An HTTP stream still open at
// the end does not hold the shutdown: serve must exit 0 within its default
// shutdown timeout.
func TestServeHTTPJSONBehindMutualTLSAndTokens(t *testing.T) {
	dir := t.TempDir()
	ca, caFile := newCA(t, dir, "ca")
	srvTmpl := template(t, "gateway")
	srvTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	srvTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	srvCert, srvKey := ca.issue(t, dir, "server", srvTmpl)
	readerTmpl := template(t, "reader")
	readerTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	readerCert, readerKey := ca.issue(t, dir, "reader", readerTmpl)
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "reader read x509:reader\nops all "+access.HashToken("ops-token")+"\n")

	// Closed after serve has stopped (cleanups run last-registered first).
	var openStream io.Closer
	t.Cleanup(func() {
		if openStream != nil {
			openStream.Close()
		}
	})
	start := serveInProcess(t, nil, "--http-listen", "127.0.0.1:0",
		"--tls-cert", srvCert, "--tls-key", srvKey, "--tls-client-ca", caFile, "--tokens-file", tokens)
	httpAddr, _ := start["http_listen"].(string)
	if _, port, err := net.SplitHostPort(httpAddr); err != nil || port == "0" {
		t.Fatalf("startup line %v: want http_listen with the bound address", start)
	}
	base := "https://" + httpAddr
	ctx := t.Context()
	reader := httpsClient(t, caFile, readerCert, readerKey)
	set := `{"key":"aw==","value":"dg=="}` // "k", "v"

	code, out, err := postJSON(ctx, reader, base+"/v1/kv/set", "", set)
	if err != nil || code != http.StatusForbidden || !strings.Contains(out["message"].(string), `caller "reader" lacks the write right`) {
		t.Errorf("set with the reader's certificate: %d %v %v; want 403 naming the reader", code, out, err)
	}
	// A header that would pass for the gateway's own forwarding is dropped.
	spoofed := httpsClient(t, caFile, readerCert, readerKey)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/kv/set", strings.NewReader(set))
	req.Header.Set("Grpc-Metadata-Ktgrpc-Http-Client-Cert-Bin", "AAAA")
	if resp, err := spoofed.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("set with a forged certificate header: %v %v; want 403", resp, err)
	} else {
		resp.Body.Close()
	}

	if code, out, err := postJSON(ctx, reader, base+"/v1/kv/set", "ops-token", set); err != nil || code != http.StatusOK {
		t.Fatalf("set with the ops token: %d %v %v", code, out, err)
	}
	if code, out, err := postJSON(ctx, reader, base+"/v1/kv/get", "", `{"key":"aw=="}`); err != nil || code != http.StatusOK || out["value"] != "dg==" {
		t.Errorf("get with the reader's certificate: %d %v %v", code, out, err)
	}
	env := map[string]string{"KTGRPC_ADDR": start["listen"].(string), "KTGRPC_TLS_CA": caFile, "KTGRPC_TOKEN": "ops-token"}
	if got := must(t, env, "", "get", "k", "--tls-cert", readerCert, "--tls-key", readerKey); got != "v\n" {
		t.Errorf("gRPC get of the record set over HTTP = %q", got)
	}

	if _, _, err := postJSON(ctx, httpsClient(t, caFile), base+"/v1/kv/get", "ops-token", `{"key":"aw=="}`); err == nil {
		t.Error("a client without a certificate got an answer")
	}
	// Go's TLS server answers plaintext with a 400 of its own.
	if code, out, err := postJSON(ctx, http.DefaultClient, "http://"+httpAddr+"/v1/kv/get", "ops-token", `{"key":"aw=="}`); err == nil && (code != http.StatusBadRequest || out["value"] != nil) {
		t.Errorf("a plaintext client got %d %v", code, out)
	}

	req, _ = http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, base+"/v1/replication/subscribe", strings.NewReader(`{"after":"0"}`))
	req.Header.Set("Authorization", "Bearer ops-token")
	resp, err := reader.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	openStream = resp.Body
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"event"`) {
		t.Fatalf("first line of an HTTP subscription: %q, %v", line, err)
	}
}

// An HTTP address that cannot be listened on fails the start, naming the
// flag, and takes the gRPC listener down with it.
func TestServeHTTPListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := invoke(t.Context(), nil, "", "serve", "--listen", "127.0.0.1:0", "--http-listen", busy.Addr().String())
	if r.code != exitError || !strings.Contains(r.stderr, "(--http-listen)") || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming --http-listen and the busy address", r.code, r.stderr)
	}
}
