package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// TLS 1.2 is the oldest version HTTP/2 allows (RFC 9113, section 9.2).
const minTLSVersion = tls.VersionTLS12

// serverTLS is the TLS part of the serve command line: files, read at start
// and again on SIGHUP.
type serverTLS struct {
	cert, key string // both or neither
	clientCA  string // requires client certificates signed by it
}

// check reports a combination of flags that cannot work.
func (t serverTLS) check() error {
	switch {
	case (t.cert == "") != (t.key == ""):
		return usagef("--tls-cert and --tls-key go together: give both or neither")
	case t.clientCA != "" && t.cert == "":
		return usagef("--tls-client-ca needs --tls-cert and --tls-key: client certificates are only asked for over TLS")
	}
	return nil
}

// mode says, for the startup log line, how connections are secured.
func (t serverTLS) mode() string {
	switch {
	case t.clientCA != "":
		return "mutual"
	case t.cert != "":
		return "on"
	}
	return "off"
}

// credentials reads the files into transport credentials; nil means
// plaintext. Errors name the file at fault. The returned certificates can
// be read again with their reload method while connections stay open.
func (t serverTLS) credentials() (credentials.TransportCredentials, *serverCerts, error) {
	if t.cert == "" {
		return nil, nil, nil
	}
	sc := &serverCerts{files: t}
	if err := sc.reload(); err != nil {
		return nil, nil, err
	}
	// Each handshake takes the configuration last read; a connection keeps
	// the one it was made with.
	base := &tls.Config{
		MinVersion: minTLSVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return sc.cfg.Load(), nil
		},
	}
	return credentials.NewTLS(base), sc, nil
}

// serverCerts holds the server's TLS configuration as last read from its
// files.
type serverCerts struct {
	files serverTLS
	cfg   atomic.Pointer[tls.Config]
}

// reload reads the files again. On error the configuration read before
// stays in force.
func (sc *serverCerts) reload() error {
	t := sc.files
	pair, err := loadKeyPair(t.cert, t.key)
	if err != nil {
		return err
	}
	cfg := &tls.Config{
		MinVersion:   minTLSVersion,
		Certificates: []tls.Certificate{pair},
		// gRPC requires HTTP/2 to be negotiated; the configuration returned
		// per handshake replaces the one credentials.NewTLS prepared.
		NextProtos: []string{"h2"},
	}
	if t.clientCA != "" {
		if cfg.ClientCAs, err = loadCertPool("--tls-client-ca", t.clientCA); err != nil {
			return err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	sc.cfg.Store(cfg)
	return nil
}

// clientTLS is the TLS part of a client command line.
type clientTLS struct {
	enabled    bool
	ca         string
	cert, key  string
	serverName string
}

// check turns TLS on when any TLS flag asks for it and reports combinations
// that cannot work. explicitOff is whether --tls=false was given.
func (t *clientTLS) check(explicitOff bool) error {
	if (t.cert == "") != (t.key == "") {
		return usagef("--tls-cert and --tls-key go together: give both or neither")
	}
	implied := t.ca != "" || t.cert != "" || t.serverName != ""
	if explicitOff && implied {
		return usagef("--tls=false contradicts --tls-ca, --tls-cert and --tls-server-name, which need TLS")
	}
	t.enabled = t.enabled || implied
	return nil
}

// credentials reads the files into TLS credentials; the system roots verify
// the gateway unless --tls-ca names a CA. Errors name the file at fault.
func (t *clientTLS) credentials() (credentials.TransportCredentials, error) {
	cfg := &tls.Config{
		MinVersion: minTLSVersion,
		ServerName: t.serverName,
	}
	if t.ca != "" {
		pool, err := loadCertPool("--tls-ca", t.ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if t.cert != "" {
		pair, err := loadKeyPair(t.cert, t.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

// loadKeyPair reads a PEM certificate (chain) and its private key, naming
// the file that is unreadable, or both when they do not make a pair.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-cert %s and --tls-key %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}

// loadCertPool reads the PEM CA certificates in file.
func loadCertPool(flagName, file string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in the file", flagName, file)
	}
	return pool, nil
}
