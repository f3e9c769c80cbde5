package tt_test

import (
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// The query directives and the update-log option of table searches, as
// sent: the test server ignores flags that only steer index use, so only
// the bytes show them.
func TestTTTableSearchRequests(t *testing.T) {
	search := func(opts uint32, args ...string) []byte {
		r := &ttwire.Request{Cmd: ttwire.CmdMisc, Name: "search", Opts: opts}
		for _, a := range args {
			r.Args = append(r.Args, []byte(a))
		}
		return req(t, r)
	}
	reply := func(elems ...string) []byte {
		rep := &ttwire.Reply{}
		for _, e := range elems {
			rep.Elems = append(rep.Elems, []byte(e))
		}
		b, err := ttwire.AppendReply(nil, ttwire.CmdMisc, rep)
		mustOK(t, err)
		return b
	}
	cond := "addcond\x00name\x0050331648\x00bob" // STREQ + negate + no index
	b, _ := scripted(t, "table",
		exchange{send: search(1, cond, "setorder\x00age\x003", "setlimit\x002\x001"), reply: reply("u3", "u1")},
		exchange{send: search(1, cond, "count"), reply: reply("2")},
		exchange{send: search(1, cond, "get\x00\x00name"), reply: reply("\x00u3\x00name\x00carol")},
		// A delete is a change: it goes to the update log.
		exchange{send: search(0, cond, "setlimit\x00-1\x004", "out", "get\x00"), reply: reply("\x00u9")},
	)
	ctx := ctxT(t)
	c := []backend.Condition{{Column: "name", Op: backend.CondStrEq, Expr: "bob", Negate: true, NoIndex: true}}
	res, err := b.TableSearch(ctx, "", backend.Query{Conditions: c, HasOrder: true, OrderColumn: "age", Order: backend.OrderNumDesc, Limit: 2, Offset: 1})
	mustOK(t, err)
	eqStrs(t, "keys", strs(res.Keys), "u3", "u1")
	res, err = b.TableSearch(ctx, "", backend.Query{Conditions: c, Action: backend.SearchCount})
	if err != nil || res.Count != 2 {
		t.Fatalf("count %+v %v", res, err)
	}
	res, err = b.TableSearch(ctx, "", backend.Query{Conditions: c, Action: backend.SearchGet, Columns: []string{"name"}})
	if err != nil || len(res.Rows) != 1 || string(res.Rows[0].Key) != "u3" || string(res.Rows[0].Columns["name"]) != "carol" || len(res.Rows[0].Columns) != 1 {
		t.Fatalf("get %+v %v", res, err)
	}
	res, err = b.TableSearch(ctx, "", backend.Query{Conditions: c, Action: backend.SearchDelete, Offset: 4})
	if err != nil || res.Count != 1 {
		t.Fatalf("delete %+v %v", res, err)
	}
}
