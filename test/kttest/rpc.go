package kttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

// rv is a TSV-RPC return value, in KT's numbering (the same as
// ScriptStatus).
type rv = ScriptStatus

// Error texts of KT's RPC replies.
const (
	msgNoRecord      = "DB: 7: no record: no record"
	msgDuplicate     = "DB: 6: record duplication: record duplication"
	msgLogic         = "DB: 8: logical inconsistency: logical inconsistency"
	msgStatus        = "DB: 8: logical inconsistency: status conflict"
	msgCompile       = "DB: 8: logical inconsistency: compilation failed"
	msgPostprocess   = "DB: 8: logical inconsistency: postprocessing failed"
	msgNotImpl       = "DB: 1: not implemented: not implemented"
	msgInvalid       = "invalid parameters"
	msgNoDB          = "no such database"
	msgNoCursor      = "no such cursor"
	msgTimedOut      = "the condition timed out"
	msgScriptFailed  = "the scripting procedure failed"
	msgNoRTS         = "the RTS file is not set"
	msgNoUpdateLog   = "no update log allows no replication"
	defaultWaitLimit = 30 * time.Second
	// maxWaitSeconds keeps a huge WAITTIME within time.Duration.
	maxWaitSeconds = 1 << 30
)

// rvCode maps a return value to its HTTP status.
func rvCode(v rv) int {
	switch v {
	case ScriptOK:
		return 200
	case ScriptNotImplemented:
		return 501
	case ScriptInvalid:
		return 400
	case ScriptLogic:
		return 450
	case ScriptTimeout:
		return 503
	}
	return 500
}

// rpcCall is the state of one TSV-RPC request.
type rpcCall struct {
	s    *Server
	in   map[string]string
	out  map[string]string
	db   int
	dbOK bool
	cur  backend.Cursor
}

// fail replaces the output with an ERROR message.
func (r *rpcCall) fail(v rv, msg string) rv {
	r.out = map[string]string{"ERROR": msg}
	return v
}

// failErr turns an unexpected store error into a 500.
func (r *rpcCall) failErr(err error) rv {
	return r.fail(ScriptInternal, "DB: 15: miscellaneous error: "+err.Error())
}

func (r *rpcCall) has(name string) bool {
	_, ok := r.in[name]
	return ok
}

// bytesOf returns the parameter as a fresh, non-nil slice, or nil when it
// is absent, so that "absent" and "empty" stay apart.
func (r *rpcCall) bytesOf(name string) []byte {
	v, ok := r.in[name]
	if !ok {
		return nil
	}
	return append(make([]byte, 0, len(v)), v...)
}

// expiry reads the xt parameter: absent means never.
func (r *rpcCall) expiry() backend.Expiry {
	xt, ok := r.in["xt"]
	if !ok {
		return backend.Expiry{}
	}
	return r.s.expiryOf(atoi(xt))
}

// putXT adds xt to the output unless the record never expires.
func (r *rpcCall) putXT(expire time.Time) {
	if xt := xtOf(expire); xt < xtMax {
		r.out["xt"] = strconv.FormatInt(xt, 10)
	}
}

// underscored returns the names that start with '_', without it, sorted.
func (r *rpcCall) underscored() []string {
	var names []string
	for k := range r.in {
		if strings.HasPrefix(k, "_") {
			names = append(names, k[1:])
		}
	}
	slices.Sort(names)
	return names
}

// procedure returns the handler of a procedure, in KT's dispatch order, or
// nil. cur_delete is absent on purpose: KT handles it only for an existing
// cursor and otherwise answers 501.
func procedure(name string) func(*rpcCall) rv {
	switch name {
	case "void":
		return rpcVoid
	case "echo":
		return rpcEcho
	case "report":
		return rpcReport
	case "play_script":
		return rpcPlayScript
	case "tune_replication":
		return rpcTuneReplication
	case "ulog_list":
		return rpcUlogList
	case "ulog_remove":
		return rpcUlogRemove
	case "status":
		return withDB(rpcStatus)
	case "clear":
		return withDB(rpcClear)
	case "synchronize":
		return withDB(rpcSynchronize)
	case "set":
		return withDB(rpcSet)
	case "add":
		return withDB(rpcAdd)
	case "replace":
		return withDB(rpcReplace)
	case "append":
		return withDB(rpcAppend)
	case "increment":
		return withDB(rpcIncrement)
	case "increment_double":
		return withDB(rpcIncrementDouble)
	case "cas":
		return withDB(rpcCAS)
	case "remove":
		return withDB(rpcRemove)
	case "get":
		return withDB(rpcGet)
	case "check":
		return withDB(rpcCheck)
	case "seize":
		return withDB(rpcSeize)
	case "set_bulk":
		return withDB(rpcSetBulk)
	case "remove_bulk":
		return withDB(rpcRemoveBulk)
	case "get_bulk":
		return withDB(rpcGetBulk)
	case "vacuum":
		return withDB(rpcVacuum)
	case "match_prefix":
		return withDB(rpcMatchPrefix)
	case "match_regex":
		return withDB(rpcMatchRegex)
	case "match_similar":
		return withDB(rpcMatchSimilar)
	case "cur_jump":
		return withCursor(curJump)
	case "cur_jump_back":
		return withCursor(curJumpBack)
	case "cur_step":
		return withCursor(curStep)
	case "cur_step_back":
		return withCursor(curStepBack)
	case "cur_set_value":
		return withCursor(curSetValue)
	case "cur_remove":
		return withCursor(curRemove)
	case "cur_get_key":
		return withCursor(curGetKey)
	case "cur_get_value":
		return withCursor(curGetValue)
	case "cur_get":
		return withCursor(curGet)
	case "cur_seize":
		return withCursor(curSeize)
	}
	return nil
}

func rpcVoid(*rpcCall) rv { return ScriptOK }

func withDB(fn func(*rpcCall) rv) func(*rpcCall) rv {
	return func(r *rpcCall) rv {
		if !r.dbOK {
			return r.fail(ScriptInvalid, msgNoDB)
		}
		return fn(r)
	}
}

func withCursor(fn func(*rpcCall) rv) func(*rpcCall) rv {
	return func(r *rpcCall) rv {
		if r.cur == nil {
			return r.fail(ScriptInvalid, msgNoCursor)
		}
		return fn(r)
	}
}

// serveRPC answers a TSV-RPC request.
func (c *conn) serveRPC(req *httpRequest) *httpResponse {
	in := map[string]string{}
	if req.query != "" {
		parseForm(req.query, in)
	}
	if len(req.body) > 0 {
		ct := req.headers["content-type"]
		switch {
		case hasPrefixFold(ct, "application/x-www-form-urlencoded"):
			parseForm(string(req.body), in)
		case hasPrefixFold(ct, tsvContentType):
			parseTSV(string(req.body), colencOf(ct), in)
		}
	}
	r := &rpcCall{s: c.srv, in: in, out: map[string]string{}}
	v := c.rpc(r, urlDecode(req.path[len("/rpc/"):]))
	body, ctype := encodeTSV(r.out)
	return &httpResponse{code: rvCode(v), headers: map[string]string{"content-type": ctype}, body: body}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// rpc runs the common parameters (WAIT, DB, CUR), the procedure and SIGNAL,
// in KT's order.
func (c *conn) rpc(r *rpcCall, name string) rv {
	if cond, ok := r.in["WAIT"]; ok {
		limit := defaultWaitLimit
		if secs := atof(r.in["WAITTIME"]); secs > 0 {
			limit = time.Duration(min(secs, maxWaitSeconds) * float64(time.Second))
		}
		if !c.srv.waitSignal(cond, limit) {
			return r.fail(ScriptTimeout, msgTimedOut)
		}
	}
	r.db, r.dbOK = c.srv.dbSelector(r.in["DB"])
	if id, ok := r.in["CUR"]; ok && id != "" && id[0] >= '0' && id[0] <= '9' {
		cid := atoi(id)
		if cur, exists := c.cursors[cid]; exists {
			if name == "cur_delete" {
				cur.Close()
				delete(c.cursors, cid)
				c.srv.cursorsAdded(-1)
				return ScriptOK
			}
			r.cur = cur
		} else if r.dbOK {
			cur, err := c.srv.store.OpenCursor(c.srv.ctx, dbName(r.db))
			if err != nil {
				return r.failErr(err)
			}
			r.cur = cur
			c.cursors[cid] = cur
			c.srv.cursorsAdded(1)
		}
	}
	var v rv
	if proc := procedure(name); proc != nil {
		v = proc(r)
	} else {
		v = r.fail(ScriptNotImplemented, "not implemented: "+name)
	}
	if cond, ok := r.in["SIGNAL"]; ok {
		n := c.srv.signals.signal(cond, r.has("SIGNALBROAD"))
		r.out["SIGNALED"] = strconv.Itoa(n)
	}
	return v
}

// waitSignal blocks until cond is signalled (true) or limit passes or the
// server closes (false).
func (s *Server) waitSignal(cond string, limit time.Duration) bool {
	ch, cancel := s.signals.wait(cond)
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
	case <-s.ctx.Done():
	}
	cancel()
	// A signal may have taken this waiter just before it gave up.
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func rpcEcho(r *rpcCall) rv {
	for k, v := range r.in {
		r.out[k] = v
	}
	return ScriptOK
}

func rpcPlayScript(r *rpcCall) rv {
	name, ok := r.in["name"]
	if !ok || name == "" || strings.IndexFunc(name, func(c rune) bool { return c >= 0x80 || !isAlnum(byte(c)) }) >= 0 {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	args := map[string]string{}
	for _, k := range r.underscored() {
		args[k] = r.in["_"+k]
	}
	out, status, err := r.s.runScript(name, args)
	if err != nil {
		return r.fail(ScriptNotImplemented, err.Error())
	}
	if status != ScriptOK {
		return r.fail(status, msgScriptFailed)
	}
	for k, v := range out {
		r.out["_"+k] = v
	}
	return ScriptOK
}

func rpcTuneReplication(r *rpcCall) rv {
	if !r.s.rts {
		return r.fail(ScriptNotImplemented, msgNoRTS)
	}
	// There is no master to follow; the settings are accepted and ignored.
	return ScriptOK
}

func rpcUlogList(r *rpcCall) rv {
	if !r.s.ulog {
		return r.fail(ScriptInvalid, msgNoUpdateLog)
	}
	files, err := r.s.ulogFiles()
	if err != nil {
		return r.failErr(err)
	}
	for _, f := range files {
		r.out[f.path()] = fmt.Sprintf("%d:%d", f.size, f.maxTS)
	}
	return ScriptOK
}

func rpcUlogRemove(r *rpcCall) rv {
	if !r.s.ulog {
		return r.fail(ScriptInvalid, msgNoUpdateLog)
	}
	// Absent means every file; "now" the log's clock; text that is no
	// number reads as 0, as KT's atoi does.
	ts := uint64(math.MaxUint64)
	switch v, ok := r.in["ts"]; {
	case !ok:
	case v == "now":
		ts = pureClock(r.s.now())
	default:
		ts, _ = strconv.ParseUint(v, 10, 64)
	}
	if err := r.s.removeUlogs(ts); err != nil {
		return r.failErr(err)
	}
	return ScriptOK
}

// kcStatusFields are what KC reports for an in-memory cache database with
// default tuning, apart from count, path and the sizes; they do not depend
// on the contents.
func kcStatusFields(hash bool) map[string]string {
	f := map[string]string{
		"capcnt": "-1", "capsiz": "-1", "chksum": "255", "fmtver": "5", "ktcapcnt": "-1", "ktcapsiz": "-1",
		"ktopts": "0", "librev": "13", "libver": "16", "opts": "0", "recovered": "0", "reorganized": "0",
	}
	if hash {
		f["bnum"], f["realtype"], f["type"] = "1048583", "32", "32"
		return f
	}
	for k, v := range map[string]string{
		"bnum": "65536", "first": "1", "icnt": "0", "last": "1", "lcnt": "1", "pccap": "67108864",
		"pnum": "2", "psiz": "8192", "rcomp": "lexical", "realtype": "33", "root": "1", "type": "33",
	} {
		f[k] = v
	}
	return f
}

// Sizes modelled on KC's in-memory databases: a cache hash DB costs a fixed
// bucket array plus 40 bytes of record header and KT's 5-byte xt per
// record; a cache tree DB reports a fixed size until pages are written out,
// and a cache usage of its single leaf.
const (
	hashBaseSize      = 8390592
	hashRecordExtra   = 40 + 5
	treeBaseSize      = 526693
	treeLeafBase      = 8
	treeRecordExtra   = 8 + 5
	reportThreadCount = 16
)

// dbStatus returns the KC-style status fields of a database.
func (s *Server) dbStatus(idx int) (map[string]string, backend.Status, error) {
	st, err := s.store.Status(s.ctx, dbName(idx))
	if err != nil {
		return nil, st, err
	}
	fields := kcStatusFields(s.dbHash[idx])
	fields["count"], fields["path"] = strconv.FormatInt(st.Count, 10), s.dbNames[idx]
	if s.dbHash[idx] {
		fields["size"] = strconv.FormatInt(hashBaseSize+hashRecordExtra*st.Count+st.Size, 10)
	} else {
		fields["size"] = strconv.Itoa(treeBaseSize)
		fields["cusage"] = strconv.FormatInt(treeLeafBase+treeRecordExtra*st.Count+st.Size, 10)
	}
	return fields, st, nil
}

func rpcStatus(r *rpcCall) rv {
	fields, _, err := r.s.dbStatus(r.db)
	if err != nil {
		return r.failErr(err)
	}
	r.out = fields
	return ScriptOK
}

func rpcReport(r *rpcCall) rv {
	s := r.s
	var totalCount, totalSize int64
	for i := range s.dbNames {
		fields, _, err := s.dbStatus(i)
		if err != nil {
			return r.failErr(err)
		}
		count, _ := strconv.ParseInt(fields["count"], 10, 64)
		size, _ := strconv.ParseInt(fields["size"], 10, 64)
		totalCount += count
		totalSize += size
		r.out["db_"+strconv.Itoa(i)] = fmt.Sprintf("count=%d size=%d path=%s", count, size, s.dbNames[i])
	}
	r.out["db_total_count"] = strconv.FormatInt(totalCount, 10)
	r.out["db_total_size"] = strconv.FormatInt(totalSize, 10)
	c := &s.counters
	for name, v := range map[string]int64{
		"cnt_set": c.set.Load(), "cnt_set_misses": c.setMisses.Load(),
		"cnt_remove": c.remove.Load(), "cnt_remove_misses": c.removeMisses.Load(),
		"cnt_get": c.get.Load(), "cnt_get_misses": c.getMisses.Load(),
		"cnt_script": c.script.Load(), "cnt_misc": c.misc.Load(),
	} {
		r.out[name] = strconv.FormatInt(v, 10)
	}
	r.out["conf_kc_features"] = "(atomic)(zlib)(lzo)(lzma)"
	r.out["conf_kc_version"] = "1.2.76a (16.13)"
	r.out["conf_kt_features"] = "(epoll)(lua)"
	r.out["conf_kt_version"] = "0.9.56b (2.19)"
	r.out["conf_os_name"] = "Linux"
	now := s.now()
	r.out["serv_conn_count"] = strconv.Itoa(s.ConnCount())
	r.out["serv_current_time"] = strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64)
	r.out["serv_proc_id"] = strconv.Itoa(os.Getpid())
	r.out["serv_running_term"] = strconv.FormatFloat(now.Sub(s.started).Seconds(), 'f', 6, 64)
	r.out["serv_task_count"] = "0"
	r.out["serv_thread_count"] = strconv.Itoa(reportThreadCount)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.out["sys_mem_cached"] = "0"
	r.out["sys_mem_free"] = "0"
	r.out["sys_mem_peak"] = strconv.FormatUint(ms.Sys, 10)
	r.out["sys_mem_rss"] = strconv.FormatUint(ms.HeapInuse+ms.StackInuse, 10)
	r.out["sys_mem_size"] = strconv.FormatUint(ms.Sys, 10)
	r.out["sys_mem_total"] = "0"
	r.out["sys_ru_stime"] = "0.000000"
	r.out["sys_ru_utime"] = "0.000000"
	return ScriptOK
}

func rpcClear(r *rpcCall) rv {
	if err := r.s.store.Clear(r.s.ctx, dbName(r.db)); err != nil {
		return r.failErr(err)
	}
	return ScriptOK
}

func rpcSynchronize(r *rpcCall) rv {
	if err := r.s.store.Synchronize(r.s.ctx, dbName(r.db), r.has("hard"), ""); err != nil {
		return r.failErr(err)
	}
	// There is no command directory (-cmd), so every command fails, as on
	// a server started without one.
	if r.has("command") {
		return r.fail(ScriptInternal, msgPostprocess)
	}
	return ScriptOK
}

// keyValue returns the required key and value parameters.
func (r *rpcCall) keyValue() (key, value []byte, ok bool) {
	key, value = r.bytesOf("key"), r.bytesOf("value")
	return key, value, key != nil && value != nil
}

func rpcSet(r *rpcCall) rv {
	key, value, ok := r.keyValue()
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	if err := r.s.store.Set(r.s.ctx, dbName(r.db), key, value, r.expiry(), backend.WriteOptions{}); err != nil {
		r.s.counters.setMisses.Add(1)
		return r.failErr(err)
	}
	r.s.counters.set.Add(1)
	return ScriptOK
}

func rpcAdd(r *rpcCall) rv { return r.writeIf(r.s.store.Add, msgDuplicate) }

func rpcReplace(r *rpcCall) rv { return r.writeIf(r.s.store.Replace, msgNoRecord) }

// writeIf runs add or replace, whose condition not met is a 450 with miss.
func (r *rpcCall) writeIf(write func(ctx context.Context, db string, key, value []byte, exp backend.Expiry) (bool, error), miss string) rv {
	key, value, ok := r.keyValue()
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	applied, err := write(r.s.ctx, dbName(r.db), key, value, r.expiry())
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.set, &r.s.counters.setMisses, applied)
	if !applied {
		return r.fail(ScriptLogic, miss)
	}
	return ScriptOK
}

func rpcAppend(r *rpcCall) rv {
	key, value, ok := r.keyValue()
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	if err := r.s.store.Append(r.s.ctx, dbName(r.db), key, value, r.expiry(), 0); err != nil {
		r.s.counters.setMisses.Add(1)
		return r.failErr(err)
	}
	r.s.counters.set.Add(1)
	return ScriptOK
}

// numericFailure maps the outcome of a failed increment to KT's reply.
func (r *rpcCall) numericFailure(err error) rv {
	r.s.counters.setMisses.Add(1)
	if err == nil || errors.Is(err, backend.ErrIncompatible) {
		return r.fail(ScriptLogic, msgLogic)
	}
	return r.failErr(err)
}

func rpcIncrement(r *rpcCall) rv {
	key, num := r.bytesOf("key"), r.bytesOf("num")
	if key == nil || num == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	orig := int64(0)
	switch o := r.in["orig"]; o {
	case "try":
		orig = embedded.OrigTry
	case "set":
		orig = embedded.OrigSet
	default:
		orig = atoi(o)
	}
	value, applied, err := r.s.store.IncrementOrig(r.s.ctx, dbName(r.db), key, atoi(string(num)), orig, r.expiry())
	if err != nil || !applied {
		return r.numericFailure(err)
	}
	r.s.counters.set.Add(1)
	r.out["num"] = strconv.FormatInt(value, 10)
	return ScriptOK
}

func rpcIncrementDouble(r *rpcCall) rv {
	key, num := r.bytesOf("key"), r.bytesOf("num")
	if key == nil || num == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	orig := 0.0
	switch o := r.in["orig"]; o {
	case "try":
		orig = math.Inf(-1)
	case "set":
		orig = math.Inf(1)
	default:
		orig = embedded.KTAtof(o)
	}
	value, applied, err := r.s.store.IncrementDoubleOrig(r.s.ctx, dbName(r.db), key, embedded.KTAtof(string(num)), orig, r.expiry())
	if err != nil || !applied {
		return r.numericFailure(err)
	}
	r.s.counters.set.Add(1)
	r.out["num"] = formatCFloat(value)
	return ScriptOK
}

// formatCFloat formats like C's "%f".
func formatCFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', 6, 64)
}

func rpcCAS(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	swapped, err := r.s.store.CompareAndSwap(r.s.ctx, dbName(r.db), key, r.bytesOf("oval"), r.bytesOf("nval"), r.expiry())
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.set, &r.s.counters.setMisses, swapped)
	if !swapped {
		return r.fail(ScriptLogic, msgStatus)
	}
	return ScriptOK
}

func rpcRemove(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	removed, err := r.s.store.Remove(r.s.ctx, dbName(r.db), key)
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.remove, &r.s.counters.removeMisses, removed)
	if !removed {
		return r.fail(ScriptLogic, msgNoRecord)
	}
	return ScriptOK
}

func rpcGet(r *rpcCall) rv { return r.readRecord(r.s.store.Get) }

// readRecord runs get or seize.
func (r *rpcCall) readRecord(read func(ctx context.Context, db string, key []byte) (backend.Record, bool, error)) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	rec, found, err := read(r.s.ctx, dbName(r.db), key)
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.get, &r.s.counters.getMisses, found)
	if !found {
		return r.fail(ScriptLogic, msgNoRecord)
	}
	r.out["value"] = string(rec.Value)
	r.putXT(rec.ExpireTime)
	return ScriptOK
}

func rpcCheck(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	info, found, err := r.s.store.Check(r.s.ctx, dbName(r.db), key)
	if err != nil {
		return r.failErr(err)
	}
	tally(&r.s.counters.get, &r.s.counters.getMisses, found)
	if !found {
		return r.fail(ScriptLogic, msgNoRecord)
	}
	r.out["vsiz"] = strconv.FormatInt(info.ValueSize, 10)
	r.putXT(info.ExpireTime)
	return ScriptOK
}

func rpcSeize(r *rpcCall) rv { return r.readRecord(r.s.store.Seize) }

func rpcSetBulk(r *rpcCall) rv {
	exp := r.expiry()
	var entries []backend.Entry
	for _, k := range r.underscored() {
		entries = append(entries, backend.Entry{Key: []byte(k), Value: []byte(r.in["_"+k]), Expiry: exp})
	}
	n, err := r.s.store.SetBulk(r.s.ctx, dbName(r.db), entries, backend.WriteOptions{Atomic: r.has("atomic")})
	r.s.counters.set.Add(n)
	if err != nil {
		return r.failErr(err)
	}
	r.out["num"] = strconv.Itoa(len(entries))
	return ScriptOK
}

func rpcRemoveBulk(r *rpcCall) rv {
	var keys [][]byte
	for _, k := range r.underscored() {
		keys = append(keys, []byte(k))
	}
	n, err := r.s.store.RemoveBulk(r.s.ctx, dbName(r.db), keys, r.has("atomic"))
	if err != nil {
		return r.failErr(err)
	}
	r.s.counters.remove.Add(n)
	r.s.counters.removeMisses.Add(int64(len(keys)) - n)
	r.out["num"] = strconv.FormatInt(n, 10)
	return ScriptOK
}

func rpcGetBulk(r *rpcCall) rv {
	var keys [][]byte
	for _, k := range r.underscored() {
		keys = append(keys, []byte(k))
	}
	recs, err := r.s.store.GetBulk(r.s.ctx, dbName(r.db), keys, r.has("atomic"))
	if err != nil {
		return r.failErr(err)
	}
	r.s.counters.get.Add(int64(len(recs)))
	r.s.counters.getMisses.Add(int64(len(keys) - len(recs)))
	for _, rec := range recs {
		r.out["_"+string(rec.Key)] = string(rec.Value)
	}
	r.out["num"] = strconv.Itoa(len(recs))
	return ScriptOK
}

func rpcVacuum(r *rpcCall) rv {
	if err := r.s.store.Vacuum(r.s.ctx, dbName(r.db), max(0, atoi(r.in["step"]))); err != nil {
		return r.failErr(err)
	}
	return ScriptOK
}

// matchLimit reads max: absent or negative is no limit (-1 here), 0 none.
func (r *rpcCall) matchLimit() int64 {
	m, ok := r.in["max"]
	if !ok {
		return -1
	}
	return max(-1, atoi(m))
}

// match runs a key match and writes "_<key>" = rank and num.
func (r *rpcCall) match(m backend.Match) rv {
	limit := r.matchLimit()
	var keys [][]byte
	if limit != 0 {
		var err error
		keys, err = r.s.store.MatchKeys(r.s.ctx, dbName(r.db), m, max(0, limit))
		switch {
		case m.Kind == backend.MatchRegex && errors.Is(err, backend.ErrInvalid):
			return r.fail(ScriptLogic, msgCompile)
		case err != nil:
			return r.failErr(err)
		}
	}
	for i, k := range keys {
		r.out["_"+string(k)] = strconv.Itoa(i)
	}
	r.out["num"] = strconv.Itoa(len(keys))
	return ScriptOK
}

func rpcMatchPrefix(r *rpcCall) rv {
	prefix := r.bytesOf("prefix")
	if prefix == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	return r.match(backend.Match{Kind: backend.MatchPrefix, Prefix: prefix})
}

func rpcMatchRegex(r *rpcCall) rv {
	re, ok := r.in["regex"]
	if !ok {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	return r.match(backend.Match{Kind: backend.MatchRegex, Regex: re})
}

func rpcMatchSimilar(r *rpcCall) rv {
	origin := r.bytesOf("origin")
	if origin == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	dist := int64(1)
	if rs, ok := r.in["range"]; ok {
		dist = atoi(rs)
	}
	if dist < 0 {
		dist = 1
	}
	return r.match(backend.Match{Kind: backend.MatchSimilar, Origin: origin, MaxDistance: int(min(dist, math.MaxInt32)), UTF8: r.has("utf")})
}

// curResult maps a cursor move or read to KT's reply: an unsupported move
// on a hash database is 501, a missing record 450.
func (r *rpcCall) curResult(ok bool, err error) rv {
	switch {
	case errors.Is(err, backend.ErrUnsupported):
		return r.fail(ScriptNotImplemented, msgNotImpl)
	case err != nil:
		return r.failErr(err)
	case !ok:
		return r.fail(ScriptLogic, msgNoRecord)
	}
	return ScriptOK
}

func curJump(r *rpcCall) rv {
	return r.curResult(r.cur.Jump(r.s.ctx, r.bytesOf("key")))
}

func curJumpBack(r *rpcCall) rv {
	return r.curResult(r.cur.JumpBack(r.s.ctx, r.bytesOf("key")))
}

func curStep(r *rpcCall) rv {
	return r.curResult(r.cur.Step(r.s.ctx))
}

func curStepBack(r *rpcCall) rv {
	return r.curResult(r.cur.StepBack(r.s.ctx))
}

func curSetValue(r *rpcCall) rv {
	value := r.bytesOf("value")
	if value == nil {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	return r.curResult(r.cur.SetValue(r.s.ctx, value, r.expiry(), r.has("step")))
}

func curRemove(r *rpcCall) rv {
	return r.curResult(r.cur.Remove(r.s.ctx))
}

func curGetKey(r *rpcCall) rv {
	key, ok, err := r.cur.GetKey(r.s.ctx, r.has("step"))
	if v := r.curResult(ok, err); v != ScriptOK {
		return v
	}
	r.out["key"] = string(key)
	return ScriptOK
}

func curGetValue(r *rpcCall) rv {
	value, ok, err := r.cur.GetValue(r.s.ctx, r.has("step"))
	if v := r.curResult(ok, err); v != ScriptOK {
		return v
	}
	r.out["value"] = string(value)
	return ScriptOK
}

func curGet(r *rpcCall) rv {
	return r.curRecord(r.cur.Get(r.s.ctx, r.has("step")))
}

func curSeize(r *rpcCall) rv {
	return r.curRecord(r.cur.Seize(r.s.ctx))
}

// curRecord answers cur_get and cur_seize with the record read.
func (r *rpcCall) curRecord(rec backend.Record, ok bool, err error) rv {
	if v := r.curResult(ok, err); v != ScriptOK {
		return v
	}
	r.out["key"], r.out["value"] = string(rec.Key), string(rec.Value)
	r.putXT(rec.ExpireTime)
	return ScriptOK
}
