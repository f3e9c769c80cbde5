package access_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/server/access"
)

func TestParseAndLookUp(t *testing.T) {
	file := strings.Join([]string{
		"# comment",
		"",
		"app   read,write   " + access.HashToken("app-secret"),
		"ops   all          " + access.HashToken("ops-secret"),
		"rep   replication  x509:replica.example.com",
		"uri   read         x509:spiffe://example/reader",
	}, "\n")
	tab, err := access.Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 4 {
		t.Errorf("Len = %d, want 4", tab.Len())
	}
	p, ok := tab.Token("app-secret")
	if !ok || p.Name != "app" || p.Rights != access.Read|access.Write {
		t.Errorf("Token(app-secret) = %+v, %v", p, ok)
	}
	if p, ok := tab.Token("ops-secret"); !ok || !p.Rights.Has(access.All) {
		t.Errorf("Token(ops-secret) = %+v, %v", p, ok)
	}
	if _, ok := tab.Token("app-secre"); ok {
		t.Error("a wrong token was accepted")
	}
	byCN := &x509.Certificate{Subject: pkix.Name{CommonName: "replica.example.com"}}
	if p, ok := tab.Certificate(byCN); !ok || p.Name != "rep" || p.Rights != access.Replication {
		t.Errorf("Certificate(CN) = %+v, %v", p, ok)
	}
	u, _ := url.Parse("spiffe://example/reader")
	byURI := &x509.Certificate{Subject: pkix.Name{CommonName: "other"}, URIs: []*url.URL{u}}
	if p, ok := tab.Certificate(byURI); !ok || p.Name != "uri" {
		t.Errorf("Certificate(URI) = %+v, %v", p, ok)
	}
	byDNS := &x509.Certificate{DNSNames: []string{"replica.example.com"}}
	if p, ok := tab.Certificate(byDNS); !ok || p.Name != "rep" {
		t.Errorf("Certificate(DNS) = %+v, %v", p, ok)
	}
	if _, ok := tab.Certificate(&x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}}); ok {
		t.Error("an unlisted certificate was accepted")
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	h := access.HashToken("x")
	for _, tc := range []struct{ file, want string }{
		{"a read", "line 1: want three fields"},
		{"a read " + h + "\na write " + access.HashToken("y"), `line 2: name "a" appears twice`},
		{"a read " + h + "\nb write " + h, `line 2: the token of "b" is also another caller's`},
		{"a delete " + h, `line 1: unknown right "delete"`},
		{"a read sha256:abc", "line 1: sha256: want 64 hex digits"},
		{"a read token:plain", `line 1: credential "token:plain"`},
		{"a read x509:", "line 1: x509: want the certificate's name"},
	} {
		_, err := access.Parse(strings.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.file, err, tc.want)
		}
	}
}

func TestRights(t *testing.T) {
	r, err := access.ParseRights("read, Admin")
	if err != nil || r != access.Read|access.Admin || r.String() != "read,admin" {
		t.Errorf("ParseRights = %v (%s), %v", r, r, err)
	}
	if r.Has(access.Write) || !r.Has(access.Admin) {
		t.Errorf("Has is wrong for %s", r)
	}
	if access.Rights(0).String() != "none" {
		t.Errorf("empty rights print as %q", access.Rights(0).String())
	}
}

// A reload that fails keeps the callers read before, so that a bad edit
// does not lock everyone out.
func TestReloadKeepsOldTableOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a read " + access.HashToken("one") + "\n")
	f, err := access.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	write("a read " + access.HashToken("two") + "\n")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Table().Token("two"); !ok {
		t.Fatal("the reloaded token is unknown")
	}
	write("garbage\n")
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Reload of a bad file = %v, want an error naming it", err)
	}
	if _, ok := f.Table().Token("two"); !ok {
		t.Fatal("a failed reload dropped the tokens in force")
	}
	if _, err := access.Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestContext(t *testing.T) {
	if _, ok := access.FromContext(context.Background()); ok {
		t.Fatal("a bare context carries a caller")
	}
	ctx := access.NewContext(context.Background(), access.Principal{Name: "x", Rights: access.Read})
	if p, ok := access.FromContext(ctx); !ok || p.Name != "x" {
		t.Fatalf("FromContext = %+v, %v", p, ok)
	}
}

func TestNilTableKnowsNoOne(t *testing.T) {
	var tab *access.Table
	if _, ok := tab.Token("x"); ok {
		t.Error("a nil table knows a token")
	}
	if _, ok := tab.Certificate(&x509.Certificate{Subject: pkix.Name{CommonName: "x"}}); ok {
		t.Error("a nil table knows a certificate")
	}
	if tab.Len() != 0 {
		t.Error("a nil table has callers")
	}
}
