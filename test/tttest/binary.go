package tttest

import (
	"errors"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// binaryCommands maps each command to its handler, which gets the decoded
// request and answers it.
var binaryCommands = map[ttwire.Command]func(*conn, *ttwire.Request) (bool, error){
	ttwire.CmdPut:       func(c *conn, r *ttwire.Request) (bool, error) { return c.putFamily(r, ttstore.PutOver) },
	ttwire.CmdPutKeep:   func(c *conn, r *ttwire.Request) (bool, error) { return c.putFamily(r, ttstore.PutKeep) },
	ttwire.CmdPutCat:    func(c *conn, r *ttwire.Request) (bool, error) { return c.putFamily(r, ttstore.PutCat) },
	ttwire.CmdPutShl:    func(c *conn, r *ttwire.Request) (bool, error) { return c.putFamily(r, ttstore.PutShl) },
	ttwire.CmdPutNR:     func(c *conn, r *ttwire.Request) (bool, error) { return c.putFamily(r, ttstore.PutOver) },
	ttwire.CmdOut:       (*conn).out,
	ttwire.CmdGet:       (*conn).get,
	ttwire.CmdMGet:      (*conn).mget,
	ttwire.CmdVSiz:      (*conn).vsiz,
	ttwire.CmdIterInit:  (*conn).iterInit,
	ttwire.CmdIterNext:  (*conn).iterNext,
	ttwire.CmdFwmKeys:   (*conn).fwmKeys,
	ttwire.CmdAddInt:    (*conn).addInt,
	ttwire.CmdAddDouble: (*conn).addDouble,
	ttwire.CmdExt:       (*conn).ext,
	ttwire.CmdSync:      (*conn).sync,
	ttwire.CmdOptimize:  (*conn).optimize,
	ttwire.CmdVanish:    (*conn).vanish,
	ttwire.CmdCopy:      (*conn).copyDB,
	ttwire.CmdRestore:   (*conn).restore,
	ttwire.CmdSetMst:    (*conn).setMst,
	ttwire.CmdRNum:      (*conn).rnum,
	ttwire.CmdSize:      (*conn).size,
	ttwire.CmdStat:      (*conn).stat,
	ttwire.CmdMisc:      (*conn).misc,
	ttwire.CmdRepl:      (*conn).repl,
}

// serveBinary reads one binary request and runs it. A request the server
// rejects (an unknown command, a length out of range) ends the task without
// a reply (keep=false), leaving the unread bytes for the next task, as TT
// does; only mget still answers for the keys read before a bad key length.
func (c *conn) serveBinary() (bool, error) {
	req, err := ttwire.ReadRequest(c.r)
	if req != nil {
		c.count(seq(req.Cmd))
	}
	var se *ttwire.SizeError
	switch {
	case err == nil:
	case errors.As(err, &se):
		if req.Cmd != ttwire.CmdMGet || se.Field != "key size" {
			return false, nil
		}
	case errors.Is(err, ttwire.ErrProtocol):
		return false, nil
	default:
		return false, err
	}
	return binaryCommands[req.Cmd](c, req)
}

// putFamily serves put, putkeep, putcat, putshl and putnr. putnr never
// replies.
func (c *conn) putFamily(r *ttwire.Request, mode ttstore.PutMode) (bool, error) {
	ok := false
	if !c.masked(r.Cmd) {
		var err error
		if ok, err = c.s.db.Put(c.s.ctx, mode, r.Key, r.Value, r.Width); err != nil {
			return false, err
		}
		if !ok {
			c.count(cntPutMiss)
		}
	}
	if r.Cmd == ttwire.CmdPutNR {
		return true, nil
	}
	return c.status(r.Cmd, ok)
}

func (c *conn) out(r *ttwire.Request) (bool, error) {
	ok := false
	if !c.masked(r.Cmd) {
		var err error
		if ok, err = c.s.db.Out(c.s.ctx, r.Key); err != nil {
			return false, err
		}
	}
	if !ok {
		c.count(cntOutMiss)
	}
	return c.status(r.Cmd, ok)
}

func (c *conn) get(r *ttwire.Request) (bool, error) {
	var value []byte
	found := false
	if !c.masked(r.Cmd) {
		var err error
		if value, found, err = c.s.db.Get(c.s.ctx, r.Key); err != nil {
			return false, err
		}
	}
	if !found {
		c.count(cntGetMiss)
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Value: value})
}

// mget answers for the keys read before an invalid key length, if any.
func (c *conn) mget(r *ttwire.Request) (bool, error) {
	var found []ttstore.KV
	if !c.masked(r.Cmd) {
		var err error
		if found, err = c.s.db.MGet(c.s.ctx, r.Keys); err != nil {
			return false, err
		}
	}
	recs := make([]ttwire.KV, len(found))
	for i, kv := range found {
		recs[i] = ttwire.KV{Key: kv.Key, Value: kv.Value}
	}
	return c.reply(r.Cmd, &ttwire.Reply{Records: recs})
}

func (c *conn) vsiz(r *ttwire.Request) (bool, error) {
	size, found := 0, false
	if !c.masked(r.Cmd) {
		var err error
		if size, found, err = c.s.db.VSiz(c.s.ctx, r.Key); err != nil {
			return false, err
		}
	}
	if !found {
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Num: uint64(size)})
}

func (c *conn) iterInit(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	if err := c.s.db.IterInit(c.s.ctx); err != nil {
		return false, err
	}
	return c.status(r.Cmd, true)
}

func (c *conn) iterNext(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	key, _, ok, err := c.s.db.IterNext(c.s.ctx)
	if err != nil {
		return false, err
	}
	if !ok {
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Key: key})
}

func (c *conn) fwmKeys(r *ttwire.Request) (bool, error) {
	var keys [][]byte
	if !c.masked(r.Cmd) {
		var err error
		if keys, err = c.s.db.FwmKeys(c.s.ctx, r.Prefix, int(r.Max)); err != nil {
			return false, err
		}
	}
	return c.reply(r.Cmd, &ttwire.Reply{Keys: keys})
}

func (c *conn) addInt(r *ttwire.Request) (bool, error) {
	var sum int32
	ok := false
	if !c.masked(r.Cmd) {
		var err error
		if sum, ok, err = c.s.db.AddInt(c.s.ctx, r.Key, r.Int); err != nil {
			return false, err
		}
	}
	if !ok {
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Int: sum})
}

func (c *conn) addDouble(r *ttwire.Request) (bool, error) {
	var sum float64
	ok := false
	if !c.masked(r.Cmd) {
		var err error
		if sum, ok, err = c.s.db.AddDouble(c.s.ctx, r.Key, r.Double.Float64()); err != nil {
			return false, err
		}
	}
	if !ok {
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Double: ttwire.PackDouble(sum)})
}

func (c *conn) ext(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	result, ok := c.s.callExt(r.Name, r.Opts, r.Key, r.Value)
	if !ok {
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Value: result})
}

func (c *conn) sync(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	if err := c.s.db.Sync(c.s.ctx); err != nil {
		return false, err
	}
	return c.status(r.Cmd, true)
}

func (c *conn) optimize(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	if err := c.s.db.Optimize(c.s.ctx, []byte(r.Params)); err != nil {
		return false, err
	}
	return c.status(r.Cmd, true)
}

func (c *conn) vanish(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	if err := c.s.db.Vanish(c.s.ctx); err != nil {
		return false, err
	}
	return c.status(r.Cmd, true)
}

func (c *conn) copyDB(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	return c.status(r.Cmd, c.s.copyTo(r.Path) == nil)
}

func (c *conn) restore(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	return c.status(r.Cmd, c.s.restoreFrom(r.Path, r.TS, r.Opts&ttwire.CheckConsistency != 0) == nil)
}

func (c *conn) setMst(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.status(r.Cmd, false)
	}
	c.s.setMaster(r.Host, int(r.Port), r.TS)
	return c.status(r.Cmd, true)
}

func (c *conn) rnum(r *ttwire.Request) (bool, error) {
	var n int64
	if !c.masked(r.Cmd) {
		var err error
		if n, err = c.s.db.RNum(c.s.ctx); err != nil {
			return false, err
		}
	}
	return c.reply(r.Cmd, &ttwire.Reply{Num: uint64(n)})
}

func (c *conn) size(r *ttwire.Request) (bool, error) {
	var n int64
	if !c.masked(r.Cmd) {
		var err error
		if n, err = c.s.db.Size(c.s.ctx); err != nil {
			return false, err
		}
	}
	return c.reply(r.Cmd, &ttwire.Reply{Num: uint64(n)})
}

func (c *conn) stat(r *ttwire.Request) (bool, error) {
	text, err := c.s.statText(c.masked(r.Cmd))
	if err != nil {
		return false, err
	}
	return c.reply(r.Cmd, &ttwire.Reply{Value: text})
}

// misc answers a failure with status 1 and a count of 0, and a masked call
// with status 0 and a count of 0.
func (c *conn) misc(r *ttwire.Request) (bool, error) {
	if c.masked(r.Cmd) {
		return c.reply(r.Cmd, &ttwire.Reply{})
	}
	results, ok, err := c.s.db.Misc(c.s.ctx, r.Name, r.Args, r.Opts&ttwire.MiscNoUpdateLog != 0)
	if err != nil {
		return false, err
	}
	if !ok {
		return c.status(r.Cmd, false)
	}
	return c.reply(r.Cmd, &ttwire.Reply{Elems: results})
}
