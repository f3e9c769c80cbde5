package e2e

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// The gateway refuses, with INVALID_ARGUMENT and the reason, every request
// that would make Tokyo Cabinet abort the server: an empty column value
// that can meet a lexical or decimal index.
func TestTTTableCrashGuard(t *testing.T) {
	e := startTT(t, "tt-table", "")
	ctx := ttCtx(t)
	ttMust(e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "text", Type: ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL}))(t)
	for what, call := range map[string]func() error{
		"Table.Put": func() error {
			_, err := e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("24"), Columns: map[string][]byte{"text": {}}})
			return err
		},
		"KV.Set": func() error {
			_, err := e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("24"), Value: []byte("text\x00")})
			return err
		},
		"Admin.Misc put": func() error {
			_, err := e.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "put", Args: [][]byte{[]byte("24"), []byte("text"), {}}})
			return err
		},
	} {
		err := call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "crashes the Tokyo Tyrant server") {
			t.Errorf("%s with an empty value: %v, want INVALID_ARGUMENT saying it would crash the server", what, err)
		}
	}
	// The test server aborted nothing: it still answers.
	if aborted := e.srv.TT().Aborted(); aborted != "" {
		t.Fatalf("the test server aborted: %s", aborted)
	}
	ttMust(e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("24"), Columns: map[string][]byte{"text": []byte("t")}}))(t)
	// A column named "" is the gateway's own refusal.
	_, err := e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("25"), Columns: map[string][]byte{"": []byte("v")}})
	ttCode(t, `Table.Put with a column named ""`, err, codes.InvalidArgument)
}
