package kttest

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// serveBinary handles one binary request and reports whether the
// connection stays open. An unknown magic closes it without a reply.
func (c *conn) serveBinary() bool {
	magic, err := c.r.ReadByte()
	if err != nil {
		return false
	}
	switch magic {
	case ktwire.MagicSetBulk:
		return c.binSetBulk()
	case ktwire.MagicRemoveBulk:
		return c.binRemoveBulk()
	case ktwire.MagicGetBulk:
		return c.binGetBulk()
	case ktwire.MagicPlayScript:
		return c.binPlayScript()
	case ktwire.MagicReplication:
		return c.binReplication()
	}
	return false
}

// binFail ends a bulk command that failed: 0xBF unless no-reply was asked
// for, then the connection closes.
func (c *conn) binFail(noReply bool) bool {
	if !noReply {
		c.w.WriteByte(ktwire.MagicError)
	}
	return false
}

// dbName is the store's selector for a database index.
func dbName(idx int) string { return strconv.Itoa(idx) }

// binSetBulk stores records one by one as they are read; a failure ends
// the request with the records before it stored.
func (c *conn) binSetBulk() bool {
	flags, rnum, err := ktwire.ReadBulkHeader(c.r)
	if err != nil {
		return false
	}
	noReply := flags&ktwire.FlagNoReply != 0
	var hits uint32
	for range rnum {
		rec, err := ktwire.ReadRecord(c.r)
		if err != nil {
			return c.binFail(noReply)
		}
		if int(rec.DB) >= len(c.srv.dbNames) {
			continue
		}
		err = c.srv.store.Set(c.srv.ctx, dbName(int(rec.DB)), rec.Key, rec.Value, c.srv.expiryOf(rec.XT), backend.WriteOptions{})
		if err != nil {
			return c.binFail(noReply)
		}
		c.srv.counters.set.Add(1)
		hits++
	}
	if !noReply {
		c.w.Write(ktwire.AppendCountReply(c.w.AvailableBuffer(), ktwire.MagicSetBulk, hits))
	}
	return true
}

// binRemoveBulk removes records one by one; a missing key only does not
// count.
func (c *conn) binRemoveBulk() bool {
	flags, rnum, err := ktwire.ReadBulkHeader(c.r)
	if err != nil {
		return false
	}
	noReply := flags&ktwire.FlagNoReply != 0
	var hits uint32
	for range rnum {
		ref, err := ktwire.ReadKeyRef(c.r)
		if err != nil {
			return c.binFail(noReply)
		}
		if int(ref.DB) >= len(c.srv.dbNames) {
			continue
		}
		removed, err := c.srv.store.Remove(c.srv.ctx, dbName(int(ref.DB)), ref.Key)
		if err != nil {
			return c.binFail(noReply)
		}
		tally(&c.srv.counters.remove, &c.srv.counters.removeMisses, removed)
		if removed {
			hits++
		}
	}
	if !noReply {
		c.w.Write(ktwire.AppendCountReply(c.w.AvailableBuffer(), ktwire.MagicRemoveBulk, hits))
	}
	return true
}

// binGetBulk reads the whole request, then answers with the records found,
// in request order. It ignores the flags and always replies.
func (c *conn) binGetBulk() bool {
	_, rnum, err := ktwire.ReadBulkHeader(c.r)
	if err != nil {
		return false
	}
	var recs []ktwire.Record
	for range rnum {
		ref, err := ktwire.ReadKeyRef(c.r)
		if err != nil {
			return c.binFail(false)
		}
		if int(ref.DB) >= len(c.srv.dbNames) {
			continue
		}
		rec, found, err := c.srv.store.Get(c.srv.ctx, dbName(int(ref.DB)), ref.Key)
		if err != nil {
			return c.binFail(false)
		}
		tally(&c.srv.counters.get, &c.srv.counters.getMisses, found)
		if !found {
			continue
		}
		recs = append(recs, ktwire.Record{DB: ref.DB, Key: rec.Key, Value: rec.Value, XT: xtOf(rec.ExpireTime)})
	}
	c.w.Write(ktwire.AppendGetBulkReply(c.w.AvailableBuffer(), recs))
	return true
}

// binPlayScript calls a procedure with raw input pairs. A script failure
// answers 0xBF and keeps the connection; a malformed request closes it
// silently.
func (c *conn) binPlayScript() bool {
	flags, nameBytes, args, err := ktwire.ReadPlayScriptRequest(c.r)
	if err != nil {
		return false
	}
	noReply := flags&ktwire.FlagNoReply != 0
	// The name is a C string on the server: a NUL ends it.
	if i := bytes.IndexByte(nameBytes, 0); i >= 0 {
		nameBytes = nameBytes[:i]
	}
	in := make(map[string]string, len(args))
	for _, a := range args {
		in[string(a.Key)] = string(a.Value)
	}
	out, status, err := c.srv.runScript(string(nameBytes), in)
	if noReply {
		return true
	}
	if err != nil || status != ScriptOK {
		c.w.WriteByte(ktwire.MagicError)
		return true
	}
	results := make([]ktwire.Pair, 0, len(out))
	for k, v := range out {
		results = append(results, ktwire.Pair{Key: []byte(k), Value: []byte(v)})
	}
	slices.SortFunc(results, func(a, b ktwire.Pair) int { return bytes.Compare(a.Key, b.Key) })
	c.w.Write(ktwire.AppendPlayScriptReply(c.w.AvailableBuffer(), results))
	return true
}
