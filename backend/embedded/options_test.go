package embedded

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		url  string
		want []backend.DatabaseInfo
	}{
		{"embedded:", []backend.DatabaseInfo{
			{Index: 0, Name: "0", Backend: "embedded", Kind: "tree", Healthy: true},
			{Index: 1, Name: "1", Backend: "embedded", Kind: "tree", Healthy: true},
		}},
		{"embedded:?dbs=users,cache:hash", []backend.DatabaseInfo{
			{Index: 0, Name: "users", Backend: "embedded", Kind: "tree", Healthy: true},
			{Index: 1, Name: "cache", Backend: "embedded", Kind: "hash", Healthy: true},
		}},
		{"embedded:?dbs=a:tree", []backend.DatabaseInfo{
			{Index: 0, Name: "a", Backend: "embedded", Kind: "tree", Healthy: true},
		}},
		{"embedded://?dbs=0,1:hash", []backend.DatabaseInfo{
			{Index: 0, Name: "0", Backend: "embedded", Kind: "tree", Healthy: true},
			{Index: 1, Name: "1", Backend: "embedded", Kind: "hash", Healthy: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(u)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			got, err := s.Databases(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Databases = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"kt://localhost:1978", "scheme"},
		{"embedded:foo", "no address"},
		{"embedded://host", "no address"},
		{"embedded:?dbs=a&sweep=1s", `unknown URL parameter "sweep"`},
		{"embedded:?dbs=a&dbs=b", "dbs given 2 times"},
		{"embedded:?dbs=", "dbs is empty"},
		{"embedded:?dbs=a,,b", "empty name"},
		{"embedded:?dbs=a:btree", `unknown kind "btree"`},
		{"embedded:?dbs=:hash", "empty name"},
		{"embedded:?dbs=a,a", "used twice"},
		{"embedded:?dbs=x,0", "index"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(u)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded; want an error")
			}
			if !errors.Is(err, backend.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open err = %v; want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := Open(nil); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("Open(nil) = %v; want ErrInvalid", err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Tree: "tree", Hash: "hash", Kind(9): "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q; want %q", int(k), got, want)
		}
	}
}
