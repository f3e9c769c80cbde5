package kt

import (
	"context"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
)

// A cursor call whose deadline passes before the server answers keeps the
// cursor's connection: these tests (run by the adapter suite, against the
// test server and a real one) hold the reply back with a frozen proxy, so
// that the deadline passes for certain, and let it through afterwards.

// lateEnv is a backend behind a proxy with a cursor at record a, which the
// test closes.
type lateEnv struct {
	*suiteEnv
	p   *faultproxy.Proxy
	b   *Backend
	cur *cursor
}

func (e *suiteEnv) lateCursor(query string) *lateEnv {
	e.t.Helper()
	p := faultproxy.Start(e.t, e.tg.addr)
	b := e.open(p.Addr(), query)
	c, err := b.OpenCursor(e.ctx, "%")
	e.must(err)
	for _, k := range []string{"a", "b", "c"} {
		e.set("%", k, "v"+k, backend.Expiry{})
	}
	l := &lateEnv{suiteEnv: e, p: p, b: b, cur: c.(*cursor)}
	l.wantKey("Jump(a)", l.jump("a"), "a")
	return l
}

func (l *lateEnv) jump(key string) func() ([]byte, bool, error) {
	return func() ([]byte, bool, error) {
		if ok, err := l.cur.Jump(l.ctx, l.key(key)); err != nil || !ok {
			return nil, ok, err
		}
		return l.cur.GetKey(l.ctx, false)
	}
}

// wantKey runs call and checks that it answers key.
func (l *lateEnv) wantKey(what string, call func() ([]byte, bool, error), key string) {
	l.t.Helper()
	got, ok, err := call()
	if err != nil || !ok || string(got) != l.ns+key {
		l.t.Fatalf("%s: key %q ok=%v err=%v; want %q", what, got, ok, err, l.ns+key)
	}
}

// late runs call frozen, under a deadline that therefore passes before the
// reply, and checks the timeout the caller gets.
func (l *lateEnv) late(what string, call func(ctx context.Context) error) {
	l.t.Helper()
	l.p.Freeze()
	ctx, cancel := context.WithTimeout(l.ctx, 20*time.Millisecond)
	defer cancel()
	err := call(ctx)
	wantErr(l.t, what, err, backend.ErrTimeout)
	wantErr(l.t, what, err, context.DeadlineExceeded)
}

func (l *lateEnv) wantStats(what string, dials, recovered, discards int64) {
	l.t.Helper()
	if s := l.b.CursorStats(); s.Dials != dials || s.Recovered != recovered || s.Discards != discards {
		l.t.Errorf("%s: cursor pool %+v; want %d dials, %d recovered, %d discards", what, s, dials, recovered, discards)
	}
}

// nextCursor checks that a new cursor works after the first was closed.
func (l *lateEnv) nextCursor() {
	l.t.Helper()
	c, err := l.b.OpenCursor(l.ctx, "%")
	l.must(err)
	defer c.Close()
	if ok, err := c.Jump(l.ctx, l.key("c")); err != nil || !ok {
		l.t.Fatalf("Jump on the next cursor: %v %v", ok, err)
	}
}

// A Step whose reply comes late moved the server's cursor: the cursor
// refuses to answer from a position its client never learnt until a Jump,
// and all of it happens on the one connection.
func testLateStep(e *suiteEnv) {
	l := e.lateCursor("")
	defer l.cur.Close()
	l.late("Step past its deadline", func(ctx context.Context) error { _, err := l.cur.Step(ctx); return err })
	l.p.Thaw()
	_, _, err := l.cur.GetKey(l.ctx, false)
	wantErr(l.t, "GetKey after a late Step", err, backend.ErrMismatch)
	if err != nil && !strings.Contains(err.Error(), "cur_step") || err != nil && !strings.Contains(err.Error(), "Jump") {
		l.t.Errorf("the error does not say which call moved the cursor and how to go on: %v", err)
	}
	_, err = l.cur.Step(l.ctx)
	wantErr(l.t, "Step after a late Step", err, backend.ErrMismatch)
	l.wantKey("Jump(b) after a late Step", l.jump("b"), "b")
	l.wantKey("GetKey with step", func() ([]byte, bool, error) { return l.cur.GetKey(l.ctx, true) }, "b")
	l.wantKey("GetKey after the step", func() ([]byte, bool, error) { return l.cur.GetKey(l.ctx, false) }, "c")
	l.wantStats("after a late Step", 1, 1, 0)
}

// A late read that does not move the cursor leaves it usable where it was.
func testLateRead(e *suiteEnv) {
	l := e.lateCursor("")
	defer l.cur.Close()
	l.late("GetKey past its deadline", func(ctx context.Context) error { _, _, err := l.cur.GetKey(ctx, false); return err })
	l.p.Thaw()
	l.wantKey("GetKey after a late GetKey", func() ([]byte, bool, error) { return l.cur.GetKey(l.ctx, true) }, "a")
	l.wantKey("GetKey after the step", func() ([]byte, bool, error) { return l.cur.GetKey(l.ctx, false) }, "b")
	l.wantStats("after a late GetKey", 1, 1, 0)
}

// A late reply that never comes costs the connection, and the cursor says
// it is lost, for good.
func testLateDrainFails(e *suiteEnv) {
	l := e.lateCursor("")
	defer l.cur.Close()
	l.late("Step past its deadline", func(ctx context.Context) error { _, err := l.cur.Step(ctx); return err })
	l.p.DropAll()
	l.p.Thaw()
	for range 2 {
		_, _, err := l.cur.GetKey(l.ctx, false)
		wantErr(l.t, "GetKey after the late reply was lost", err, backend.ErrUnavailable)
		if err != nil && (!strings.Contains(err.Error(), "open a new cursor") || !strings.Contains(err.Error(), "late reply to an earlier cur_step")) {
			l.t.Errorf("the error does not say that the cursor is lost, and why: %v", err)
		}
	}
	_, err := l.cur.Jump(l.ctx, nil)
	wantErr(l.t, "Jump after the late reply was lost", err, backend.ErrUnavailable)
	l.wantStats("after a lost late reply", 1, 0, 1)
	if err := l.cur.Close(); err != nil {
		l.t.Errorf("Close of a lost cursor: %v", err)
	}
}

// A call waiting for the late reply ends with its context; the cursor
// stays, and once the reply came it answers on the same connection.
func testLateWaitCancelled(e *suiteEnv) {
	l := e.lateCursor("")
	defer l.cur.Close()
	l.late("GetKey past its deadline", func(ctx context.Context) error { _, _, err := l.cur.GetKey(ctx, false); return err })
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	waited := false
	l.cur.waiting = func() { waited = true; cancel() }
	_, _, err := l.cur.GetKey(ctx, false)
	wantErr(l.t, "GetKey cancelled while waiting for the late reply", err, context.Canceled)
	if !waited {
		l.t.Error("GetKey did not wait for the late reply")
	}
	l.cur.waiting = nil
	l.p.Thaw()
	l.wantKey("GetKey once the late reply came", func() ([]byte, bool, error) { return l.cur.GetKey(l.ctx, false) }, "a")
	l.wantStats("after a cancelled wait", 1, 1, 0)
}

// Close after a late reply deletes the server's cursor and keeps the
// connection for the next cursor.
func testLateClose(e *suiteEnv) {
	l := e.lateCursor("")
	defer l.cur.Close()
	l.late("Step past its deadline", func(ctx context.Context) error { _, err := l.cur.Step(ctx); return err })
	l.p.Thaw()
	l.b.cursorPool.WaitRecovering()
	if err := l.cur.Close(); err != nil {
		l.t.Fatal(err)
	}
	if s := l.b.CursorStats(); s.Open != 1 || s.Idle != 1 {
		l.t.Errorf("after Close: cursor pool %+v; want the connection idle", s)
	}
	l.nextCursor()
	l.wantStats("a second cursor after a late reply", 1, 1, 0)
}

// Close does not wait past its bound for a late reply: it closes the
// connection instead, at once, and the cursor's slot is free.
func testLateCloseGivesUp(e *suiteEnv) {
	l := e.lateCursor("timeout=100ms&cursors=1")
	defer l.p.Thaw()
	l.late("Step past its deadline", func(ctx context.Context) error { _, err := l.cur.Step(ctx); return err })
	if err := l.cur.Close(); err != nil {
		l.t.Fatal(err)
	}
	if s := l.b.CursorStats(); s.Open != 0 || s.Discards != 1 || s.Recovered != 0 {
		l.t.Errorf("after Close gave up on the late reply: cursor pool %+v; want its connection closed", s)
	}
	l.p.Thaw()
	l.nextCursor()
}
