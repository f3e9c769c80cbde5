package kttest

// The cursor procedures, cur_jump to cur_seize (cur_delete is handled with
// the CUR parameter, in rpc.go).

import (
	"bytes"
	"errors"

	"github.com/ktgrpc/ktgrpc/backend"
)

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

// rpcCursor is an RPC cursor: a store cursor and what KT's answers need to
// know of the database it is bound to.
type rpcCursor struct {
	backend.Cursor
	db   string
	hash bool
}

func curJump(r *rpcCall) rv {
	key := r.bytesOf("key")
	if key != nil && r.cur.hash {
		return r.curResult(r.jumpExact(key))
	}
	return r.curResult(r.cur.Jump(r.s.ctx, key))
}

// jumpExact is cur_jump to a key on a hash database. Kyoto Cabinet finds
// the key there by its hash alone, so a missing key fails and leaves the
// cursor unpositioned, where the store's cursor would land on the next key.
func (r *rpcCall) jumpExact(key []byte) (bool, error) {
	ok, err := r.cur.Jump(r.s.ctx, key)
	if err != nil || !ok {
		return ok, err
	}
	at, ok, err := r.cur.GetKey(r.s.ctx, false)
	if err != nil || ok && bytes.Equal(at, key) {
		return ok, err
	}
	// A fresh store cursor is an unpositioned one.
	fresh, err := r.s.store.OpenCursor(r.s.ctx, r.cur.db)
	if err != nil {
		return false, err
	}
	_ = r.cur.Cursor.Close()
	r.cur.Cursor = fresh
	return false, nil
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
