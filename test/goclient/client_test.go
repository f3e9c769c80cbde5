package goclient_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
	"github.com/ktgrpc/ktgrpc/test/testclock"
)

// newClient starts a gateway on a fresh embedded store with databases "0"
// (tree), "1" (tree) and "cache" (hash), and returns a client over it.
func newClient(t *testing.T) (*ktgrpc.Client, *testclock.Manual) {
	t.Helper()
	clk := testclock.NewManual(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	store, err := embedded.New(embedded.Options{
		Databases: []embedded.DBConfig{
			{Name: "0"}, {Name: "1"}, {Name: "cache", Kind: embedded.Hash},
		},
		Now:           clk.Now,
		SweepInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return ktgrpc.New(gatewaytest.Start(t, store)), clk
}

func mustSet(t *testing.T, c *ktgrpc.Client, key, value string, opts ...ktgrpc.Option) {
	t.Helper()
	if err := c.SetString(context.Background(), key, value, opts...); err != nil {
		t.Fatalf("SetString(%q): %v", key, err)
	}
}

func TestGetSet(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	if err := c.Set(ctx, "k\x00bin", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "k\x00bin")
	if err != nil || string(got) != "\x00\x01\x02" {
		t.Fatalf("Get = %q, %v; want the binary value", got, err)
	}

	mustSet(t, c, "greeting", "hello")
	s, err := c.GetString(ctx, "greeting")
	if err != nil || s != "hello" {
		t.Fatalf("GetString = %q, %v; want hello", s, err)
	}

	_, err = c.Get(ctx, "missing")
	if !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Get(missing) error %q does not name the key", err)
	}

	removed, err := c.Remove(ctx, "greeting")
	if err != nil || !removed {
		t.Fatalf("Remove = %v, %v; want true", removed, err)
	}
	removed, err = c.Remove(ctx, "greeting")
	if err != nil || removed {
		t.Fatalf("second Remove = %v, %v; want false", removed, err)
	}
	if _, err := c.Get(ctx, "greeting"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Fatalf("Get after Remove: %v, want ErrNotFound", err)
	}
}

func TestStatusErrors(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	err := c.SetString(ctx, "", "v")
	if !errors.Is(err, ktgrpc.ErrInvalid) {
		t.Fatalf("Set with empty key: %v, want ErrInvalid", err)
	}
	var e *ktgrpc.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || e.Op != "Set" || e.Message == "" {
		t.Fatalf("error %#v: want an *Error for Set with code InvalidArgument and a message", err)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("status.Code = %v, want InvalidArgument", status.Code(err))
	}
	if errors.Is(err, ktgrpc.ErrNotFound) {
		t.Error("InvalidArgument error matches ErrNotFound")
	}
	if !strings.HasPrefix(err.Error(), "ktgrpc: Set: InvalidArgument: ") {
		t.Errorf("Error() = %q", err.Error())
	}

	_, err = c.Get(ctx, "k", ktgrpc.WithDB("nope"))
	if !errors.Is(err, ktgrpc.ErrInvalid) || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Get on unknown database: %v, want ErrInvalid with code InvalidArgument", err)
	}

	mustSet(t, c, "text", "abc")
	if _, err := c.Increment(ctx, "text", 1); !errors.Is(err, ktgrpc.ErrPrecondition) {
		t.Fatalf("Increment of text: %v, want ErrPrecondition", err)
	}

	mustSet(t, c, "h", "v", ktgrpc.WithDB("cache"))
	if err := seqErr(c.Scan(ctx, ktgrpc.WithDB("cache"), ktgrpc.WithReverse())); !errors.Is(err, ktgrpc.ErrUnsupported) {
		t.Fatalf("reverse Scan of a hash database: %v, want ErrUnsupported", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Get(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestDatabases(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	db1 := c.With(ktgrpc.WithDB("1"))

	mustSet(t, db1, "k", "in one")
	mustSet(t, c, "k", "in zero")
	if v, err := db1.GetString(ctx, "k"); err != nil || v != "in one" {
		t.Fatalf("db 1 Get = %q, %v", v, err)
	}
	if v, err := c.GetString(ctx, "k"); err != nil || v != "in zero" {
		t.Fatalf("default db Get = %q, %v", v, err)
	}
	// A call's option overrides the client's default.
	if v, err := db1.GetString(ctx, "k", ktgrpc.WithDB("0")); err != nil || v != "in zero" {
		t.Fatalf("db 1 client, WithDB(0) Get = %q, %v", v, err)
	}
	// With does not change the client it derives from.
	if v, err := c.GetString(ctx, "k"); err != nil || v != "in zero" {
		t.Fatalf("parent client after With: %q, %v", v, err)
	}
}

func TestExpiration(t *testing.T) {
	c, clk := newClient(t)
	ctx := context.Background()
	start := clk.Now()

	mustSet(t, c, "ttl", "v", ktgrpc.WithTTL(time.Minute))
	mustSet(t, c, "at", "v", ktgrpc.WithExpireAt(start.Add(time.Hour)))
	// The later option wins: WithTTL(0) after WithExpireAt means never.
	mustSet(t, c, "never", "v", ktgrpc.WithExpireAt(start.Add(time.Second)), ktgrpc.WithTTL(0))

	for key, want := range map[string]time.Time{
		"ttl":   start.Add(time.Minute),
		"at":    start.Add(time.Hour),
		"never": {},
	} {
		rec, err := c.GetRecord(ctx, key)
		if err != nil {
			t.Fatalf("GetRecord(%q): %v", key, err)
		}
		if !rec.ExpireTime.Equal(want) {
			t.Errorf("%q expires at %v, want %v", key, rec.ExpireTime, want)
		}
	}

	clk.Advance(2 * time.Minute)
	if _, err := c.Get(ctx, "ttl"); !errors.Is(err, ktgrpc.ErrNotFound) {
		t.Errorf("Get of an expired record: %v, want ErrNotFound", err)
	}
	if _, err := c.Get(ctx, "at"); err != nil {
		t.Errorf("Get of a record that has not expired: %v", err)
	}

	// SetMulti applies the TTL to every record.
	if _, err := c.SetMulti(ctx, map[string][]byte{"m1": nil, "m2": nil}, ktgrpc.WithTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	recs, err := c.GetMultiRecords(ctx, []string{"m1", "m2"})
	if err != nil || len(recs) != 2 {
		t.Fatalf("GetMultiRecords = %v, %v", recs, err)
	}
	for _, r := range recs {
		if want := clk.Now().Add(time.Second); !r.ExpireTime.Equal(want) {
			t.Errorf("%q expires at %v, want %v", r.Key, r.ExpireTime, want)
		}
	}

	if err := c.SetString(ctx, "neg", "v", ktgrpc.WithTTL(-time.Second)); !errors.Is(err, ktgrpc.ErrInvalid) {
		t.Errorf("negative TTL: %v, want ErrInvalid", err)
	}
}

func TestConditionalWrites(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	if ok, err := c.Add(ctx, "k", []byte("first")); err != nil || !ok {
		t.Fatalf("Add of a new key = %v, %v", ok, err)
	}
	if ok, err := c.Add(ctx, "k", []byte("second")); err != nil || ok {
		t.Fatalf("Add of an existing key = %v, %v; want false", ok, err)
	}
	if ok, err := c.Replace(ctx, "missing", []byte("x")); err != nil || ok {
		t.Fatalf("Replace of a missing key = %v, %v; want false", ok, err)
	}
	if ok, err := c.Replace(ctx, "k", []byte("third")); err != nil || !ok {
		t.Fatalf("Replace of an existing key = %v, %v", ok, err)
	}
	if err := c.Append(ctx, "k", []byte("+more")); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetString(ctx, "k"); v != "third+more" {
		t.Fatalf("after Add/Replace/Append: %q", v)
	}

	for _, want := range []int64{5, 3} {
		got, err := c.Increment(ctx, "n", map[int64]int64{5: 5, 3: -2}[want])
		if err != nil || got != want {
			t.Fatalf("Increment = %d, %v; want %d", got, err, want)
		}
	}
}

func TestMulti(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	n, err := c.SetMulti(ctx, map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}, ktgrpc.WithAtomic())
	if err != nil || n != 3 {
		t.Fatalf("SetMulti = %d, %v; want 3", n, err)
	}
	got, err := c.GetMulti(ctx, []string{"c", "a", "zz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["a"]) != "1" || string(got["c"]) != "3" {
		t.Fatalf("GetMulti = %q; want a and c only", got)
	}
	recs, err := c.GetMultiRecords(ctx, []string{"c", "zz", "a"})
	if err != nil || len(recs) != 2 || recs[0].Key != "c" || recs[1].Key != "a" {
		t.Fatalf("GetMultiRecords = %v, %v; want c then a", recs, err)
	}
	removed, err := c.RemoveMulti(ctx, []string{"a", "b", "zz"})
	if err != nil || removed != 2 {
		t.Fatalf("RemoveMulti = %d, %v; want 2", removed, err)
	}
	if got, _ := c.GetMulti(ctx, []string{"a", "b", "c"}); len(got) != 1 {
		t.Fatalf("after RemoveMulti: %q; want only c", got)
	}
	if got, err := c.GetMulti(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMulti(nil) = %q, %v", got, err)
	}
}

func TestMatch(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	for _, k := range []string{"user:3", "user:1", "user:2", "order:1"} {
		mustSet(t, c, k, "v")
	}
	keys, err := c.MatchPrefix(ctx, "user:")
	if err != nil || !slices.Equal(keys, []string{"user:1", "user:2", "user:3"}) {
		t.Fatalf("MatchPrefix = %q, %v", keys, err)
	}
	keys, err = c.MatchPrefix(ctx, "user:", ktgrpc.WithLimit(2))
	if err != nil || len(keys) != 2 {
		t.Fatalf("MatchPrefix with limit 2 = %q, %v", keys, err)
	}
	keys, err = c.MatchRegex(ctx, `:1$`)
	if err != nil || !slices.Equal(keys, []string{"order:1", "user:1"}) {
		t.Fatalf("MatchRegex = %q, %v", keys, err)
	}
	if _, err := c.MatchRegex(ctx, `(`); !errors.Is(err, ktgrpc.ErrInvalid) {
		t.Fatalf("MatchRegex with a bad pattern: %v, want ErrInvalid", err)
	}
}

// seqErr ranges over seq until its first error and returns it; nil means
// the sequence ended without one.
func seqErr[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// collect drains a sequence of records into keys and key=value pairs.
func collect(t *testing.T, seq iter.Seq2[ktgrpc.Record, error]) []string {
	t.Helper()
	var out []string
	for rec, err := range seq {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		out = append(out, rec.Key+"="+string(rec.Value))
	}
	return out
}

func TestScan(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	for _, k := range []string{"b", "d", "a", "c", "e", "x:1", "x:2"} {
		mustSet(t, c, k, strings.ToUpper(k))
	}

	tests := []struct {
		name string
		opts []ktgrpc.Option
		want []string
	}{
		{"all", nil, []string{"a=A", "b=B", "c=C", "d=D", "e=E", "x:1=X:1", "x:2=X:2"}},
		{"range", []ktgrpc.Option{ktgrpc.WithRange("b", "e")}, []string{"b=B", "c=C", "d=D"}},
		{"open end", []ktgrpc.Option{ktgrpc.WithRange("e", "")}, []string{"e=E", "x:1=X:1", "x:2=X:2"}},
		{"prefix", []ktgrpc.Option{ktgrpc.WithPrefix("x:")}, []string{"x:1=X:1", "x:2=X:2"}},
		{"reverse limit", []ktgrpc.Option{ktgrpc.WithReverse(), ktgrpc.WithLimit(2)}, []string{"x:2=X:2", "x:1=X:1"}},
		{"keys only", []ktgrpc.Option{ktgrpc.WithKeysOnly(), ktgrpc.WithRange("", "c")}, []string{"a=", "b="}},
		{"batches of one", []ktgrpc.Option{ktgrpc.WithBatchSize(1), ktgrpc.WithRange("c", "e")}, []string{"c=C", "d=D"}},
		{"other db", []ktgrpc.Option{ktgrpc.WithDB("1")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := collect(t, c.Scan(ctx, tc.opts...)); !slices.Equal(got, tc.want) {
				t.Errorf("Scan = %q, want %q", got, tc.want)
			}
		})
	}

	// Breaking out early stops the stream; the sequence can be ranged again.
	seq := c.Scan(ctx, ktgrpc.WithBatchSize(1))
	var first []string
	for rec, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, rec.Key)
		if len(first) == 2 {
			break
		}
	}
	if !slices.Equal(first, []string{"a", "b"}) {
		t.Fatalf("first two keys = %q", first)
	}
	if got := collect(t, seq); len(got) != 7 {
		t.Fatalf("second range over the same Scan = %q, want all 7 records", got)
	}
}

// describe renders an event for comparison.
func describe(ev ktgrpc.Event) string {
	if ev.Op == ktgrpc.OpProgress {
		return "progress"
	}
	return ev.Op.String() + " " + ev.DB + " " + ev.Key + " " + string(ev.Value)
}

// until collects events up to and including the first progress event.
func until(t *testing.T, seq iter.Seq2[ktgrpc.Event, error]) ([]string, []ktgrpc.Event) {
	t.Helper()
	var names []string
	var events []ktgrpc.Event
	for ev, err := range seq {
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		names = append(names, describe(ev))
		events = append(events, ev)
		if ev.Op == ktgrpc.OpProgress {
			break
		}
	}
	return names, events
}

func TestSubscribe(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	mustSet(t, c, "a", "1")
	mustSet(t, c, "b", "2")
	mustSet(t, c, "x", "3", ktgrpc.WithDB("1"))
	if _, err := c.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustSet(t, c, "c", "4")

	names, events := until(t, c.Subscribe(ctx))
	want := []string{"set 0 a 1", "set 0 b 2", "set 1 x 3", "remove 0 a ", "set 0 c 4", "progress"}
	if !slices.Equal(names, want) {
		t.Fatalf("replay = %q, want %q", names, want)
	}
	for i := 1; i < len(events); i++ {
		if events[i].Position <= events[i-1].Position && events[i].Op != ktgrpc.OpProgress {
			t.Errorf("positions not increasing: %d then %d", events[i-1].Position, events[i].Position)
		}
	}
	if last := events[len(events)-1]; last.Position != events[len(events)-2].Position {
		t.Errorf("progress after replay at %d, want the last event's position %d", last.Position, events[len(events)-2].Position)
	}

	// Resuming is exclusive: after the second event come the third on.
	names, _ = until(t, c.Subscribe(ctx, ktgrpc.WithAfter(events[1].Position)))
	if !slices.Equal(names, want[2:]) {
		t.Fatalf("resume after %d = %q, want %q", events[1].Position, names, want[2:])
	}

	// Filters.
	names, _ = until(t, c.Subscribe(ctx, ktgrpc.WithDB("1")))
	if !slices.Equal(names, []string{"set 1 x 3", "progress"}) {
		t.Errorf("WithDB(1) = %q", names)
	}
	names, _ = until(t, c.Subscribe(ctx, ktgrpc.WithOps(ktgrpc.OpRemove, ktgrpc.OpClear)))
	if !slices.Equal(names, []string{"remove 0 a ", "progress"}) {
		t.Errorf("WithOps(remove, clear) = %q", names)
	}
	names, _ = until(t, c.Subscribe(ctx, ktgrpc.WithPrefix("b")))
	if !slices.Equal(names, []string{"set 0 b 2", "progress"}) {
		t.Errorf("WithPrefix(b) = %q", names)
	}

	// The deadline only keeps a gateway that accepts these requests from
	// hanging the test; it fails it with DeadlineExceeded instead.
	bounded, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := seqErr(c.Subscribe(bounded, ktgrpc.WithOps(ktgrpc.OpProgress))); !errors.Is(err, ktgrpc.ErrInvalid) {
		t.Errorf("WithOps(OpProgress): %v, want ErrInvalid", err)
	}
	if err := seqErr(c.Subscribe(bounded, ktgrpc.WithProgressInterval(time.Millisecond))); !errors.Is(err, ktgrpc.ErrInvalid) {
		t.Errorf("progress interval of 1ms: %v, want ErrInvalid", err)
	}
}

func TestSubscribeNowAndCancel(t *testing.T) {
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustSet(t, c, "old", "v")

	next, stop := iter.Pull2(c.Subscribe(ctx, ktgrpc.WithNow()))
	defer stop()
	// The first message is the progress that says the stream is live.
	ev, err, ok := next()
	if !ok || err != nil || ev.Op != ktgrpc.OpProgress {
		t.Fatalf("first message = %+v, %v, %v; want progress", ev, err, ok)
	}
	mustSet(t, c, "new", "v")
	ev, err, ok = next()
	if !ok || err != nil || describe(ev) != "set 0 new v" {
		t.Fatalf("after a write = %q, %v, %v; want the new set only", describe(ev), err, ok)
	}

	cancel()
	for {
		ev, err, ok = next()
		if !ok {
			t.Fatal("sequence ended without an error after cancel")
		}
		if err != nil {
			break
		}
		if ev.Op != ktgrpc.OpProgress {
			t.Fatalf("unexpected event after cancel: %q", describe(ev))
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error after cancel = %v, want context.Canceled", err)
	}
	if _, _, ok := next(); ok {
		t.Fatal("sequence went on after its error")
	}
}

// TestSubscribeResumeAfterRestart stops the gateway under a subscription,
// as a deployment would, and resumes on a new gateway over the same store
// from the last position handled: the first stream ends with
// ErrUnavailable, and the second delivers exactly the changes after that
// position, including one made while no gateway ran.
func TestSubscribeResumeAfterRestart(t *testing.T) {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()

	srv, conn := gatewaytest.StartServer(t, store, server.Options{})
	c := ktgrpc.New(conn)
	mustSet(t, c, "a", "1")
	next, stop := iter.Pull2(c.Subscribe(ctx))
	defer stop()
	ev, err, ok := next()
	if !ok || err != nil || describe(ev) != "set 0 a 1" {
		t.Fatalf("first event = %q, %v, %v; want the set of a", describe(ev), err, ok)
	}
	checkpoint := ev.Position

	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop the gateway: %v", err)
	}
	for {
		ev, err, ok = next()
		if !ok {
			t.Fatal("sequence ended without an error when the gateway stopped")
		}
		if err != nil {
			break
		}
		if ev.Op != ktgrpc.OpProgress {
			t.Fatalf("unexpected event while stopping: %q", describe(ev))
		}
	}
	if !errors.Is(err, ktgrpc.ErrUnavailable) {
		t.Fatalf("error when the gateway stops = %v, want ErrUnavailable", err)
	}

	if err := store.Set(ctx, "", []byte("b"), []byte("2"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c = ktgrpc.New(gatewaytest.Start(t, store))
	mustSet(t, c, "c", "3")
	names, _ := until(t, c.Subscribe(ctx, ktgrpc.WithAfter(checkpoint)))
	if want := []string{"set 0 b 2", "set 0 c 3", "progress"}; !slices.Equal(names, want) {
		t.Fatalf("resumed after %d = %q, want %q", checkpoint, names, want)
	}
}

type user struct {
	Name string
	Age  int
}

func TestTyped(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	for name, codec := range map[string]ktgrpc.Codec[user]{"json": ktgrpc.JSON[user](), "gob": ktgrpc.Gob[user]()} {
		t.Run(name, func(t *testing.T) {
			users := ktgrpc.NewTyped(c.With(ktgrpc.WithDB("1")), codec)
			if err := users.Set(ctx, name+":ann", user{"Ann", 41}); err != nil {
				t.Fatal(err)
			}
			got, err := users.Get(ctx, name+":ann")
			if err != nil || got != (user{"Ann", 41}) {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if ok, err := users.Add(ctx, name+":ann", user{"Other", 1}); err != nil || ok {
				t.Fatalf("Add of an existing key = %v, %v", ok, err)
			}
			n, err := users.SetMulti(ctx, map[string]user{name + ":bob": {"Bob", 7}, name + ":cid": {"Cid", 9}})
			if err != nil || n != 2 {
				t.Fatalf("SetMulti = %d, %v", n, err)
			}
			m, err := users.GetMulti(ctx, []string{name + ":bob", name + ":zed"})
			if err != nil || len(m) != 1 || m[name+":bob"] != (user{"Bob", 7}) {
				t.Fatalf("GetMulti = %+v, %v", m, err)
			}
			var names []string
			for e, err := range users.Scan(ctx, ktgrpc.WithPrefix(name+":")) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, e.Value.Name)
			}
			if !slices.Equal(names, []string{"Ann", "Bob", "Cid"}) {
				t.Fatalf("Scan = %q", names)
			}
			if ok, err := users.Remove(ctx, name+":ann"); err != nil || !ok {
				t.Fatalf("Remove = %v, %v", ok, err)
			}
			if _, err := users.Get(ctx, name+":ann"); !errors.Is(err, ktgrpc.ErrNotFound) {
				t.Fatalf("Get after Remove: %v", err)
			}
		})
	}

	// The JSON form is plain JSON, readable by clients in other languages.
	if v, err := c.GetString(ctx, "json:bob", ktgrpc.WithDB("1")); err != nil || v != `{"Name":"Bob","Age":7}` {
		t.Errorf("stored JSON = %q, %v", v, err)
	}

	// A value the codec cannot read is an error naming the key, also in Scan.
	mustSet(t, c, "bad", "not json", ktgrpc.WithDB("1"))
	users := ktgrpc.NewTyped(c.With(ktgrpc.WithDB("1")), ktgrpc.JSON[user]())
	if _, err := users.Get(ctx, "bad"); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("Get of a bad value: %v, want a decode error naming the key", err)
	}
	if scanErr := seqErr(users.Scan(ctx, ktgrpc.WithRange("bad", "bad\x00"))); scanErr == nil || !strings.Contains(scanErr.Error(), `"bad"`) {
		t.Errorf("Scan over a bad value: %v, want a decode error naming the key", scanErr)
	}
	if err := ktgrpc.NewTyped(c, ktgrpc.JSON[func()]()).Set(ctx, "f", func() {}); err == nil || !strings.Contains(err.Error(), `"f"`) {
		t.Errorf("Set of an unencodable value: %v, want an encode error naming the key", err)
	}

	strs := ktgrpc.NewTyped(c, ktgrpc.String())
	if err := strs.Set(ctx, "s", "text"); err != nil {
		t.Fatal(err)
	}
	raw := ktgrpc.NewTyped(c, ktgrpc.Raw())
	if v, err := raw.Get(ctx, "s"); err != nil || string(v) != "text" {
		t.Errorf("Raw Get = %q, %v", v, err)
	}
	if raw.Client() != c {
		t.Error("Client() does not return the underlying client")
	}
}

func TestDial(t *testing.T) {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	addr := gatewaytest.Start(t, store).Target()

	c, err := ktgrpc.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Values above gRPC's default 4 MiB receive limit come back.
	big := strings.Repeat("x", 5<<20)
	if err := c.SetString(ctx, "big", big); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetString(ctx, "big"); err != nil || len(v) != len(big) {
		t.Fatalf("GetString(big) = %d bytes, %v", len(v), err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "big"); err == nil {
		t.Fatal("Get after Close succeeded")
	}
	// A client over a caller's connection leaves it open on Close.
	if err := ktgrpc.New(gatewaytest.Start(t, store)).Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[ktgrpc.Op]string{
		ktgrpc.OpSet: "set", ktgrpc.OpIncrementDouble: "increment_double", ktgrpc.OpMisc: "misc",
		ktgrpc.OpProgress: "progress", ktgrpc.OpUnknown: "unknown(0)",
	} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", int(op), got, want)
		}
	}
}
