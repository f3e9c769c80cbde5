package e2e

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// The Table service on the embedded store, opened from a URL as `make run`
// opens it: rows put and searched through the gateway, and seen by the KV
// service as Tokyo Tyrant's serialised rows.
func TestEmbeddedTable(t *testing.T) {
	u, err := url.Parse("embedded:?dbs=kv,users:table")
	if err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	_, conn := gatewaytest.StartServer(t, store, server.Options{HealthInterval: time.Hour})
	table, kv := ktgrpcv1.NewTableClient(conn), ktgrpcv1.NewKVClient(conn)
	ctx := t.Context()

	for key, cols := range map[string]map[string][]byte{
		"1": {"name": []byte("alice"), "age": []byte("30")},
		"2": {"name": []byte("bob"), "age": []byte("25")},
		"3": {"name": []byte("carol"), "age": []byte("41")},
	} {
		resp, err := table.Put(ctx, &ktgrpcv1.TablePutRequest{Db: "users", Key: []byte(key), Columns: cols})
		if err != nil || !resp.GetApplied() {
			t.Fatalf("Put %s: %v, %v", key, resp, err)
		}
	}
	keep, err := table.Put(ctx, &ktgrpcv1.TablePutRequest{Db: "users", Key: []byte("1"), Columns: map[string][]byte{"name": []byte("x")}, Mode: ktgrpcv1.PutMode_PUT_MODE_KEEP})
	if err != nil || keep.GetApplied() {
		t.Errorf("Put keep on an existing row: %v, %v; want not applied", keep, err)
	}
	get, err := table.Get(ctx, &ktgrpcv1.TableGetRequest{Db: "users", Key: []byte("2")})
	if err != nil || !get.GetFound() || string(get.GetColumns()["name"]) != "bob" {
		t.Errorf("Get 2: %v, %v", get, err)
	}

	search, err := table.Search(ctx, &ktgrpcv1.TableSearchRequest{
		Db:         "users",
		Conditions: []*ktgrpcv1.Condition{{Column: "age", Operator: ktgrpcv1.ConditionOperator_CONDITION_OPERATOR_NUM_GE, Expr: "26"}},
		Order:      &ktgrpcv1.Order{Column: "age", Type: ktgrpcv1.OrderType_ORDER_TYPE_NUM_DESC},
		Action:     ktgrpcv1.SearchAction_SEARCH_ACTION_GET,
		Columns:    []string{"name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range search.GetRows() {
		names = append(names, string(r.GetKey())+"="+string(r.GetColumns()["name"]))
		if len(r.GetColumns()) != 1 {
			t.Errorf("row %s has columns %q; want only name", r.GetKey(), r.GetColumns())
		}
	}
	if !slices.Equal(names, []string{"3=carol", "1=alice"}) {
		t.Errorf("search age >= 26 by age desc = %q", names)
	}
	count, err := table.Search(ctx, &ktgrpcv1.TableSearchRequest{Db: "users", Action: ktgrpcv1.SearchAction_SEARCH_ACTION_COUNT})
	if err != nil || count.GetCount() != 3 {
		t.Errorf("count: %v, %v", count, err)
	}
	id, err := table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{Db: "users"})
	if err != nil || id.GetId() != 1 {
		t.Errorf("GenerateID: %v, %v", id, err)
	}
	idx, err := table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Db: "users", Column: "name", Type: ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL})
	if err != nil || !idx.GetApplied() {
		t.Errorf("SetIndex: %v, %v", idx, err)
	}

	// The KV service reads a row in Tokyo Tyrant's serialised form and
	// refuses what a row cannot take.
	got, err := kv.Get(ctx, &ktgrpcv1.GetRequest{Db: "users", Key: []byte("2")})
	if err != nil || string(got.GetValue()) != "age\x0025\x00name\x00bob" {
		t.Errorf("KV Get of a row: %v, %v", got, err)
	}
	_, err = kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Db: "users", Key: []byte("2"), Delta: 1})
	gatewaytest.WantCode(t, err, codes.Unimplemented, `table "users"`)

	// A table call on the tree database says what is wrong.
	_, err = table.Get(ctx, &ktgrpcv1.TableGetRequest{Db: "kv", Key: []byte("1")})
	gatewaytest.WantCode(t, err, codes.Unimplemented, `database "kv" is a tree database, not a table`)
}
