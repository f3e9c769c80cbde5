package kttest

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
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
	cur  *rpcCursor
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
	return r.s.expiryOf(ktwire.Atoi(xt))
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

// serveRPC answers a TSV-RPC request. Its parameters come from the query
// and from a form or TSV body, a later name winning.
func (c *conn) serveRPC(req *ktwire.Request) *httpResponse {
	in := map[string]string{}
	if req.Query != "" {
		addPairs(in, ktwire.ParseForm(req.Query))
	}
	if len(req.Body) > 0 {
		ct := req.Header["content-type"]
		if len(ct) >= len(formType) && strings.EqualFold(ct[:len(formType)], formType) {
			addPairs(in, ktwire.ParseForm(string(req.Body)))
		} else if enc, ok := ktwire.ParseContentType(ct); ok {
			ktwire.EachTSV(req.Body, enc, func(k, v []byte) { in[string(k)] = string(v) })
		}
	}
	r := &rpcCall{s: c.srv, in: in, out: map[string]string{}}
	v := c.rpc(r, urlDecode(req.Path[len("/rpc/"):]))
	out := make([]ktwire.Pair, 0, len(r.out))
	for k, v := range r.out {
		out = append(out, ktwire.Pair{Key: []byte(k), Value: []byte(v)})
	}
	body, ctype := ktwire.AppendResponseTSV(nil, out)
	return &httpResponse{code: rvCode(v), headers: map[string]string{"content-type": ctype}, body: body}
}

// formType is the media type of form bodies.
const formType = "application/x-www-form-urlencoded"

// addPairs adds decoded parameters to m; a later name wins.
func addPairs(m map[string]string, pairs []ktwire.Pair) {
	for _, p := range pairs {
		m[string(p.Key)] = string(p.Value)
	}
}

// urlDecode decodes a path segment as KT does.
func urlDecode(s string) string { return string(ktwire.Decode([]byte(s), ktwire.URL)) }

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
		cid := ktwire.Atoi(id)
		if cur, exists := c.cursors[cid]; exists {
			if name == "cur_delete" {
				cur.Close()
				delete(c.cursors, cid)
				c.srv.cursorsAdded(-1)
				return ScriptOK
			}
			r.cur = cur
		} else if r.dbOK {
			inner, err := c.srv.store.OpenCursor(c.srv.ctx, dbName(r.db))
			if err != nil {
				return r.failErr(err)
			}
			cur := &rpcCursor{Cursor: inner, db: dbName(r.db), hash: c.srv.dbHash[r.db]}
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

// atof parses like KT's atof: a decimal prefix, "inf" and "nan" included;
// anything unreadable is 0.
func atof(s string) float64 {
	s = strings.TrimSpace(s)
	s = s[:min(len(s), 64)]
	for end := len(s); end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return f
		}
	}
	return 0
}
