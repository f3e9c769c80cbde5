package e2e

import (
	"testing"

	"google.golang.org/grpc/codes"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// The gateway refuses, with INVALID_ARGUMENT and the reason, every request
// that would make Tokyo Cabinet abort the server: an empty column value
// that can meet a lexical or decimal index.
func TestTTTableCrashGuard(t *testing.T) {
	e := startTT(t, "tt-table", "")
	ctx := testCtx(t)
	must(e.table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "text", Type: ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL}))(t)
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
		if !gatewaytest.WantCode(t, err, codes.InvalidArgument, "crashes the Tokyo Tyrant server") {
			t.Logf("in %s with an empty value", what)
		}
	}
	// The test server aborted nothing: it still answers.
	if aborted := e.srv.TT().Aborted(); aborted != "" {
		t.Fatalf("the test server aborted: %s", aborted)
	}
	must(e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("24"), Columns: map[string][]byte{"text": []byte("t")}}))(t)
	// A column named "" is the gateway's own refusal.
	_, err := e.table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: []byte("25"), Columns: map[string][]byte{"": []byte("v")}})
	gatewaytest.WantCode(t, err, codes.InvalidArgument) // Table.Put with a column named
}
