package tt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// TestTTGoldenReplicationEvents feeds the replication streams recorded from
// a real ttserver to the adapter: every record becomes the expected event,
// and failed commands and reads become progress only.
func TestTTGoldenReplicationEvents(t *testing.T) {
	// Events as "operation command key value int-delta keep-last
	// double-delta", per recorded case.
	cases := map[string][]string{
		// out of a missing key and putkeep on an existing one failed.
		"tt-repl/records/put-out-putkeep": {`SET put "k" "v" 0 0 0`, `REMOVE out "k" "" 0 0 0`, `SET put "a" "1" 0 0 0`},
		// putnr is logged as put.
		"tt-repl/records/putcat-putshl-putnr": {`APPEND putcat "c" "ab" 0 0 0`, `APPEND putshl "c" "cd" 0 3 0`, `SET put "n" "nr" 0 0 0`},
		"tt-repl/records/addint-adddouble":    {`INCREMENT addint "i" "" 5 0 0`, `INCREMENT_DOUBLE adddouble "d" "" 0 0 1.5`, `SET put "s" "abc" 0 0 0`},
		// The logged getlist is a read and nosuchfunc failed.
		"tt-repl/records/misc": {`MISC misc:putlist "" "" 0 0 0`},
		// ext itself is not logged; the put its function made is.
		"tt-repl/records/ext":                  {`SET put "lk" "lv" 0 0 0`},
		"tt-repl/records/sync-optimize-vanish": {`SET put "k" "v" 0 0 0`, `SYNC sync "" "" 0 0 0`, `OPTIMIZE optimize "" "" 0 0 0`, `CLEAR vanish "" "" 0 0 0`},
		"tt-repl/records/table-db":             {`MISC misc:put "" "" 0 0 0`, `MISC misc:setindex "" "" 0 0 0`, `MISC misc:genuid "" "" 0 0 0`, `SET put "u2" "name\x00bob" 0 0 0`},
		"tt-repl/records/btree-putdup":         {`MISC misc:putdup "" "" 0 0 0`, `MISC misc:putdup "" "" 0 0 0`, `MISC misc:outlist "" "" 0 0 0`},
	}
	ops := map[backend.Operation]string{
		backend.OpSet: "SET", backend.OpRemove: "REMOVE", backend.OpClear: "CLEAR", backend.OpAppend: "APPEND",
		backend.OpIncrement: "INCREMENT", backend.OpIncrementDouble: "INCREMENT_DOUBLE", backend.OpSync: "SYNC",
		backend.OpOptimize: "OPTIMIZE", backend.OpMisc: "MISC",
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			ex := replStream(t, name)
			// Every frame but the opening NOP, which the master sends
			// before reading its log, becomes an update.
			frames, opening := 0, true
			for r := bytes.NewReader(ex.reply[4:]); r.Len() > 0; opening = false {
				f, err := ttwire.ReadFrame(r)
				if err != nil {
					t.Fatal(err)
				}
				if !opening || !f.NOP {
					frames++
				}
			}
			b, _ := scripted(t, "hash", ex)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []string
			calls := 0
			err := b.Subscribe(ctx, backend.SubscribeOptions{ServerID: 2}, func(u backend.Update) error {
				if e := u.Event; e != nil {
					got = append(got, fmt.Sprintf("%s %s %q %q %v %d %v", ops[e.Op], e.Command, e.Key, e.Value, e.IntDelta, e.KeepLast, e.DoubleDelta))
					if e.DB != "0" || e.OriginSID != 1 || e.Position == 0 || !bytes.HasPrefix(e.Raw, []byte{0xC8}) {
						t.Errorf("event %s: db %q sid %d position %d raw %x", e.Command, e.DB, e.OriginSID, e.Position, e.Raw)
					}
				}
				if calls++; calls == frames {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			eqStrs(t, "events", got, want...)
		})
	}
}

// replStream returns the repl exchange of a recorded replication case.
func replStream(t *testing.T, name string) exchange {
	t.Helper()
	for i, s := range loadGoldenCases(t)[name] {
		if strings.HasPrefix(s.SendHex, "c8a0") {
			return g(t, name, i)[0]
		}
	}
	t.Fatalf("%s has no repl request", name)
	return exchange{}
}
