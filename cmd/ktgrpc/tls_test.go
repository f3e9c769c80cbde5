package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a throwaway CA with a server and a client certificate, plus a
// client certificate from a CA nobody trusts, as PEM files.
type testPKI struct {
	ca                    string
	serverCert, serverKey string // for localhost and 127.0.0.1
	clientCert, clientKey string
	rogueCert, rogueKey   string // a client certificate from another CA
}

// issuer signs certificates.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// template is a certificate valid from an hour ago for a day, so that clock
// skew between the test and the TLS stack cannot matter.
func template(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}

// newCA makes a self-signed CA and writes its certificate to dir/name.pem.
func newCA(t *testing.T, dir, name string) (issuer, string) {
	t.Helper()
	key := newKey(t)
	tmpl := template(t, name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".pem")
	writePEM(t, file, "CERTIFICATE", der)
	return issuer{cert, key}, file
}

// issue signs tmpl with a fresh key and writes dir/name.pem and
// dir/name-key.pem.
func (ca issuer) issue(t *testing.T, dir, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	var p testPKI
	ca, caFile := newCA(t, dir, "ca")
	p.ca = caFile

	srv := template(t, "ktgrpc gateway")
	srv.DNSNames = []string{"localhost"}
	srv.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	srv.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	p.serverCert, p.serverKey = ca.issue(t, dir, "server", srv)

	cl := template(t, "ktgrpc client")
	cl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	p.clientCert, p.clientKey = ca.issue(t, dir, "client", cl)

	rogueCA, _ := newCA(t, dir, "rogue-ca")
	rogue := template(t, "ktgrpc client")
	rogue.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	p.rogueCert, p.rogueKey = rogueCA.issue(t, dir, "rogue", rogue)
	return p
}

// serveInProcess runs `ktgrpc serve` with a JSON log on a free loopback port
// until the test ends, when it must exit 0. It returns the startup line's
// fields, whose "listen" is the address.
func serveInProcess(t *testing.T, env map[string]string, args ...string) map[string]any {
	t.Helper()
	start, _ := serveLogged(t, env, args...)
	return start
}

// wantUnavailable checks that a call failed to reach the gateway, with a
// message that contains want.
func wantUnavailable(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != exitError || !strings.Contains(r.stderr, ": Unavailable: ") || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 1 with Unavailable and %q", r.code, r.stderr, want)
	}
}

func TestServeTLS(t *testing.T) {
	p := newPKI(t)
	start := serveInProcess(t, nil, "--tls-cert", p.serverCert, "--tls-key", p.serverKey)
	if start["tls"] != "on" {
		t.Errorf("startup line %v, want tls=on", start)
	}
	addr := start["listen"].(string)
	ctx := t.Context()

	env := map[string]string{"KTGRPC_ADDR": addr, "KTGRPC_TLS_CA": p.ca}
	must(t, env, "", "set", "k", "v")
	if out := must(t, env, "", "get", "k"); out != "v\n" {
		t.Errorf("get over TLS = %q", out)
	}
	plain := map[string]string{"KTGRPC_ADDR": addr}
	if out := must(t, plain, "", "get", "k", "--tls-ca", p.ca); out != "v\n" {
		t.Errorf("get with --tls-ca = %q", out)
	}
	if out := must(t, env, "", "get", "k", "--tls-server-name", "localhost"); out != "v\n" {
		t.Errorf("get with --tls-server-name localhost = %q", out)
	}

	t.Run("plaintext client", func(t *testing.T) {
		wantUnavailable(t, invoke(ctx, plain, "", "get", "k"), "")
	})
	t.Run("system roots do not know the CA", func(t *testing.T) {
		wantUnavailable(t, invoke(ctx, plain, "", "get", "k", "--tls"), "certificate")
	})
	t.Run("name not in the certificate", func(t *testing.T) {
		wantUnavailable(t, invoke(ctx, env, "", "get", "k", "--tls-server-name", "elsewhere.test"), "elsewhere.test")
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		roots := x509.NewCertPool()
		pemData, err := os.ReadFile(p.ca)
		if err != nil || !roots.AppendCertsFromPEM(pemData) {
			t.Fatalf("read CA: %v", err)
		}
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, NextProtos: []string{"h2"}}
		conn, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
		if !strings.Contains(err.Error(), "remote error: tls: protocol version not supported") {
			t.Errorf("TLS 1.1 handshake failed with %v, want the gateway to refuse the version", err)
		}
	})
	t.Run("a client certificate is only sent when asked for", func(t *testing.T) {
		if out := must(t, env, "", "get", "k", "--tls-cert", p.rogueCert, "--tls-key", p.rogueKey); out != "v\n" {
			t.Errorf("get = %q", out)
		}
	})
}

func TestServeMutualTLS(t *testing.T) {
	p := newPKI(t)
	// The gateway's TLS files come from its environment, as in a deployment.
	serveEnv := map[string]string{
		"KTGRPC_TLS_CERT":      p.serverCert,
		"KTGRPC_TLS_KEY":       p.serverKey,
		"KTGRPC_TLS_CLIENT_CA": p.ca,
	}
	start := serveInProcess(t, serveEnv)
	if start["tls"] != "mutual" {
		t.Errorf("startup line %v, want tls=mutual", start)
	}
	addr := start["listen"].(string)
	ctx := t.Context()

	env := map[string]string{"KTGRPC_ADDR": addr, "KTGRPC_TLS_CA": p.ca}
	withCert := []string{"--tls-cert", p.clientCert, "--tls-key", p.clientKey}
	must(t, env, "", append([]string{"set", "k", "v"}, withCert...)...)

	certEnv := map[string]string{
		"KTGRPC_ADDR":            addr,
		"KTGRPC_TLS_CA":          p.ca,
		"KTGRPC_CLIENT_TLS_CERT": p.clientCert,
		"KTGRPC_CLIENT_TLS_KEY":  p.clientKey,
	}
	if out := must(t, certEnv, "", "get", "k"); out != "v\n" {
		t.Errorf("get with the client certificate from the environment = %q", out)
	}

	t.Run("no client certificate", func(t *testing.T) {
		wantUnavailable(t, invoke(ctx, env, "", "get", "k"), "")
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		wantUnavailable(t, invoke(ctx, env, "", "get", "k", "--tls-cert", p.rogueCert, "--tls-key", p.rogueKey), "")
	})
}

// TestClientIgnoresServeVariables checks that serve's TLS variables, which a
// shell in the gateway's container inherits, do not turn TLS on for the
// client commands, nor make them present the gateway's key pair.
func TestClientIgnoresServeVariables(t *testing.T) {
	env := gateway(t, "embedded:")
	p := newPKI(t)
	env["KTGRPC_TLS_CERT"], env["KTGRPC_TLS_KEY"], env["KTGRPC_TLS_CLIENT_CA"] = p.serverCert, p.serverKey, p.ca
	must(t, env, "", "set", "k", "v")
}

// TestTLSFileErrors checks that unreadable or unusable TLS files fail the
// command with exit 1 and name the file, before anything is served or sent.
func TestTLSFileErrors(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nowhere := map[string]string{"KTGRPC_ADDR": "127.0.0.1:1"}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"serve cert", []string{"serve", "--tls-cert", missing, "--tls-key", p.serverKey},
			[]string{"ktgrpc: serve: --tls-cert: open " + missing + ": "}},
		{"serve key", []string{"serve", "--tls-cert", p.serverCert, "--tls-key", missing},
			[]string{"ktgrpc: serve: --tls-key: open " + missing + ": "}},
		{"serve cert not PEM", []string{"serve", "--tls-cert", garbage, "--tls-key", p.serverKey},
			[]string{"--tls-cert " + garbage + " and --tls-key " + p.serverKey + ": "}},
		{"serve key of another cert", []string{"serve", "--tls-cert", p.serverCert, "--tls-key", p.clientKey},
			[]string{"--tls-cert " + p.serverCert + " and --tls-key " + p.clientKey + ": ", "does not match"}},
		{"serve client CA", []string{"serve", "--tls-cert", p.serverCert, "--tls-key", p.serverKey, "--tls-client-ca", missing},
			[]string{"ktgrpc: serve: --tls-client-ca: open " + missing + ": "}},
		{"serve client CA not PEM", []string{"serve", "--tls-cert", p.serverCert, "--tls-key", p.serverKey, "--tls-client-ca", garbage},
			[]string{"ktgrpc: serve: --tls-client-ca " + garbage + ": no PEM certificate"}},
		{"client CA", []string{"get", "k", "--tls-ca", missing},
			[]string{"ktgrpc: get: --tls-ca: open " + missing + ": "}},
		{"client CA not PEM", []string{"set", "k", "v", "--tls-ca", garbage},
			[]string{"ktgrpc: set: --tls-ca " + garbage + ": no PEM certificate"}},
		{"client cert", []string{"get", "k", "--tls-cert", missing, "--tls-key", p.clientKey},
			[]string{"ktgrpc: get: --tls-cert: open " + missing + ": "}},
		{"client key", []string{"get", "k", "--tls-cert", p.clientCert, "--tls-key", missing},
			[]string{"ktgrpc: get: --tls-key: open " + missing + ": "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args[0] == "serve" {
				args = append(args, "--listen", "127.0.0.1:0")
			}
			r := invoke(t.Context(), nowhere, "", args...)
			if r.code != exitError {
				t.Errorf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
}

// TestServeMaxConcurrentStreams reads the HTTP/2 SETTINGS frame the gateway
// sends on a new connection, which carries the stream limit.
func TestServeMaxConcurrentStreams(t *testing.T) {
	start := serveInProcess(t, map[string]string{"KTGRPC_MAX_CONCURRENT_STREAMS": "7"})
	conn, err := net.Dial("tcp", start["listen"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The deadline only keeps a broken test from hanging.
	if err := conn.SetDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	// The client preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	const (
		frameSettings          = 0x4
		flagAck                = 0x1
		settingMaxConcurrentID = 0x3
	)
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			t.Fatalf("no SETTINGS frame from the gateway: %v", err)
		}
		length := uint32(hdr[0])<<16 | uint32(hdr[1])<<8 | uint32(hdr[2])
		payload := make([]byte, length)
		if _, err := io.ReadFull(conn, payload); err != nil {
			t.Fatal(err)
		}
		if hdr[3] != frameSettings || hdr[4]&flagAck != 0 {
			continue
		}
		for ; len(payload) >= 6; payload = payload[6:] {
			if binary.BigEndian.Uint16(payload) == settingMaxConcurrentID {
				if n := binary.BigEndian.Uint32(payload[2:]); n != 7 {
					t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 7", n)
				}
				return
			}
		}
		t.Fatal("the gateway's SETTINGS do not limit concurrent streams")
	}
}
