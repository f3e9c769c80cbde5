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
		{"embedded:?dbs=kv,users:table", []backend.DatabaseInfo{
			{Index: 0, Name: "kv", Backend: "embedded", Kind: "tree", Healthy: true},
			{Index: 1, Name: "users", Backend: "embedded", Kind: "table", Healthy: true},
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
		{"embedded:?log_bytes=0", "log_bytes"},
		{"embedded:?log_bytes=12XB", "log_bytes"},
		{"embedded:?log_bytes=-5MiB", "log_bytes"},
		{"embedded:?log_events=0", "log_events"},
		{"embedded:?log_events=1&log_events=2", "given 2 times"},
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

// The update log's bounds come from the URL and show in Report, beside
// what the log holds.
func TestOpenLogBounds(t *testing.T) {
	for raw, want := range map[string][2]string{
		"embedded:": {"67108864", "1048576"},
		"embedded:?log_bytes=16MiB&log_events=500": {"16777216", "500"},
		"embedded:?log_bytes=2GB":                  {"2000000000", "1048576"},
		"embedded:?log_bytes=65536":                {"65536", "1048576"},
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(u)
		if err != nil {
			t.Fatalf("Open(%s): %v", raw, err)
		}
		defer s.Close()
		if err := s.Set(ctx, "", []byte("k"), []byte("value"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		rep, err := s.Report(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep["log_bytes_limit"] != want[0] || rep["log_events_limit"] != want[1] || rep["log_events"] != "1" {
			t.Errorf("%s: Report log fields = %q/%q, %q events; want %q/%q, 1 event",
				raw, rep["log_bytes_limit"], rep["log_events_limit"], rep["log_events"], want[0], want[1])
		}
		if held := rep["log_bytes"]; held == "" || held == "0" || rep["log_oldest_position"] == "0" {
			t.Errorf("%s: Report says the log holds %q bytes from position %q", raw, held, rep["log_oldest_position"])
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Tree: "tree", Hash: "hash", Kind(9): "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q; want %q", int(k), got, want)
		}
	}
}
