package tttest

import (
	"math"

	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// Binary command bytes.
const (
	opPut       = 0x10
	opPutKeep   = 0x11
	opPutCat    = 0x12
	opPutShl    = 0x13
	opPutNR     = 0x18
	opOut       = 0x20
	opGet       = 0x30
	opMGet      = 0x31
	opVSiz      = 0x38
	opIterInit  = 0x50
	opIterNext  = 0x51
	opFwmKeys   = 0x58
	opAddInt    = 0x60
	opAddDouble = 0x61
	opExt       = 0x68
	opSync      = 0x70
	opOptimize  = 0x71
	opVanish    = 0x72
	opCopy      = 0x73
	opRestore   = 0x74
	opSetMst    = 0x78
	opRNum      = 0x80
	opSize      = 0x81
	opStat      = 0x88
	opMisc      = 0x90
	opRepl      = 0xA0
)

// miscNoLog is misc's RDBMONOULOG option: do not log the call.
const miscNoLog = 1

// binaryCommands maps each command byte to its handler. A handler reads
// the rest of the request; a field it rejects ends the task without a reply
// (keep=false), leaving the unread bytes for the next task, as TT does.
var binaryCommands = map[byte]func(*conn) (bool, error){
	opPut:       func(c *conn) (bool, error) { return c.putFamily(cmdPut, ttstore.PutOver) },
	opPutKeep:   func(c *conn) (bool, error) { return c.putFamily(cmdPutKeep, ttstore.PutKeep) },
	opPutCat:    func(c *conn) (bool, error) { return c.putFamily(cmdPutCat, ttstore.PutCat) },
	opPutShl:    func(c *conn) (bool, error) { return c.putFamily(cmdPutShl, ttstore.PutShl) },
	opPutNR:     func(c *conn) (bool, error) { return c.putFamily(cmdPutNR, ttstore.PutOver) },
	opOut:       (*conn).out,
	opGet:       (*conn).get,
	opMGet:      (*conn).mget,
	opVSiz:      (*conn).vsiz,
	opIterInit:  (*conn).iterInit,
	opIterNext:  (*conn).iterNext,
	opFwmKeys:   (*conn).fwmKeys,
	opAddInt:    (*conn).addInt,
	opAddDouble: (*conn).addDouble,
	opExt:       (*conn).ext,
	opSync:      (*conn).sync,
	opOptimize:  (*conn).optimize,
	opVanish:    (*conn).vanish,
	opCopy:      (*conn).copyDB,
	opRestore:   (*conn).restore,
	opSetMst:    (*conn).setMst,
	opRNum:      (*conn).rnum,
	opSize:      (*conn).size,
	opStat:      (*conn).stat,
	opMisc:      (*conn).misc,
	opRepl:      (*conn).repl,
}

// putFamily serves put, putkeep, putcat, putshl and putnr. putnr never
// replies.
func (c *conn) putFamily(cmd int, mode ttstore.PutMode) (bool, error) {
	c.count(cmd)
	n := 2
	if cmd == cmdPutShl {
		n = 3
	}
	sz, err := c.sizes(n)
	if err != nil {
		return false, err
	}
	var width int32
	if cmd == cmdPutShl {
		width = sz[2]
	}
	if !validSizes(sz[0], sz[1]) || width < 0 {
		return false, nil
	}
	f, err := c.fields(sz[0], sz[1])
	if err != nil {
		return false, err
	}
	ok := false
	if !c.masked(cmd) {
		if ok, err = c.s.db.Put(c.s.ctx, mode, f[0], f[1], width); err != nil {
			return false, err
		}
		if !ok {
			c.count(cntPutMiss)
		}
	}
	if cmd == cmdPutNR {
		return true, nil
	}
	return c.sendStatus(ok)
}

// key reads a "ksiz:u32, key" request body; ok is false for a bad size.
func (c *conn) key() (key []byte, ok bool, err error) {
	ksiz, err := c.i32()
	if err != nil {
		return nil, false, err
	}
	if !validSize(ksiz) {
		return nil, false, nil
	}
	key, err = c.bytes(ksiz)
	return key, err == nil, err
}

func (c *conn) out() (bool, error) {
	c.count(cmdOut)
	key, valid, err := c.key()
	if !valid {
		return false, err
	}
	ok := false
	if !c.masked(cmdOut) {
		if ok, err = c.s.db.Out(c.s.ctx, key); err != nil {
			return false, err
		}
	}
	if !ok {
		c.count(cntOutMiss)
	}
	return c.sendStatus(ok)
}

func (c *conn) get() (bool, error) {
	c.count(cmdGet)
	key, valid, err := c.key()
	if !valid {
		return false, err
	}
	var value []byte
	found := false
	if !c.masked(cmdGet) {
		if value, found, err = c.s.db.Get(c.s.ctx, key); err != nil {
			return false, err
		}
	}
	if !found {
		c.count(cntGetMiss)
		return c.sendStatus(false)
	}
	return c.send(appendField([]byte{0}, value))
}

// mget answers for the keys read before an invalid key length, if any.
func (c *conn) mget() (bool, error) {
	c.count(cmdMGet)
	n, err := c.i32()
	if err != nil {
		return false, err
	}
	if n < 0 || n > maxArgNum {
		return false, nil
	}
	keys := make([][]byte, 0, min(n, 1024))
	for range n {
		key, valid, err := c.key()
		if err != nil {
			return false, err
		}
		if !valid {
			break
		}
		keys = append(keys, key)
	}
	var found []ttstore.KV
	if !c.masked(cmdMGet) {
		if found, err = c.s.db.MGet(c.s.ctx, keys); err != nil {
			return false, err
		}
	}
	reply := appendU32([]byte{0}, uint32(len(found)))
	for _, kv := range found {
		reply = appendU32(appendU32(reply, uint32(len(kv.Key))), uint32(len(kv.Value)))
		reply = append(append(reply, kv.Key...), kv.Value...)
	}
	return c.send(reply)
}

func (c *conn) vsiz() (bool, error) {
	c.count(cmdVSiz)
	key, valid, err := c.key()
	if !valid {
		return false, err
	}
	size, found := 0, false
	if !c.masked(cmdVSiz) {
		if size, found, err = c.s.db.VSiz(c.s.ctx, key); err != nil {
			return false, err
		}
	}
	if !found {
		return c.sendStatus(false)
	}
	return c.send(appendU32([]byte{0}, uint32(size)))
}

func (c *conn) iterInit() (bool, error) {
	c.count(cmdIterInit)
	if c.masked(cmdIterInit) {
		return c.sendStatus(false)
	}
	if err := c.s.db.IterInit(c.s.ctx); err != nil {
		return false, err
	}
	return c.sendStatus(true)
}

func (c *conn) iterNext() (bool, error) {
	c.count(cmdIterNext)
	if c.masked(cmdIterNext) {
		return c.sendStatus(false)
	}
	key, _, ok, err := c.s.db.IterNext(c.s.ctx)
	if err != nil {
		return false, err
	}
	if !ok {
		return c.sendStatus(false)
	}
	return c.send(appendField([]byte{0}, key))
}

func (c *conn) fwmKeys() (bool, error) {
	c.count(cmdFwmKeys)
	sz, err := c.sizes(2)
	if err != nil {
		return false, err
	}
	if !validSize(sz[0]) {
		return false, nil
	}
	prefix, err := c.bytes(sz[0])
	if err != nil {
		return false, err
	}
	var keys [][]byte
	if !c.masked(cmdFwmKeys) {
		if keys, err = c.s.db.FwmKeys(c.s.ctx, prefix, int(sz[1])); err != nil {
			return false, err
		}
	}
	reply := appendU32([]byte{0}, uint32(len(keys)))
	for _, k := range keys {
		reply = appendField(reply, k)
	}
	return c.send(reply)
}

func (c *conn) addInt() (bool, error) {
	c.count(cmdAddInt)
	sz, err := c.sizes(2)
	if err != nil {
		return false, err
	}
	if !validSize(sz[0]) {
		return false, nil
	}
	key, err := c.bytes(sz[0])
	if err != nil {
		return false, err
	}
	var sum int32
	ok := false
	if !c.masked(cmdAddInt) {
		if sum, ok, err = c.s.db.AddInt(c.s.ctx, key, sz[1]); err != nil {
			return false, err
		}
	}
	if !ok {
		return c.sendStatus(false)
	}
	return c.send(appendU32([]byte{0}, uint32(sum)))
}

func (c *conn) addDouble() (bool, error) {
	c.count(cmdAddDouble)
	ksiz, err := c.i32()
	if err != nil {
		return false, err
	}
	integ, err := c.u64()
	if err != nil {
		return false, err
	}
	fract, err := c.u64()
	if err != nil {
		return false, err
	}
	if !validSize(ksiz) {
		return false, nil
	}
	key, err := c.bytes(ksiz)
	if err != nil {
		return false, err
	}
	var sum float64
	ok := false
	if !c.masked(cmdAddDouble) {
		num := unpackDouble(int64(integ), int64(fract))
		if sum, ok, err = c.s.db.AddDouble(c.s.ctx, key, num); err != nil {
			return false, err
		}
	}
	if !ok {
		return c.sendStatus(false)
	}
	i, f := packDouble(sum)
	return c.send(appendU64(appendU64([]byte{0}, uint64(i)), uint64(f)))
}

// packDouble is TT's wire form of a double: the integer part and the
// fraction times 10^12, both cut toward zero.
func packDouble(d float64) (integ, fract int64) {
	switch {
	case math.IsNaN(d):
		return math.MinInt64, math.MinInt64
	case math.IsInf(d, 1):
		return math.MaxInt64, 0
	case math.IsInf(d, -1):
		return math.MinInt64, 0
	}
	i, f := math.Modf(d)
	return int64(i), int64(f * 1e12)
}

// unpackDouble reverses packDouble.
func unpackDouble(integ, fract int64) float64 {
	switch {
	case integ == math.MinInt64 && fract == math.MinInt64:
		return math.NaN()
	case integ == math.MaxInt64:
		return math.Inf(1)
	case integ == math.MinInt64:
		return math.Inf(-1)
	}
	return float64(integ) + float64(fract)/1e12
}

func (c *conn) ext() (bool, error) {
	c.count(cmdExt)
	sz, err := c.sizes(4)
	if err != nil {
		return false, err
	}
	nsiz, opts := sz[0], uint32(sz[1])
	if nsiz < 0 || nsiz >= maxNameSize || !validSizes(sz[2], sz[3]) {
		return false, nil
	}
	f, err := c.fields(nsiz, sz[2], sz[3])
	if err != nil {
		return false, err
	}
	if c.masked(cmdExt) {
		return c.sendStatus(false)
	}
	result, ok := c.s.callExt(string(f[0]), opts, f[1], f[2])
	if !ok {
		return c.sendStatus(false)
	}
	return c.send(appendField([]byte{0}, result))
}

func (c *conn) sync() (bool, error) {
	c.count(cmdSync)
	if c.masked(cmdSync) {
		return c.sendStatus(false)
	}
	if err := c.s.db.Sync(c.s.ctx); err != nil {
		return false, err
	}
	return c.sendStatus(true)
}

func (c *conn) optimize() (bool, error) {
	c.count(cmdOptimize)
	params, valid, err := c.key()
	if !valid {
		return false, err
	}
	if c.masked(cmdOptimize) {
		return c.sendStatus(false)
	}
	if err := c.s.db.Optimize(c.s.ctx, params); err != nil {
		return false, err
	}
	return c.sendStatus(true)
}

func (c *conn) vanish() (bool, error) {
	c.count(cmdVanish)
	if c.masked(cmdVanish) {
		return c.sendStatus(false)
	}
	if err := c.s.db.Vanish(c.s.ctx); err != nil {
		return false, err
	}
	return c.sendStatus(true)
}

func (c *conn) copyDB() (bool, error) {
	c.count(cmdCopy)
	path, valid, err := c.key()
	if !valid {
		return false, err
	}
	if c.masked(cmdCopy) {
		return c.sendStatus(false)
	}
	return c.sendStatus(c.s.copyTo(string(path)) == nil)
}

func (c *conn) restore() (bool, error) {
	c.count(cmdRestore)
	psiz, err := c.i32()
	if err != nil {
		return false, err
	}
	ts, err := c.u64()
	if err != nil {
		return false, err
	}
	opts, err := c.u32()
	if err != nil {
		return false, err
	}
	if !validSize(psiz) {
		return false, nil
	}
	path, err := c.bytes(psiz)
	if err != nil {
		return false, err
	}
	if c.masked(cmdRestore) {
		return c.sendStatus(false)
	}
	return c.sendStatus(c.s.restoreFrom(string(path), ts, opts&1 != 0) == nil)
}

func (c *conn) setMst() (bool, error) {
	c.count(cmdSetMst)
	sz, err := c.sizes(2)
	if err != nil {
		return false, err
	}
	ts, err := c.u64()
	if err != nil {
		return false, err
	}
	if _, err := c.u32(); err != nil {
		return false, err
	}
	if !validSize(sz[0]) || sz[1] < 0 {
		return false, nil
	}
	host, err := c.bytes(sz[0])
	if err != nil {
		return false, err
	}
	if c.masked(cmdSetMst) {
		return c.sendStatus(false)
	}
	c.s.setMaster(string(host), int(sz[1]), ts)
	return c.sendStatus(true)
}

func (c *conn) rnum() (bool, error) {
	c.count(cmdRNum)
	var n int64
	if !c.masked(cmdRNum) {
		var err error
		if n, err = c.s.db.RNum(c.s.ctx); err != nil {
			return false, err
		}
	}
	return c.send(appendU64([]byte{0}, uint64(n)))
}

func (c *conn) size() (bool, error) {
	c.count(cmdSize)
	var n int64
	if !c.masked(cmdSize) {
		var err error
		if n, err = c.s.db.Size(c.s.ctx); err != nil {
			return false, err
		}
	}
	return c.send(appendU64([]byte{0}, uint64(n)))
}

func (c *conn) stat() (bool, error) {
	c.count(cmdStat)
	text, err := c.s.statText(c.masked(cmdStat))
	if err != nil {
		return false, err
	}
	return c.send(appendField([]byte{0}, text))
}

// misc answers a failure with status 1 and a count of 0, and a masked call
// with status 0 and a count of 0.
func (c *conn) misc() (bool, error) {
	c.count(cmdMisc)
	sz, err := c.sizes(3)
	if err != nil {
		return false, err
	}
	nsiz, opts, n := sz[0], uint32(sz[1]), sz[2]
	if nsiz < 0 || nsiz >= maxNameSize || n < 0 || n > maxArgNum {
		return false, nil
	}
	name, err := c.bytes(nsiz)
	if err != nil {
		return false, err
	}
	args := make([][]byte, 0, min(n, 1024))
	for range n {
		arg, valid, err := c.key()
		if !valid {
			return false, err
		}
		args = append(args, arg)
	}
	if c.masked(cmdMisc) {
		return c.send([]byte{0, 0, 0, 0, 0})
	}
	results, ok, err := c.s.db.Misc(c.s.ctx, string(name), args, opts&miscNoLog != 0)
	if err != nil {
		return false, err
	}
	if !ok {
		return c.send([]byte{1, 0, 0, 0, 0})
	}
	reply := appendU32([]byte{0}, uint32(len(results)))
	for _, r := range results {
		reply = appendField(reply, r)
	}
	return c.send(reply)
}
