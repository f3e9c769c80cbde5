// Package access holds the gateway's callers and what each may do: bearer
// tokens (kept as SHA-256 hashes) and client-certificate identities, each
// with a set of rights, read from a tokens file that can be reloaded while
// the gateway serves.
//
// The file has one caller per line, three fields separated by blanks:
//
//	# name     rights              credential
//	app        read,write          sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//	ops        all                 sha256:...
//	replica    replication         x509:replica.example.com
//
// A credential is sha256:<hex> (the SHA-256 of a bearer token, so that the
// file holds no secret) or x509:<name> (a client certificate, verified by
// mutual TLS, whose subject common name or a DNS or URI SAN is name). Rights
// are read, write, admin, replication, or all. Blank lines and lines
// starting with # are ignored.
package access

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
)

// Rights is a set of rights.
type Rights uint8

// The rights. Read covers every call that only reads records; Write every
// call that changes records; Admin the calls that manage the server
// (clearing, copying, restoring, replication setup); Replication reading
// the update log.
const (
	Read Rights = 1 << iota
	Write
	Admin
	Replication

	All = Read | Write | Admin | Replication
)

var rightNames = []struct {
	r    Rights
	name string
}{{Read, "read"}, {Write, "write"}, {Admin, "admin"}, {Replication, "replication"}}

// Has reports whether every right of want is in r.
func (r Rights) Has(want Rights) bool { return r&want == want }

// String lists the rights, comma-separated.
func (r Rights) String() string {
	var names []string
	for _, n := range rightNames {
		if r&n.r != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// ParseRights reads a comma-separated list of rights, or "all".
func ParseRights(s string) (Rights, error) {
	var r Rights
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		if f == "all" {
			r |= All
			continue
		}
		found := false
		for _, n := range rightNames {
			if n.name == f {
				r |= n.r
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown right %q: want read, write, admin, replication or all", f)
		}
	}
	return r, nil
}

// Principal is an authenticated caller.
type Principal struct {
	// Name is the caller's name from the tokens file, for logs and metrics.
	Name string
	// Rights is what the caller may do.
	Rights Rights
}

// Table is one reading of a tokens file. It is immutable.
type Table struct {
	tokens map[[sha256.Size]byte]Principal
	certs  map[string]Principal
}

// HashToken returns the credential field that stands for token in a tokens
// file.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Parse reads a tokens file. Errors name the line at fault.
func Parse(r io.Reader) (*Table, error) {
	t := &Table{tokens: map[[sha256.Size]byte]Principal{}, certs: map[string]Principal{}}
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want three fields, name, rights and credential, got %d", n, len(f))
		}
		if names[f[0]] {
			return nil, fmt.Errorf("line %d: name %q appears twice", n, f[0])
		}
		names[f[0]] = true
		rights, err := ParseRights(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		p := Principal{Name: f[0], Rights: rights}
		kind, val, _ := strings.Cut(f[2], ":")
		switch kind {
		case "sha256":
			var sum [sha256.Size]byte
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("line %d: sha256: want 64 hex digits (ktgrpc token prints them)", n)
			}
			copy(sum[:], b)
			if _, dup := t.tokens[sum]; dup {
				return nil, fmt.Errorf("line %d: the token of %q is also another caller's", n, f[0])
			}
			t.tokens[sum] = p
		case "x509":
			if val == "" {
				return nil, fmt.Errorf("line %d: x509: want the certificate's name", n)
			}
			if _, dup := t.certs[val]; dup {
				return nil, fmt.Errorf("line %d: x509 name %q appears twice", n, val)
			}
			t.certs[val] = p
		default:
			return nil, fmt.Errorf("line %d: credential %q: want sha256:<hex> or x509:<name>", n, f[2])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Token returns the caller whose token this is. A nil Table knows no one.
func (t *Table) Token(token string) (Principal, bool) {
	if t == nil {
		return Principal{}, false
	}
	// Keyed by the hash, the lookup's timing says nothing about how close
	// a guess came to a real token.
	p, ok := t.tokens[sha256.Sum256([]byte(token))]
	return p, ok
}

// Certificate returns the caller a verified client certificate stands for:
// the first entry matching its common name, DNS names or URIs.
func (t *Table) Certificate(c *x509.Certificate) (Principal, bool) {
	if t == nil {
		return Principal{}, false
	}
	if p, ok := t.certs[c.Subject.CommonName]; ok && c.Subject.CommonName != "" {
		return p, true
	}
	for _, n := range c.DNSNames {
		if p, ok := t.certs[n]; ok {
			return p, true
		}
	}
	for _, u := range c.URIs {
		if p, ok := t.certs[u.String()]; ok {
			return p, true
		}
	}
	return Principal{}, false
}

// Len is the number of callers.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.tokens) + len(t.certs)
}

// File is a tokens file that can be read again. The zero value is not
// usable; use Load.
type File struct {
	path  string
	table atomic.Pointer[Table]
}

// Load reads the tokens file at path.
func Load(path string) (*File, error) {
	f := &File{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again. On error the callers read before stay in
// force, so that a mistake in an edit does not lock everyone out.
func (f *File) Reload() error {
	r, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	defer r.Close()
	t, err := Parse(r)
	if err != nil {
		return fmt.Errorf("tokens file %s: %w", f.path, err)
	}
	f.table.Store(t)
	return nil
}

// Table returns the callers as last read.
func (f *File) Table() *Table { return f.table.Load() }

// Path is the file's name.
func (f *File) Path() string { return f.path }

type principalKey struct{}

// NewContext returns a context that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
