package server_test

import (
	"context"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// fake is a backend with every optional interface. Methods the tests do not
// configure panic through the nil embedded Backend, which the recovery
// interceptor must turn into Internal.
type fake struct {
	backend.Backend

	mu      sync.Mutex
	calls   []any         // the arguments of the optional calls, in order
	pingErr error         // what Ping returns
	block   chan struct{} // Get waits on it when set
	entered chan struct{} // Get closes it when it starts waiting
	updates chan backend.Update
	scan    []backend.Record
	// cursorClosed is closed by the cursor's Close.
	cursorClosed chan struct{}
	// subscribeDone, when set, is closed as Subscribe returns.
	subscribeDone chan struct{}
	// scanDone, when set, makes Scan hand f.scan to fn again and again
	// until fn fails, then receive fn's error.
	scanDone chan error
}

func (f *fake) record(call any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fake) lastCall() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return nil
	}
	return f.calls[len(f.calls)-1]
}

func (f *fake) Name() string { return "fake://test" }

// Capabilities lists every capability: the fake has every optional
// interface.
func (f *fake) Capabilities() []backend.Capability { return backend.AllCapabilities() }

func (f *fake) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pingErr
}

func (f *fake) setPingErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pingErr = err
}

func (f *fake) Get(ctx context.Context, db string, key []byte) (backend.Record, bool, error) {
	if f.block != nil {
		close(f.entered)
		<-f.block
		return backend.Record{}, false, nil
	}
	f.record(getCall{db, string(key)})
	return backend.Record{Key: key, Value: []byte("v")}, true, nil
}

type getCall struct{ db, key string }

// Subscribe delivers what the test puts on f.updates.
func (f *fake) Subscribe(ctx context.Context, opts backend.SubscribeOptions, fn func(backend.Update) error) error {
	f.record(opts)
	if f.subscribeDone != nil {
		defer close(f.subscribeDone)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u := <-f.updates:
			if err := fn(u); err != nil {
				return err
			}
		}
	}
}

type scriptCall struct {
	name string
	args []backend.Pair
	lock backend.LockMode
}

func (f *fake) CallScript(ctx context.Context, name string, args []backend.Pair, lock backend.LockMode) ([]backend.Pair, bool, error) {
	f.record(scriptCall{name, args, lock})
	if name == "fail" {
		return nil, false, nil
	}
	return []backend.Pair{{Key: []byte("out"), Value: []byte(name)}}, true, nil
}

type tablePutCall struct {
	db   string
	key  string
	cols map[string][]byte
	mode backend.PutMode
}

func (f *fake) TablePut(ctx context.Context, db string, key []byte, cols map[string][]byte, mode backend.PutMode) (bool, error) {
	f.record(tablePutCall{db, string(key), cols, mode})
	return mode != backend.PutKeep, nil
}

func (f *fake) TableGet(ctx context.Context, db string, key []byte) (map[string][]byte, bool, error) {
	f.record(getCall{db, string(key)})
	if string(key) == "missing" {
		return nil, false, nil
	}
	return map[string][]byte{"name": []byte("x")}, true, nil
}

func (f *fake) TableSearch(ctx context.Context, db string, q backend.Query) (backend.SearchResult, error) {
	f.record(q)
	return backend.SearchResult{
		Keys:  [][]byte{[]byte("a")},
		Rows:  []backend.Row{{Key: []byte("a"), Columns: map[string][]byte{"c": []byte("1")}}},
		Count: 7,
	}, nil
}

type setIndexCall struct {
	column string
	typ    backend.IndexType
	keep   bool
}

func (f *fake) TableSetIndex(ctx context.Context, db string, column string, typ backend.IndexType, keep bool) (bool, error) {
	f.record(setIndexCall{column, typ, keep})
	return true, nil
}

func (f *fake) TableGenerateID(ctx context.Context, db string) (int64, error) { return 42, nil }

type optimizeCall struct{ db, params string }
type copyCall struct{ db, path string }
type restoreCall struct {
	db, path string
	pos      uint64
	check    bool
}
type masterCall struct {
	host  string
	port  int
	pos   uint64
	check bool
}
type miscCall struct {
	db, name string
	args     [][]byte
	noLog    bool
}
type tuneCall struct {
	host     string
	port     int
	pos      uint64
	interval time.Duration
}
type removeLogsCall struct{ before *uint64 }

func (f *fake) Optimize(ctx context.Context, db, params string) error {
	f.record(optimizeCall{db, params})
	return nil
}

func (f *fake) Copy(ctx context.Context, db, path string) error {
	f.record(copyCall{db, path})
	return nil
}

func (f *fake) Restore(ctx context.Context, db, path string, pos uint64, check bool) error {
	f.record(restoreCall{db, path, pos, check})
	return nil
}

func (f *fake) SetMaster(ctx context.Context, host string, port int, pos uint64, check bool) error {
	f.record(masterCall{host, port, pos, check})
	return nil
}

func (f *fake) Misc(ctx context.Context, db, name string, args [][]byte, noLog bool) ([][]byte, bool, error) {
	f.record(miscCall{db, name, args, noLog})
	return [][]byte{[]byte("r1")}, true, nil
}

func (f *fake) TuneReplication(ctx context.Context, host string, port int, pos uint64, interval time.Duration) error {
	f.record(tuneCall{host, port, pos, interval})
	return nil
}

func (f *fake) ListUpdateLogs(ctx context.Context) ([]backend.UpdateLogFile, error) {
	return []backend.UpdateLogFile{{Path: "/ulog/0001.ulog", Size: 10, MaxPosition: 99}}, nil
}

func (f *fake) RemoveUpdateLogs(ctx context.Context, before *uint64) error {
	f.record(removeLogsCall{before})
	return nil
}

// Scan hands f.scan to fn as one batch (or, with scanDone, endlessly),
// ignoring the options but recording them.
func (f *fake) Scan(ctx context.Context, db string, opts backend.ScanOptions, fn func([]backend.Record) error) error {
	f.record(opts)
	if f.scanDone == nil {
		return fn(f.scan)
	}
	for {
		if err := fn(f.scan); err != nil {
			f.scanDone <- err
			return err
		}
	}
}

// OpenCursor returns a cursor that reports its Close on f.cursorClosed.
func (f *fake) OpenCursor(ctx context.Context, db string) (backend.Cursor, error) {
	f.record(getCall{db: db})
	return &fakeCursor{closed: f.cursorClosed}, nil
}

type fakeCursor struct {
	backend.Cursor
	closed chan struct{}
}

func (c *fakeCursor) Jump(ctx context.Context, key []byte) (bool, error) { return true, nil }

func (c *fakeCursor) Close() error {
	close(c.closed)
	return nil
}
