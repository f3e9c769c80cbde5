package kt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool/pooltest"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/test/kttest"
)

// openTapped opens a Backend on srv whose pool dials through a tap.
func openTapped(t *testing.T, addr, query string) (*Backend, *pooltest.Tap) {
	t.Helper()
	b := mustOpen(t, "kt://"+addr+"?"+query)
	tp := &pooltest.Tap{}
	b.pool = connpool.New(connpool.Config{Addr: b.addr, Size: b.opts.Pool, ConnectTimeout: b.opts.ConnectTimeout, Dial: tp.Dial, Lost: &b.lost})
	t.Cleanup(func() { _ = b.Close() })
	return b, tp
}

// Gets and Sets that arrive while a request is in flight go out together,
// in one get_bulk or set_bulk, and each caller gets its own answer: its
// record, its expiration, or not found.
func TestKTCoalescingMerges(t *testing.T) {
	srv := kttest.Start(t)
	b, tp := openTapped(t, srv.Addr(), "coalesce=on&coalesce_wait=1h&pool=4")
	ctx := t.Context()
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := b.Set(ctx, "", []byte("k0"), []byte("v0"), backend.Expiry{}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "", []byte("k2"), []byte("v2"), backend.Expiry{At: at}, backend.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Sets: one goes out and is held; eight queue behind it.
	before := tp.Writes()
	entered, release := tp.Hold()
	errs := make(chan error, 9)
	go func() {
		errs <- b.Set(ctx, "", []byte("s0"), []byte("x0"), backend.Expiry{}, backend.WriteOptions{})
	}()
	<-entered
	for i := 1; i <= 8; i++ {
		go func() {
			errs <- b.Set(ctx, "", fmt.Appendf(nil, "s%d", i), fmt.Appendf(nil, "x%d", i), backend.Expiry{}, backend.WriteOptions{})
		}()
	}
	pooltest.WaitPending(b.sets, 8)
	release()
	for range 9 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := tp.Writes() - before; n != 2 {
		t.Errorf("nine Sets took %d requests, want 2 (one alone, eight merged)", n)
	}

	// Gets: found, found with an expiration, missing, and a key twice.
	keys := []string{"k0", "s3", "k2", "missing", "k0", "s8", "nope"}
	type answer struct {
		rec   backend.Record
		found bool
		err   error
	}
	answers := make([]chan answer, len(keys))
	for i := range answers {
		answers[i] = make(chan answer, 1)
	}
	before = tp.Writes()
	entered, release = tp.Hold()
	get := func(i int) {
		rec, found, err := b.Get(ctx, "", []byte(keys[i]))
		answers[i] <- answer{rec, found, err}
	}
	go get(0)
	<-entered
	for i := 1; i < len(keys); i++ {
		go get(i)
	}
	pooltest.WaitPending(b.gets, len(keys)-1)
	release()
	want := map[string]string{"k0": "v0", "s3": "x3", "k2": "v2", "s8": "x8"}
	for i, k := range keys {
		a := <-answers[i]
		if a.err != nil {
			t.Fatalf("Get %s: %v", k, a.err)
		}
		v, ok := want[k]
		if a.found != ok || string(a.rec.Value) != v || (ok && string(a.rec.Key) != k) {
			t.Errorf("Get %s: %q found=%v, want %q found=%v", k, a.rec.Value, a.found, v, ok)
		}
		if wantAt := k == "k2"; wantAt != !a.rec.ExpireTime.IsZero() || (wantAt && !a.rec.ExpireTime.Equal(at)) {
			t.Errorf("Get %s: expire time %v", k, a.rec.ExpireTime)
		}
	}
	if n := tp.Writes() - before; n != 2 {
		t.Errorf("seven Gets took %d requests, want 2", n)
	}
	if st := b.gets.Stats(); st.Batches != 1 || st.Merged != int64(len(keys)-1) {
		t.Errorf("get batches: %+v", st)
	}
}

// A caller that gives up while its call is queued gets its own context's
// error at once and its write is never sent; one that gives up while its
// batch is in flight leaves the others' answers alone.
func TestKTCoalescingCancellationIsolated(t *testing.T) {
	srv := kttest.Start(t)
	b, tp := openTapped(t, srv.Addr(), "coalesce=on&coalesce_wait=1h&pool=4")
	ctx := t.Context()

	entered, release := tp.Hold()
	errs := make(chan error, 4)
	go func() { errs <- b.Set(ctx, "", []byte("a"), []byte("1"), backend.Expiry{}, backend.WriteOptions{}) }()
	<-entered
	for _, k := range []string{"b", "c"} {
		go func() { errs <- b.Set(ctx, "", []byte(k), []byte("1"), backend.Expiry{}, backend.WriteOptions{}) }()
	}
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() {
		gone <- b.Set(cctx, "", []byte("cancelled"), []byte("1"), backend.Expiry{}, backend.WriteOptions{})
	}()
	pooltest.WaitPending(b.sets, 3)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled Set: %v, want context.Canceled", err)
	}
	pooltest.WaitPending(b.sets, 2)
	release()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("a Set beside the cancelled one: %v", err)
		}
	}
	if _, found, err := b.Get(ctx, "", []byte("cancelled")); err != nil || found {
		t.Errorf("the Set cancelled while queued was sent: found=%v err=%v", found, err)
	}

	// Cancelled in flight: the batch's request is held.
	entered, release = tp.Hold()
	answers := make(chan error, 2)
	go func() { _, _, err := b.Get(ctx, "", []byte("a")); answers <- err }()
	<-entered
	cctx, cancel = context.WithCancel(ctx)
	go func() { _, _, err := b.Get(cctx, "", []byte("b")); gone <- err }()
	found := make(chan bool, 1)
	go func() {
		_, ok, err := b.Get(ctx, "", []byte("c"))
		answers <- err
		found <- ok
	}()
	pooltest.WaitPending(b.gets, 2)
	held, releaseBatch := tp.Hold()
	release()
	<-held // the batch of b and c is being written
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the Get cancelled in flight: %v, want context.Canceled", err)
	}
	releaseBatch()
	for range 2 {
		if err := <-answers; err != nil {
			t.Fatalf("a Get beside the cancelled one: %v", err)
		}
	}
	if !<-found {
		t.Error("the Get merged with a cancelled one lost its record")
	}
}

// pipeServer is a scripted server on net.Pipe: it reads each request of a
// known size and answers what the test sends on replies.
type pipeServer struct {
	reqs    chan []byte
	replies chan []byte
}

func (s *pipeServer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		for {
			n, ok := <-s.replies // the size of the next request, then its reply
			if !ok {
				return
			}
			req := make([]byte, len(n))
			if _, err := io.ReadFull(server, req); err != nil {
				return
			}
			s.reqs <- req
			if _, err := server.Write(<-s.replies); err != nil {
				return
			}
		}
	}()
	return client, nil
}

// A set_bulk that stores fewer records than it carried cannot say whose
// write failed: every merged caller gets ErrUnavailable, never success;
// 0xBF likewise.
func TestKTCoalescedSetOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte
	}{
		{"partial count", ktwire.AppendCountReply(nil, ktwire.MagicSetBulk, 2)},
		{"0xBF", []byte{0xBF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustOpen(t, "kt://127.0.0.1:1?coalesce=on&coalesce_wait=1h&pool=1")
			defer b.Close()
			srv := &pipeServer{reqs: make(chan []byte, 4), replies: make(chan []byte)}
			b.pool = connpool.New(connpool.Config{Addr: "pipe", Size: 1, Dial: srv.dial, Lost: &b.lost})
			rec := func(k string) ktwire.Record {
				return ktwire.Record{Key: []byte(k), Value: []byte("v"), XT: ktwire.XTNever}
			}
			one := ktwire.AppendSetBulk(nil, 0, []ktwire.Record{rec("a")})
			three := ktwire.AppendSetBulk(nil, 0, []ktwire.Record{rec("b"), rec("c"), rec("d")})
			ctx := t.Context()
			errs := make(chan error, 4)
			go func() { errs <- b.Set(ctx, "", []byte("a"), []byte("v"), backend.Expiry{}, backend.WriteOptions{}) }()
			srv.replies <- one // the lone Set's size
			<-srv.reqs
			for _, k := range []string{"b", "c", "d"} {
				go func() { errs <- b.Set(ctx, "", []byte(k), []byte("v"), backend.Expiry{}, backend.WriteOptions{}) }()
			}
			pooltest.WaitPending(b.sets, 3)
			srv.replies <- ktwire.AppendCountReply(nil, ktwire.MagicSetBulk, 1)
			if err := <-errs; err != nil {
				t.Fatalf("the lone Set: %v", err)
			}
			srv.replies <- three
			<-srv.reqs
			srv.replies <- tc.reply
			for range 3 {
				if err := <-errs; !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("a merged Set whose outcome is unknown: %v, want ErrUnavailable", err)
				}
			}
			close(srv.replies)
		})
	}
}

// Calls to several databases merge too: each record carries its database,
// and the calls resolved from a database list go out apart from those to
// database 0, so that a changed list fails only the calls that named it.
func TestKTCoalescingAcrossDatabases(t *testing.T) {
	srv := kttest.Start(t)
	b, tp := openTapped(t, srv.Addr(), "coalesce=on&coalesce_wait=1h&pool=4")
	ctx := t.Context()
	for _, db := range []string{"", "1"} {
		if err := b.Set(ctx, db, []byte("k"), []byte("in "+db), backend.Expiry{}, backend.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before := tp.Writes()
	entered, release := tp.Hold()
	type answer struct {
		db, value string
		err       error
	}
	answers := make(chan answer, 5)
	get := func(db string) {
		rec, _, err := b.Get(ctx, db, []byte("k"))
		answers <- answer{db, string(rec.Value), err}
	}
	go get("")
	<-entered
	for _, db := range []string{"1", "", "%", "1"} {
		go get(db)
	}
	pooltest.WaitPending(b.gets, 4)
	release()
	for range 5 {
		a := <-answers
		want := "in "
		if a.db == "1" || a.db == "%" {
			want = "in 1"
		}
		if a.err != nil || a.value != want {
			t.Errorf("Get in %q: %q %v, want %q", a.db, a.value, a.err, want)
		}
	}
	if n := tp.Writes() - before; n != 3 {
		t.Errorf("five Gets took %d requests, want 3 (one alone, one per database list)", n)
	}
}
