package tt_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
	"github.com/ktgrpc/ktgrpc/test/tttest"
)

func req(t *testing.T, r *ttwire.Request) []byte {
	t.Helper()
	b, err := ttwire.AppendRequest(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func getReq(t *testing.T, key string) []byte {
	return req(t, &ttwire.Request{Cmd: ttwire.CmdGet, Key: []byte(key)})
}

func putReq(t *testing.T, key, value string) []byte {
	return req(t, &ttwire.Request{Cmd: ttwire.CmdPut, Key: []byte(key), Value: []byte(value)})
}

func valueReply(v string) []byte {
	b, _ := ttwire.AppendReply(nil, ttwire.CmdGet, &ttwire.Reply{Value: []byte(v)})
	return b
}

// A write cut off by the server is unavailable (its outcome is unknown), is
// not retried, and its connection is dropped; the next call works.
func TestTTHangUpMidWrite(t *testing.T) {
	b, s := scripted(t, "hash",
		exchange{send: putReq(t, "k", "v"), hangUp: true},
		exchange{send: getReq(t, "k"), reply: valueReply("v")},
	)
	ctx := ctxT(t)
	err := b.Set(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{})
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "put") {
		t.Fatalf("put: %v", err)
	}
	if st := b.PoolStats(); st.Open != 0 {
		t.Fatalf("broken connection kept: %+v", st)
	}
	rec, found, err := b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "v")
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// A write that fails on a pooled connection is not retried either, even
// though the same failure makes a read retry: the server may have run it.
func TestTTWriteNotRetriedOnReusedConnection(t *testing.T) {
	b, s := scripted(t, "hash",
		exchange{send: getReq(t, "a"), reply: valueReply("1")},
		exchange{send: putReq(t, "k", "v"), hangUp: true},
		exchange{send: getReq(t, "k"), reply: valueReply("v")},
	)
	ctx := ctxT(t)
	rec, found, err := b.Get(ctx, "", []byte("a"))
	wantValue(t, rec, found, err, "1")
	err = b.Set(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{})
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("put on a connection the server dropped: %v", err)
	}
	// Had the put been sent again, the script would have seen it here.
	rec, found, err = b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "v")
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// A read that fails on a pooled connection the server dropped is retried
// once on a new connection.
func TestTTReadRetriedAfterDroppedConnection(t *testing.T) {
	b, s := scripted(t, "hash",
		exchange{send: getReq(t, "a"), reply: valueReply("1")},
		exchange{send: getReq(t, "b"), hangUp: true},
		exchange{send: getReq(t, "b"), reply: valueReply("2")},
	)
	ctx := ctxT(t)
	rec, found, err := b.Get(ctx, "", []byte("a"))
	wantValue(t, rec, found, err, "1")
	rec, found, err = b.Get(ctx, "", []byte("b"))
	wantValue(t, rec, found, err, "2")
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// An idle connection the server closed is noticed before use.
func TestTTDeadIdleConnectionSkipped(t *testing.T) {
	b, s := scripted(t, "hash",
		exchange{send: putReq(t, "a", "1"), reply: []byte{0}, closeAfter: true},
		exchange{send: putReq(t, "b", "2"), reply: []byte{0}},
	)
	ctx := ctxT(t)
	mustOK(t, b.Set(ctx, "", []byte("a"), []byte("1"), backend.Expiry{}, backend.WriteOptions{}))
	// The write is not retried, so it only succeeds if the dead connection
	// was never used. Wait until the close has reached us.
	mustOK(t, b.WaitIdleClosedForTest(5*time.Second))
	mustOK(t, b.Set(ctx, "", []byte("b"), []byte("2"), backend.Expiry{}, backend.WriteOptions{}))
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestTTTimeoutAndCancel(t *testing.T) {
	s := startScript(t,
		exchange{send: getReq(t, "slow"), stall: true},
		exchange{send: getReq(t, "slow"), stall: true},
		exchange{send: getReq(t, "k"), reply: valueReply("v")},
	)
	b, err := tt.New(s.lis.Addr().String(), tt.Options{Kind: "hash", Timeout: 50 * time.Millisecond})
	mustOK(t, err)
	defer b.Close()
	_, _, err = b.Get(context.Background(), "", []byte("slow"))
	if !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("stalled get: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b2, err := tt.New(s.lis.Addr().String(), tt.Options{Kind: "hash", Timeout: time.Minute})
	mustOK(t, err)
	defer b2.Close()
	done := make(chan error, 1)
	go func() {
		_, _, err := b2.Get(ctx, "", []byte("slow"))
		done <- err
	}()
	<-s.got // the first stalled get
	<-s.got // this one
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled get: %v", err)
	}
	// Nothing of the reply came before the cancel: the connection stays in
	// step, waiting in the background for the late reply (which this
	// server never sends) instead of being closed at once.
	if st := b2.PoolStats(); st.Open != 1 || st.Idle != 0 {
		t.Fatalf("interrupted connection: %+v; want it waiting for the late reply", st)
	}
	rec, found, err := b2.Get(context.Background(), "", []byte("k"))
	wantValue(t, rec, found, err, "v")
}

func TestTTOutOfStepReplyDiscardsConnection(t *testing.T) {
	b, _ := scripted(t, "hash",
		// A get reply whose length runs past the end of what is sent.
		exchange{send: getReq(t, "k"), reply: []byte{0, 0, 0, 0, 9, 'x'}, closeAfter: true},
		exchange{send: getReq(t, "k"), reply: valueReply("v")},
	)
	ctx := ctxT(t)
	// The first attempt fails; being a read on a fresh connection, it is not
	// retried (only pooled connections are suspected of being stale).
	if _, _, err := b.Get(ctx, "", []byte("k")); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("short reply: %v", err)
	}
	rec, found, err := b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "v")
}

// A status byte other than 0 and 1 is never a reply: the connection is out
// of step, the call fails and the connection is not reused.
func TestTTUnknownStatusDiscardsConnection(t *testing.T) {
	b, s := scripted(t, "hash",
		exchange{send: putReq(t, "k", "v"), reply: []byte{2}},
		exchange{send: getReq(t, "k"), reply: valueReply("v")},
	)
	ctx := ctxT(t)
	err := b.Set(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{})
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "out of step") {
		t.Fatalf("put answered 02: %v", err)
	}
	if st := b.PoolStats(); st.Open != 0 {
		t.Fatalf("out-of-step connection kept: %+v", st)
	}
	rec, found, err := b.Get(ctx, "", []byte("k"))
	wantValue(t, rec, found, err, "v")
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestTTServerDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	mustOK(t, err)
	addr := lis.Addr().String()
	mustOK(t, lis.Close())
	u, _ := url.Parse("tt://" + addr + "?kind=hash&connect_timeout=2s")
	b, err := tt.Open(context.Background(), u)
	if err != nil {
		t.Fatalf("Open must not connect: %v", err)
	}
	defer b.Close()
	ctx := ctxT(t)
	if _, _, err := b.Get(ctx, "", []byte("k")); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("get: %v", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("ping: %v", err)
	}
	dbs, err := b.Databases(ctx)
	if err != nil || len(dbs) != 1 || dbs[0].Healthy || dbs[0].Error == "" || dbs[0].Kind != "hash" {
		t.Fatalf("databases: %+v %v", dbs, err)
	}
	if st := b.PoolStats(); st.Open != 0 {
		t.Fatalf("pool: %+v", st)
	}
	mustOK(t, b.Close())
	if _, _, err := b.Get(ctx, "", []byte("k")); !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("after close: %v", err)
	}
}

func TestTTPoolBound(t *testing.T) {
	s := startScript(t,
		exchange{send: getReq(t, "slow"), stall: true},
	)
	b, err := tt.New(s.lis.Addr().String(), tt.Options{Kind: "hash", PoolSize: 1, Timeout: time.Minute})
	mustOK(t, err)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := b.Get(ctx, "", []byte("slow"))
		done <- err
	}()
	<-s.got
	// The only connection is busy: a second call waits for it and gives up
	// with its own deadline, without dialling.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, _, err := b.Get(short, "", []byte("k")); !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("waiting get: %v", err)
	}
	if n := s.connections(); n != 1 {
		t.Fatalf("%d connections with pool=1", n)
	}
	cancel()
	<-done
}

func TestTTValidation(t *testing.T) {
	b, _ := scripted(t, "hash")
	ctx := ctxT(t)
	never := backend.Expiry{}
	ttl := backend.Expiry{TTL: time.Minute}
	k, v := []byte("k"), []byte("v")
	checks := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"db 1", errOf3(b.Get(ctx, "1", k)), backend.ErrInvalid, `db must be empty or "0"`},
		{"db name", b.Set(ctx, "users", k, v, never, backend.WriteOptions{}), backend.ErrInvalid, "one database per server"},
		{"ttl", b.Set(ctx, "", k, v, ttl, backend.WriteOptions{}), backend.ErrUnsupported, "do not expire"},
		{"expire at", errOf(b.Add(ctx, "", k, v, backend.Expiry{At: time.Unix(1e9, 0)})), backend.ErrUnsupported, "do not expire"},
		{"bulk ttl", errOf(b.SetBulk(ctx, "", []backend.Entry{{Key: k, Expiry: ttl}}, backend.WriteOptions{})), backend.ErrUnsupported, "do not expire"},
		{"replace", errOf(b.Replace(ctx, "", k, v, never)), backend.ErrUnsupported, "not be atomic"},
		{"seize", errOf3(b.Seize(ctx, "", k)), backend.ErrUnsupported, "atomically"},
		{"cas", errOf(b.CompareAndSwap(ctx, "", k, v, v, never)), backend.ErrUnsupported, "compare-and-swap"},
		{"delta", errOf3(b.Increment(ctx, "", k, 1<<31, backend.IncrementOptions{})), backend.ErrInvalid, "32-bit"},
		{"must exist", errOf3(b.Increment(ctx, "", k, 1, backend.IncrementOptions{MustExist: true})), backend.ErrUnsupported, "must_exist"},
		{"initial", errOf3(b.Increment(ctx, "", k, 1, backend.IncrementOptions{Initial: ptr(int64(5))})), backend.ErrUnsupported, "initial"},
		{"double initial", errOf3(b.IncrementDouble(ctx, "", k, 1, backend.IncrementDoubleOptions{Initial: ptr(0.5)})), backend.ErrUnsupported, "initial"},
		{"double nan", errOf3(b.IncrementDouble(ctx, "", k, nan(), backend.IncrementDoubleOptions{})), backend.ErrInvalid, "finite"},
		{"regex", errOf(b.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchRegex, Regex: "a"}, 0)), backend.ErrUnsupported, "regex"},
		{"similar", errOf(b.MatchKeys(ctx, "", backend.Match{Kind: backend.MatchSimilar}, 0)), backend.ErrUnsupported, "similar"},
		{"keep_last", b.Append(ctx, "", k, v, never, -1), backend.ErrInvalid, "keep_last"},
		{"sync command", b.Synchronize(ctx, "", false, "backup.sh"), backend.ErrUnsupported, "command"},
		{"ext args", errOf3(b.CallScript(ctx, "f", []backend.Pair{{}, {}}, backend.LockNone)), backend.ErrInvalid, "at most one argument"},
		{"ext lock", errOf3(b.CallScript(ctx, "f", nil, backend.LockMode(7))), backend.ErrInvalid, "lock mode"},
		{"ext name", errOf3(b.CallScript(ctx, strings.Repeat("x", 1024), nil, backend.LockNone)), backend.ErrInvalid, "name size"},
		{"cursor on hash", errOf(b.OpenCursor(ctx, "")), backend.ErrUnsupported, "iterator=shared"},
		{"table on hash", errOf(b.TablePut(ctx, "", k, nil, backend.PutOverwrite)), backend.ErrUnsupported, "not a table"},
		{"setmst port", b.SetMaster(ctx, "h", 70000, 0, false), backend.ErrInvalid, "port"},
		{"misc name", errOf3(b.Misc(ctx, "", "", nil, false)), backend.ErrInvalid, "function name"},
		{"scan limit", b.Scan(ctx, "", backend.ScanOptions{Limit: -1}, nil), backend.ErrInvalid, "limit"},
		{"subscribe db", b.Subscribe(ctx, backend.SubscribeOptions{Filter: backend.Filter{DBs: []string{"0", "users"}}}, nil), backend.ErrInvalid, "one database per server"},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) || !strings.Contains(c.err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %v mentioning %q", c.name, c.err, c.want, c.msg)
		}
	}
}

func TestTTTableValidation(t *testing.T) {
	b, _ := scripted(t, "table")
	ctx := ctxT(t)
	checks := []struct {
		name string
		err  error
		msg  string
	}{
		{"empty key", errOf(b.TablePut(ctx, "", nil, nil, backend.PutOverwrite)), "empty primary key"},
		{"NUL key", errOf(b.TablePut(ctx, "", []byte("a\x00b"), nil, backend.PutOverwrite)), "NUL"},
		{"NUL column", errOf(b.TablePut(ctx, "", []byte("k"), map[string][]byte{"a\x00": nil}, backend.PutOverwrite)), "NUL"},
		{"NUL value", errOf(b.TablePut(ctx, "", []byte("k"), map[string][]byte{"a": {0}}, backend.PutOverwrite)), "NUL"},
		{"mode", errOf(b.TablePut(ctx, "", []byte("k"), nil, backend.PutMode(9))), "mode"},
		{"operator", errOf(b.TableSearch(ctx, "", backend.Query{Conditions: []backend.Condition{{Op: 99}}})), "operator"},
		{"order", errOf(b.TableSearch(ctx, "", backend.Query{HasOrder: true, Order: 99})), "order"},
		{"limit", errOf(b.TableSearch(ctx, "", backend.Query{Limit: -1})), "negative"},
		{"expr NUL", errOf(b.TableSearch(ctx, "", backend.Query{Conditions: []backend.Condition{{Op: backend.CondStrEq, Expr: "a\x00"}}})), "NUL"},
		{"action", errOf(b.TableSearch(ctx, "", backend.Query{Action: 9})), "action"},
	}
	for _, c := range checks {
		if !errors.Is(c.err, backend.ErrInvalid) || !strings.Contains(c.err.Error(), c.msg) {
			t.Errorf("%s: got %v, want ErrInvalid mentioning %q", c.name, c.err, c.msg)
		}
	}
}

func TestTTOpenURL(t *testing.T) {
	good := []string{
		"tt://127.0.0.1:1978",
		"tt://localhost",
		"tt://[::1]:2000/",
		"tt://h:1?pool=2&timeout=1s&connect_timeout=2s&kind=btree&sid=7&repl_timeout=3s&repl_backoff=1s&iterator=shared",
		"tt://h:1?kind=auto&iterator=none",
		"tt://h:1?repl_reconnects=0",
		"tt://h:1?repl_reconnects=100",
		"tt://h:1?timeout=1&repl_backoff=10ms&repl_max_backoff=1s&coalesce=off&coalesce_wait=50us&coalesce_max=32",
	}
	for _, s := range good {
		u, _ := url.Parse(s)
		b, err := tt.Open(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if !strings.HasPrefix(b.Name(), "tt://") {
			t.Errorf("%s: name %q", s, b.Name())
		}
		_ = b.Close()
	}
	bad := map[string]string{
		"kt://h:1":                            "scheme",
		"tt:h":                                "tt://host:port",
		"tt://h:1/db":                         "one database",
		"tt://u:p@h:1":                        "authentication",
		"tt://h:99999":                        "port",
		"tt://h:1?pool=0":                     "pool",
		"tt://h:1?pool=x":                     "pool",
		"tt://h:1?timeout=-1s":                "timeout",
		"tt://h:1?timeout=0":                  "timeout",
		"tt://h:1?kind=tree":                  "kind",
		"tt://h:1?sid=0":                      "sid",
		"tt://h:1?sid=1&sid=2":                "2 times",
		"tt://h:1?nosuch=1":                   "unknown option",
		"tt://h:1?iterator=yes":               "iterator",
		"tt://h:1?repl_reconnects=-1":         "repl_reconnects",
		"tt://h:1?repl_reconnects=x":          "repl_reconnects",
		"tt://h:1?repl_reconnects=9999999999": "repl_reconnects",
	}
	for s, msg := range bad {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tt.Open(context.Background(), u)
		if !errors.Is(err, backend.ErrInvalid) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want ErrInvalid mentioning %q", s, err, msg)
		}
	}
	b, _ := tt.Open(context.Background(), &url.URL{Scheme: "tt", Host: "example.net"})
	if b.Name() != "tt://example.net:1978" {
		t.Errorf("default port: %s", b.Name())
	}
}

func errOf[T any](_ T, err error) error          { return err }
func errOf3[T, U any](_ T, _ U, err error) error { return err }
func ptr[T any](v T) *T                          { return &v }
func nan() float64                               { var z float64; return z / z }

// A call whose deadline passes before the server answers leaves its
// connection in step: the late reply is read in the background and the
// connection kept, so that short deadlines do not churn connections.
func TestTTLateReplyKeepsConnection(t *testing.T) {
	p := faultproxy.Start(t, tttest.Start(t, tttest.WithConfig("tt-hash")).Addr())
	b, err := tt.New(p.Addr(), tt.Options{Kind: "hash", PoolSize: 1, Timeout: 5 * time.Second})
	mustOK(t, err)
	defer b.Close()
	ctx := context.Background()
	mustOK(t, b.Set(ctx, "", []byte("k"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}))
	for range 3 {
		p.SetDelay(50 * time.Millisecond)
		dctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		_, _, err := b.Get(dctx, "", []byte("k"))
		cancel()
		if !errors.Is(err, backend.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get past its deadline: %v", err)
		}
		p.SetDelay(0)
		// With one connection, this Get waits for the late reply to be
		// read, then runs on the same connection.
		rec, found, err := b.Get(ctx, "", []byte("k"))
		wantValue(t, rec, found, err, "v")
	}
	if st := b.PoolStats(); st.Dials != 1 || st.Recovered != 3 {
		t.Errorf("late replies: %+v; want one connection, kept three times", st)
	}
}
