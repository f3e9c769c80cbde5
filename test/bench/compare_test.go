package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/dial"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/faultproxy"
)

// The workload of BenchmarkCompare: 10,000 keys of 100-byte values under
// a prefix of its own (real servers keep their other records), bulk calls
// of 100 keys, at 1, 16 and 64 concurrent callers on one connection.
const (
	cmpKeys   = 10000
	cmpValue  = 100
	cmpBulk   = 100
	cmpPrefix = "ktgrpc-bench:"
)

var cmpConcurrency = []int{1, 16, 64}

// Environment of BenchmarkCompare (see docs/performance.md).
const (
	// envQueries lists backend URL queries, separated by ";", appended to
	// every kt:// and tt:// backend; each is a run of its own ("" is the
	// URL as is), for example "coalesce=off;coalesce=on".
	envQueries = "KTGRPC_BENCH_QUERY"
	// envDelay is the latency the delaying proxy adds to every chunk in
	// each direction (default 200µs; 0 leaves the delayed runs out).
	envDelay = "KTGRPC_BENCH_DELAY"
)

// cmpRow is one measured path.
type cmpRow struct {
	path    string // what was called
	backend string // on what
	c       int    // concurrent callers (requests in flight for a pipeline)
	records int    // records per request

	opsPerSec, p50, p99 float64 // requests/s, µs
	// CPU µs per request of the gateway, of this process (the gRPC client,
	// or the adapter for the direct rows) and of the backend server; -1
	// when not measured.
	gatewayCPU, clientCPU, backendCPU float64
	// Allocations per request in the gateway and in this process.
	gatewayAllocs, clientAllocs float64
}

// cmpResults collects the rows in the order they ran; a sub-benchmark run
// again with a larger b.N replaces its row.
type cmpResults struct {
	mu    sync.Mutex
	order []string
	rows  map[string]*cmpRow
	mem   []memRow
}

// memRow is the gateway's memory in bytes with subs Subscribe streams and
// cursors open cursors, and its RSS before they were opened.
type memRow struct {
	backend                  string
	subs, cursors            int
	rss, heap, stks, idleRSS float64
}

func (r *cmpResults) put(row *cmpRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%s|%s|%d", row.path, row.backend, row.c)
	if _, ok := r.rows[key]; !ok {
		r.order = append(r.order, key)
	}
	r.rows[key] = row
}

func (r *cmpResults) get(path, backend string, c int) *cmpRow {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rows[fmt.Sprintf("%s|%s|%d", path, backend, c)]
}

// Path names, as the table prints them.
const (
	pathBare       = "bare grpc-go unary (health Check)"
	pathGet        = "gateway KV.Get"
	pathSet        = "gateway KV.Set"
	pathGetBulk    = "gateway KV.GetBulk 100"
	pathSetBulk    = "gateway KV.SetBulk 100"
	pathPipeline   = "gateway KV.Pipeline Get, one stream"
	pathDirectGet  = "adapter Get, no gRPC"
	pathDirectSet  = "adapter Set, no gRPC"
	pathDirectGB   = "adapter GetBulk 100, no gRPC"
	pathDirectSB   = "adapter SetBulk 100, no gRPC"
	pathWireGet    = "direct binary get (1 key), one connection per caller"
	memGoalMiB     = 64
	defaultDelayUs = 200
)

// BenchmarkCompare measures, side by side in one run, the bare gRPC unary
// floor, the gateway's KV calls on each backend, the adapters' calls
// without gRPC, a raw binary get on the wire and KV.Pipeline, at 1, 16 and
// 64 concurrent callers, then prints a table and the ratios the
// performance goals name. The gateway and the test servers run as
// processes of their own so that each one's CPU time per request is
// measured apart. `make bench-compare` runs it.
func BenchmarkCompare(b *testing.B) {
	res := &cmpResults{rows: map[string]*cmpRow{}}
	queries := []string{""}
	if q, ok := os.LookupEnv(envQueries); ok {
		queries = strings.Split(q, ";")
	}
	delay := defaultDelayUs * time.Microsecond
	if s := os.Getenv(envDelay); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("%s=%q: %v", envDelay, s, err)
		}
		delay = d
	}

	// The embedded store, in the gateway's own process, and the floor.
	gw := startChild(b, "gateway", childBackend+"=embedded:")
	conn := dialGateway(b, gw.addr)
	preload(b, conn)
	health := healthpb.NewHealthClient(conn)
	runRows(b, res, pathBare, "embedded", 1, gw, nil, func(ctx context.Context, _ int) error {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	})
	gatewayRows(b, res, "embedded", gw, nil, conn)
	gw.stop()
	for _, name := range []string{"embedded", "kttest"} {
		res.mem = append(res.mem, memoryRun(b, name, 1000, 1000))
	}

	for _, q := range queries {
		for _, kind := range []string{"kt", "tt"} {
			srv := startChild(b, kind+"test")
			backendGroup(b, res, kind, kind+"test", srv, q)
			srv.stop()
		}
		if addr := os.Getenv("KT_ADDR"); addr != "" {
			backendGroup(b, res, "kt", "kt-real", externalServer("kt-real", addr, "KT_PID"), q)
		}
		if addr := os.Getenv("TT_ADDR"); addr != "" {
			backendGroup(b, res, "tt", "tt-real", externalServer("tt-real", addr, "TT_PID"), q)
		}
		if delay > 0 {
			srv := startChild(b, "kttest")
			proxy := faultproxy.Start(b, srv.addr)
			proxy.SetDelay(delay)
			delayedGroup(b, res, fmt.Sprintf("kttest+%v", delay), srv, proxy.Addr(), q)
			srv.stop()
		}
	}
	printTable(os.Stdout, res, queries)
}

// label names a backend with its URL query.
func label(name, query string) string {
	if query == "" {
		return name
	}
	return name + "?" + query
}

func backendURL(kind, addr, query string) string {
	u := url.URL{Scheme: kind, Host: addr, RawQuery: query}
	return u.String()
}

// backendGroup measures everything on one KT or TT server: through a
// gateway, through the adapter in this process, and on the wire.
func backendGroup(b *testing.B, res *cmpResults, kind, name string, srv *child, query string) {
	name = label(name, query)
	gw := startChild(b, "gateway", childBackend+"="+backendURL(kind, srv.addr, query))
	conn := dialGateway(b, gw.addr)
	preload(b, conn)
	gatewayRows(b, res, name, gw, srv, conn)
	gw.stop()

	be, err := dial.Open(context.Background(), backendURL(kind, srv.addr, query))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	directRows(b, res, name, srv, be)
	wireRows(b, res, kind, name, srv)
	if strings.HasSuffix(name, "-real") {
		// Leave the shared server as it was, but for the update log.
		for i := 0; i < cmpKeys; i += 1000 {
			if _, err := be.RemoveBulk(context.Background(), "", benchKeys()[i:i+1000], false); err != nil {
				b.Errorf("removing the benchmark's keys from %s: %v", name, err)
			}
		}
	}
}

// delayedGroup measures Get behind a proxy that delays every chunk, where
// merging round trips matters most.
func delayedGroup(b *testing.B, res *cmpResults, name string, srv *child, proxyAddr, query string) {
	name = label(name, query)
	gw := startChild(b, "gateway", childBackend+"="+backendURL("kt", proxyAddr, query))
	conn := dialGateway(b, gw.addr)
	preload(b, conn)
	kv := ktgrpcv1.NewKVClient(conn)
	reqs := getRequests()
	runRows(b, res, pathGet, name, 1, gw, srv, func(ctx context.Context, i int) error {
		return wantFound(kv.Get(ctx, reqs[i%cmpKeys]))
	})
	pipelineRows(b, res, name, gw, srv, conn)
	gw.stop()
	be, err := dial.Open(context.Background(), backendURL("kt", proxyAddr, query))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	keys := benchKeys()
	runRows(b, res, pathDirectGet, name, 1, nil, srv, func(ctx context.Context, i int) error {
		_, found, err := be.Get(ctx, "", keys[i%cmpKeys])
		return foundErr(found, err)
	})
}

// gatewayRows measures the KV calls through the gateway on conn.
func gatewayRows(b *testing.B, res *cmpResults, name string, gw, srv *child, conn *grpc.ClientConn) {
	kv := ktgrpcv1.NewKVClient(conn)
	gets, sets := getRequests(), setRequests()
	getBulks, setBulks := getBulkRequests(), setBulkRequests()
	runRows(b, res, pathGet, name, 1, gw, srv, func(ctx context.Context, i int) error {
		return wantFound(kv.Get(ctx, gets[i%cmpKeys]))
	})
	runRows(b, res, pathSet, name, 1, gw, srv, func(ctx context.Context, i int) error {
		_, err := kv.Set(ctx, sets[i%cmpKeys])
		return err
	})
	runRows(b, res, pathGetBulk, name, cmpBulk, gw, srv, func(ctx context.Context, i int) error {
		resp, err := kv.GetBulk(ctx, getBulks[i%len(getBulks)])
		if err == nil && len(resp.GetRecords()) != cmpBulk {
			err = fmt.Errorf("GetBulk found %d of %d records", len(resp.GetRecords()), cmpBulk)
		}
		return err
	})
	runRows(b, res, pathSetBulk, name, cmpBulk, gw, srv, func(ctx context.Context, i int) error {
		_, err := kv.SetBulk(ctx, setBulks[i%len(setBulks)])
		return err
	})
	pipelineRows(b, res, name, gw, srv, conn)
}

// pipelineRows measures Gets spread by the Go client over one KV.Pipeline
// stream: c callers keep c requests in flight on it.
func pipelineRows(b *testing.B, res *cmpResults, name string, gw, srv *child, conn *grpc.ClientConn) {
	keys := make([]string, cmpKeys)
	for i := range keys {
		keys[i] = string(benchKey(i))
	}
	for _, c := range cmpConcurrency {
		b.Run(rowName(pathPipeline, name, c), func(b *testing.B) {
			p, err := ktgrpc.New(conn).Pipeline(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			res.put(measure(b, pathPipeline, name, c, 1, gw, srv, func(ctx context.Context, i int) error {
				_, err := p.Get(ctx, keys[i%cmpKeys])
				return err
			}))
		})
	}
}

// directRows measures the adapter's calls in this process, without gRPC.
func directRows(b *testing.B, res *cmpResults, name string, srv *child, be backend.Backend) {
	keys := benchKeys()
	value := make([]byte, cmpValue)
	entries := make([]backend.Entry, cmpKeys)
	for i, k := range keys {
		entries[i] = backend.Entry{Key: k, Value: value}
	}
	runRows(b, res, pathDirectGet, name, 1, nil, srv, func(ctx context.Context, i int) error {
		_, found, err := be.Get(ctx, "", keys[i%cmpKeys])
		return foundErr(found, err)
	})
	runRows(b, res, pathDirectSet, name, 1, nil, srv, func(ctx context.Context, i int) error {
		return be.Set(ctx, "", keys[i%cmpKeys], value, backend.Expiry{}, backend.WriteOptions{})
	})
	runRows(b, res, pathDirectGB, name, cmpBulk, nil, srv, func(ctx context.Context, i int) error {
		j := i * cmpBulk % cmpKeys
		recs, err := be.GetBulk(ctx, "", keys[j:j+cmpBulk], false)
		if err == nil && len(recs) != cmpBulk {
			err = fmt.Errorf("GetBulk found %d of %d records", len(recs), cmpBulk)
		}
		return err
	})
	runRows(b, res, pathDirectSB, name, cmpBulk, nil, srv, func(ctx context.Context, i int) error {
		j := i * cmpBulk % cmpKeys
		_, err := be.SetBulk(ctx, "", entries[j:j+cmpBulk], backend.WriteOptions{})
		return err
	})
}

// wireRows measures a single-key get written straight on the wire, each
// caller on a connection of its own: the server's own cost per get, the
// yardstick for coalescing and pipelining.
func wireRows(b *testing.B, res *cmpResults, kind, name string, srv *child) {
	keys := benchKeys()
	for _, c := range cmpConcurrency {
		b.Run(rowName(pathWireGet, name, c), func(b *testing.B) {
			// One connection per caller: a caller takes one for its call
			// and puts it back, so none ever waits.
			pool := make(chan *wireConn, c)
			for range c {
				nc, err := net.Dial("tcp", srv.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				pool <- &wireConn{c: nc, r: bufio.NewReader(nc)}
			}
			res.put(measure(b, pathWireGet, name, c, 1, nil, srv, func(_ context.Context, i int) error {
				wc := <-pool
				defer func() { pool <- wc }()
				if kind == "kt" {
					return wc.ktGet(keys[i%cmpKeys])
				}
				return wc.ttGet(keys[i%cmpKeys])
			}))
		})
	}
}

// wireConn is a connection to a KT or TT server, used by one caller at a
// time.
type wireConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func (w *wireConn) ktGet(key []byte) error {
	w.buf = ktwire.AppendGetBulk(w.buf[:0], []ktwire.KeyRef{{Key: key}})
	if _, err := w.c.Write(w.buf); err != nil {
		return err
	}
	recs, err := ktwire.ReadGetBulkReply(w.r)
	if err == nil && len(recs) != 1 {
		err = fmt.Errorf("get_bulk of one key found %d records", len(recs))
	}
	return err
}

func (w *wireConn) ttGet(key []byte) error {
	var err error
	if w.buf, err = ttwire.AppendRequest(w.buf[:0], &ttwire.Request{Cmd: ttwire.CmdGet, Key: key}); err != nil {
		return err
	}
	if _, err := w.c.Write(w.buf); err != nil {
		return err
	}
	rep, err := ttwire.ReadReply(w.r, ttwire.CmdGet)
	if err == nil && !rep.OK() {
		err = fmt.Errorf("get answered status %d", rep.Status)
	}
	return err
}

func rowName(path, backend string, c int) string {
	short := strings.NewReplacer(" ", "", ",", "", "(", "", ")", "").Replace(path)
	return fmt.Sprintf("%s/%s/c=%d", backend, short, c)
}

// runRows measures op at every concurrency.
func runRows(b *testing.B, res *cmpResults, path, name string, records int, gw, srv *child, op func(ctx context.Context, i int) error) {
	for _, c := range cmpConcurrency {
		b.Run(rowName(path, name, c), func(b *testing.B) {
			res.put(measure(b, path, name, c, records, gw, srv, op))
		})
	}
}

// measure runs op b.N times from c goroutines and reports throughput,
// latency quantiles, CPU time and allocations per request.
func measure(b *testing.B, path, name string, c, records int, gw, srv *child, op func(ctx context.Context, i int) error) *cmpRow {
	ctx := context.Background()
	lat := make([][]time.Duration, c)
	for w := range lat {
		lat[w] = make([]time.Duration, 0, b.N/c+1)
	}
	// A first request that dials a connection or starts a server worker
	// must not be the one the benchmark times and scales b.N from.
	var warm sync.WaitGroup
	for w := range c {
		warm.Add(1)
		go func() {
			defer warm.Done()
			for i := range 2 {
				if err := op(ctx, 2*w+i); err != nil {
					b.Errorf("%s on %s, warming up: %v", path, name, err)
					return
				}
			}
		}()
	}
	warm.Wait()
	if b.Failed() {
		b.FailNow()
	}
	var (
		gwMem0   memStats
		ms0, ms1 runtime.MemStats
	)
	if gw != nil {
		gwMem0 = gw.mem(b)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	self0, gw0, srv0 := cpuTime(), gw.cpu(b), srv.cpu(b)
	var (
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					next.Store(int64(b.N))
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	self1, gw1, srv1 := cpuTime(), gw.cpu(b), srv.cpu(b)
	runtime.ReadMemStats(&ms1)
	if err := failed.Load(); err != nil {
		b.Fatalf("%s on %s: %v", path, name, *err)
	}
	n := float64(b.N)
	perReq := func(d0, d1 time.Duration) float64 {
		if d0 < 0 || d1 < 0 {
			return -1
		}
		return float64((d1 - d0).Nanoseconds()) / 1e3 / n
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(f float64) float64 {
		return float64(all[min(int(f*float64(len(all))), len(all)-1)].Nanoseconds()) / 1e3
	}
	row := &cmpRow{
		path: path, backend: name, c: c, records: records,
		opsPerSec:     n / elapsed.Seconds(),
		p50:           q(0.5),
		p99:           q(0.99),
		gatewayCPU:    perReq(gw0, gw1),
		clientCPU:     perReq(self0, self1),
		backendCPU:    perReq(srv0, srv1),
		gatewayAllocs: -1,
		clientAllocs:  float64(ms1.Mallocs-ms0.Mallocs) / n,
	}
	if gw != nil {
		row.gatewayAllocs = float64(gw.mem(b).mallocs-gwMem0.mallocs) / n
	}
	b.ReportMetric(row.opsPerSec, "ops/s")
	b.ReportMetric(row.p50, "p50-µs")
	b.ReportMetric(row.p99, "p99-µs")
	for _, m := range []struct {
		v    float64
		unit string
	}{{row.gatewayCPU, "gw-cpu-µs/op"}, {row.clientCPU, "client-cpu-µs/op"}, {row.backendCPU, "backend-cpu-µs/op"}, {row.gatewayAllocs, "gw-allocs/op"}, {row.clientAllocs, "client-allocs/op"}} {
		if m.v >= 0 {
			b.ReportMetric(m.v, m.unit)
		}
	}
	return row
}

// measureMemory opens subs Subscribe streams and cursors Cursor.Open
// streams (each with its cursor open) on the gateway child gw, spread over
// connections that stay within the per-connection cursor limit, and reads
// the gateway's memory with all of them open.
func measureMemory(tb testing.TB, gw *child, name string, subs, cursors int) memRow {
	tb.Helper()
	const perConn = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	connFor := func(i int) *grpc.ClientConn {
		for len(conns) <= i/perConn {
			conns = append(conns, dialGateway(tb, gw.addr))
		}
		return conns[i/perConn]
	}
	for i := range subs {
		st, err := ktgrpcv1.NewReplicationClient(connFor(i)).Subscribe(ctx, &ktgrpcv1.SubscribeRequest{Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			tb.Fatalf("subscriber %d: %v", i, err)
		}
	}
	for i := range cursors {
		st, err := ktgrpcv1.NewCursorClient(connFor(i)).Open(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.Send(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_JUMP}); err != nil {
			tb.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			tb.Fatalf("cursor %d: %v", i, err)
		}
	}
	m := gw.mem(tb)
	return memRow{backend: name, subs: subs, cursors: cursors, rss: m.rss, heap: m.heap, stks: m.stacks}
}

func dialGateway(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "%s%05d", cmpPrefix, i) }

func benchKeys() [][]byte {
	keys := make([][]byte, cmpKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	return keys
}

// preload stores every key through the gateway.
func preload(tb testing.TB, conn *grpc.ClientConn) {
	tb.Helper()
	kv := ktgrpcv1.NewKVClient(conn)
	for _, req := range setBulkRequests() {
		if _, err := kv.SetBulk(context.Background(), req); err != nil {
			tb.Fatalf("preloading: %v", err)
		}
	}
}

func getRequests() []*ktgrpcv1.GetRequest {
	out := make([]*ktgrpcv1.GetRequest, cmpKeys)
	for i := range out {
		out[i] = &ktgrpcv1.GetRequest{Key: benchKey(i)}
	}
	return out
}

func setRequests() []*ktgrpcv1.SetRequest {
	value := make([]byte, cmpValue)
	out := make([]*ktgrpcv1.SetRequest, cmpKeys)
	for i := range out {
		out[i] = &ktgrpcv1.SetRequest{Key: benchKey(i), Value: value}
	}
	return out
}

func getBulkRequests() []*ktgrpcv1.GetBulkRequest {
	out := make([]*ktgrpcv1.GetBulkRequest, cmpKeys/cmpBulk)
	for i := range out {
		out[i] = &ktgrpcv1.GetBulkRequest{}
		for j := range cmpBulk {
			out[i].Keys = append(out[i].Keys, benchKey(i*cmpBulk+j))
		}
	}
	return out
}

func setBulkRequests() []*ktgrpcv1.SetBulkRequest {
	value := make([]byte, cmpValue)
	out := make([]*ktgrpcv1.SetBulkRequest, cmpKeys/cmpBulk)
	for i := range out {
		out[i] = &ktgrpcv1.SetBulkRequest{}
		for j := range cmpBulk {
			out[i].Records = append(out[i].Records, &ktgrpcv1.SetBulkRequest_Entry{Key: benchKey(i*cmpBulk + j), Value: value})
		}
	}
	return out
}

func wantFound(resp *ktgrpcv1.GetResponse, err error) error {
	return foundErr(resp.GetFound(), err)
}

func foundErr(found bool, err error) error {
	if err == nil && !found {
		return fmt.Errorf("a preloaded key was not found")
	}
	return err
}
