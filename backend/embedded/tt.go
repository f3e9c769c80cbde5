package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// TTType is the Tokyo Cabinet database type a TTDB emulates.
type TTType int

// The emulated database types.
const (
	// TTHash is a hash database (.tch): one value per key.
	TTHash TTType = iota
	// TTBTree is a B+ tree database (.tcb): ordered, with duplicates.
	TTBTree
	// TTTable is a table database (.tct): rows of named columns.
	TTTable
)

// String returns the type's name as TT's stat reports it.
func (t TTType) String() string {
	switch t {
	case TTHash:
		return "hash"
	case TTBTree:
		return "B+ tree"
	case TTTable:
		return "table"
	default:
		return "tttype(" + strconv.Itoa(int(t)) + ")"
	}
}

// TTOptions configure OpenTT.
type TTOptions struct {
	// Type is the emulated database type.
	Type TTType
	// ServerID is the origin server id of logged operations; 0 means the
	// Store's ServerID.
	ServerID uint32
	// LogCapacity is how many TT update-log records are retained, oldest
	// dropped first; 0 means DefaultLogCapacity.
	LogCapacity int
}

// TTDB is a database seen through Tokyo Tyrant's operations: it presents
// one database of the Store with the semantics of a Tokyo Tyrant server
// backed by a Tokyo Cabinet hash, B+ tree or table database. That covers
// the put family, TT-native addint/adddouble storage (little-endian, as TT
// on x86), the iterator shared by all callers, B+ tree duplicates, table
// rows with their query language, the misc function catalogue and TT's own
// update log. It is what the TT protocol test server serves; nothing in it
// knows the wire format. Every method is safe for concurrent use.
//
// Records stay ordinary records of the database, so the Store's own API
// sees every change: a table row is stored as its serialised columns
// ("name NUL value NUL ..."), a B+ tree key as its first value. State that
// a plain record cannot hold lives in the TTDB and is guarded by the
// Store's lock:
//
//   - the values after the first of a B+ tree key with duplicates. They
//     belong to the record they were added to: once the record is
//     rewritten through the Store's own API they are dropped;
//   - the table index definitions (searches always scan, and their hints
//     say so) and the unique-id counter of genuid;
//   - the shared iterator;
//   - the TT update log (TTLogRecord). It keeps what TT logs and the
//     Store's event log cannot carry: failed operations with their result,
//     and misc calls, reads included. It is a log of its own, numbered by
//     TTLogRecord.Seq, because Store events are KT-style changes that
//     Subscribe delivers to every consumer. Operations made through the
//     TTDB are logged there (their changes also reach the Store's event
//     log as ordinary events); writes made through the Store's own API are
//     not.
//
// Open one TTDB per database and keep it: a second one has its own
// duplicates, indexes, iterator and log.
type TTDB struct {
	s   *Store
	d   *database
	typ TTType
	sid uint32

	// Guarded by s.mu.
	dups    map[string]*ttDups
	indexes map[string]int
	uid     int64
	iter    ttIter
	log     ttLog
	// aborted, when not empty, says why Tokyo Cabinet would have aborted
	// the server process; from then on every operation fails with
	// ErrTTAborted, as nothing answers on a dead server.
	aborted string
}

// ErrTTAborted is returned by every operation of a TTDB after a request that
// makes Tokyo Cabinet fail an assertion and abort the real server: an empty
// value in a column with a lexical or decimal index. A test server serving
// the TTDB drops its connections, as the dead server's would be.
var ErrTTAborted = errors.New("embedded: the emulated Tokyo Tyrant server has aborted")

// abortErr is the error of every operation after an abort.
func (t *TTDB) abortErr() error {
	return fmt.Errorf("%w: %s: %w", ErrTTAborted, t.aborted, backend.ErrUnavailable)
}

// Aborted reports why the emulated server aborted, or "" while it runs.
func (t *TTDB) Aborted() string {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	return t.aborted
}

// ttIter is the shared iterator. Unless at is false (start from the first
// record), the next record is key's value number dup, or else the first
// record after key.
type ttIter struct {
	at  bool
	key []byte
	dup int
}

// OpenTT returns a TT view of database db.
func (s *Store) OpenTT(db string, opts TTOptions) (*TTDB, error) {
	d, err := s.database(db)
	if err != nil {
		return nil, err
	}
	switch opts.Type {
	case TTHash, TTBTree, TTTable:
	default:
		return nil, fmt.Errorf("embedded: unknown TT database type %d (want TTHash, TTBTree or TTTable): %w", int(opts.Type), backend.ErrInvalid)
	}
	if opts.LogCapacity < 0 {
		return nil, fmt.Errorf("embedded: TT LogCapacity %d is negative: %w", opts.LogCapacity, backend.ErrInvalid)
	}
	t := &TTDB{
		s:       s,
		d:       d,
		typ:     opts.Type,
		sid:     opts.ServerID,
		dups:    map[string]*ttDups{},
		indexes: map[string]int{},
	}
	if t.sid == 0 {
		t.sid = s.serverID
	}
	t.log.capacity = opts.LogCapacity
	if t.log.capacity == 0 {
		t.log.capacity = DefaultLogCapacity
	}
	return t, nil
}

// Type returns the emulated database type.
func (t *TTDB) Type() TTType { return t.typ }

// Store returns the Store the view belongs to.
func (t *TTDB) Store() *Store { return t.s }

// ttTxn is one TT operation under the Store's write lock.
type ttTxn struct {
	*txn
	tt  *TTDB
	sid uint32 // origin of the logged record
	mid uint32 // server the record came from; 0 when local
}

// update runs fn under the write lock. Records fn logs carry origin sid and
// master mid.
func (t *TTDB) update(ctx context.Context, cmd string, sid, mid uint32, fn func(x *ttTxn) error) error {
	return t.s.update(ctx, t.d, cmd, func(tx *txn) error {
		if t.aborted != "" {
			return t.abortErr()
		}
		err := fn(&ttTxn{txn: tx, tt: t, sid: sid, mid: mid})
		if t.aborted != "" {
			return t.abortErr()
		}
		return err
	})
}

// local runs fn as an operation of this server.
func (t *TTDB) local(ctx context.Context, cmd string, fn func(x *ttTxn) error) error {
	return t.update(ctx, cmd, t.sid, 0, fn)
}

// view runs fn under the read lock.
func (t *TTDB) view(ctx context.Context, fn func(now time.Time) error) error {
	return t.s.view(ctx, t.d, func(_ *database, now time.Time) error {
		if t.aborted != "" {
			return t.abortErr()
		}
		return fn(now)
	})
}

// record logs one TT operation.
func (x *ttTxn) record(r TTLogRecord) {
	r.TS = uint64(max(x.now.UnixMicro(), 0))
	r.OriginSID = x.sid
	r.MasterSID = x.mid
	x.tt.log.append(r)
}

// value returns the live value of key (a B+ tree key's first value).
func (x *ttTxn) value(key []byte) ([]byte, bool) {
	r, found, purged := x.lookup(key)
	if purged {
		x.logRemove(key)
	}
	if !found {
		return nil, false
	}
	return r.value, true
}

// set stores value (owned by the store) under key, dropping duplicates.
func (x *ttTxn) set(key, value []byte) {
	delete(x.tt.dups, string(key))
	x.store(own(key), value, backend.Expiry{})
}

// setFirst replaces the first value of key, keeping its duplicates.
func (x *ttTxn) setFirst(key, value []byte) {
	rest := x.tt.rest(x.d, key, x.now)
	r := x.store(own(key), value, backend.Expiry{})
	if len(rest) > 0 {
		x.tt.dups[string(key)] = &ttDups{first: r.value, rest: rest}
	} else {
		delete(x.tt.dups, string(key))
	}
}

// del removes key and its duplicates; false when there was no live record.
func (x *ttTxn) del(key []byte) bool {
	delete(x.tt.dups, string(key))
	if _, found, purged := x.lookup(key); !found {
		if purged {
			x.logRemove(key)
		}
		return false
	}
	x.remove(key)
	return true
}

// genKey returns a key made by genuid when key is empty on a table.
func (x *ttTxn) genKey(key []byte) []byte {
	if x.tt.typ == TTTable && len(key) == 0 {
		x.tt.uid++
		return []byte(strconv.FormatInt(x.tt.uid, 10))
	}
	return key
}

// TTPutMode selects a member of TT's put family.
type TTPutMode int

// The put modes.
const (
	// TTPutOver stores, overwriting (put, putnr).
	TTPutOver TTPutMode = iota
	// TTPutKeep stores only when the key is absent (putkeep).
	TTPutKeep
	// TTPutCat appends to the value, or creates it (putcat). On a table it
	// adds the columns the row does not have yet.
	TTPutCat
	// TTPutShl appends and keeps only the last width bytes (putshl).
	TTPutShl
)

// Put runs put, putkeep, putcat or putshl (width applies to TTPutShl only)
// and logs it. On a table the value is serialised columns; an empty key on
// put and putcat gets a generated one. ok is TT's success status.
func (t *TTDB) Put(ctx context.Context, mode TTPutMode, key, value []byte, width int32) (ok bool, err error) {
	err = t.local(ctx, "tt_put", func(x *ttTxn) error {
		ok = x.put(mode, key, value, width)
		op := map[TTPutMode]TTOp{TTPutOver: TTOpPut, TTPutKeep: TTOpPutKeep, TTPutCat: TTOpPutCat, TTPutShl: TTOpPutShl}[mode]
		x.record(TTLogRecord{Op: op, Key: own(key), Value: own(value), Width: width, Failed: !ok})
		return nil
	})
	return ok, err
}

func (x *ttTxn) put(mode TTPutMode, key, value []byte, width int32) bool {
	if mode == TTPutShl && width < 0 {
		return false
	}
	if mode == TTPutOver || mode == TTPutCat {
		key = x.genKey(key)
	}
	if x.tt.typ == TTTable {
		return x.putRow(mode, key, ttParseRow(value), width, value)
	}
	cur, found := x.value(key)
	switch mode {
	case TTPutOver:
		x.set(key, own(value))
	case TTPutKeep:
		if found {
			return false
		}
		x.set(key, own(value))
	case TTPutCat:
		x.setFirst(key, ttConcat(cur, value))
	case TTPutShl:
		if !found {
			x.setFirst(key, own(value))
			return true
		}
		nv := ttConcat(cur, value)
		if len(nv) > int(width) {
			nv = nv[len(nv)-int(width):]
		}
		x.setFirst(key, nv)
	}
	return true
}

// ttConcat returns a new slice holding a then b.
func ttConcat(a, b []byte) []byte {
	c := make([]byte, 0, len(a)+len(b))
	return append(append(c, a...), b...)
}

// Out removes a record (on a B+ tree, only the key's first value) and logs
// it. ok is false when there was no record.
func (t *TTDB) Out(ctx context.Context, key []byte) (ok bool, err error) {
	err = t.local(ctx, "tt_out", func(x *ttTxn) error {
		ok = x.out(key)
		x.record(TTLogRecord{Op: TTOpOut, Key: own(key), Failed: !ok})
		return nil
	})
	return ok, err
}

func (x *ttTxn) out(key []byte) bool {
	if x.tt.typ == TTBTree {
		rest := x.tt.rest(x.d, key, x.now)
		if len(rest) > 0 {
			if _, found := x.value(key); found {
				r := x.store(own(key), rest[0], backend.Expiry{})
				if len(rest) > 1 {
					x.tt.dups[string(key)] = &ttDups{first: r.value, rest: rest[1:]}
				} else {
					delete(x.tt.dups, string(key))
				}
				return true
			}
		}
	}
	return x.del(key)
}

// Get reads a value (a B+ tree key's first value; a table row's serialised
// columns).
func (t *TTDB) Get(ctx context.Context, key []byte) (value []byte, found bool, err error) {
	err = t.view(ctx, func(now time.Time) error {
		r, ok := t.d.live(key, now)
		if ok {
			value, found = own(r.value), true
		}
		return nil
	})
	return value, found, err
}

// TTKV is a key and a value.
type TTKV struct {
	Key, Value []byte
}

// MGet reads many keys and returns those found, in the order asked.
func (t *TTDB) MGet(ctx context.Context, keys [][]byte) ([]TTKV, error) {
	var out []TTKV
	err := t.view(ctx, func(now time.Time) error {
		for _, k := range keys {
			if r, ok := t.d.live(k, now); ok {
				out = append(out, TTKV{Key: own(k), Value: own(r.value)})
			}
		}
		return nil
	})
	return out, err
}

// VSiz returns the size of a value. On a table it is the size of Tokyo
// Cabinet's internal row form (varnum lengths), as TT reports it.
func (t *TTDB) VSiz(ctx context.Context, key []byte) (size int, found bool, err error) {
	err = t.view(ctx, func(now time.Time) error {
		r, ok := t.d.live(key, now)
		if !ok {
			return nil
		}
		found = true
		if t.typ == TTTable {
			size = ttParseRow(r.value).internalSize()
		} else {
			size = len(r.value)
		}
		return nil
	})
	return size, found, err
}

// IterInit resets the shared iterator to the first record.
func (t *TTDB) IterInit(ctx context.Context) error {
	return t.IterInitAt(ctx, nil)
}

// IterInitAt resets the shared iterator to the first record at or after key
// (nil: the first record).
func (t *TTDB) IterInitAt(ctx context.Context, key []byte) error {
	return t.s.update(ctx, t.d, "tt_iterinit", func(tx *txn) error {
		t.iter = ttIter{at: key != nil, key: own(key)}
		return nil
	})
}

// IterNext returns the next key and value of the shared iterator; ok is
// false at the end. On a B+ tree each duplicate is a step of its own.
func (t *TTDB) IterNext(ctx context.Context) (key, value []byte, ok bool, err error) {
	err = t.s.update(ctx, t.d, "tt_iternext", func(tx *txn) error {
		key, value, ok = t.iterNext(tx.now)
		return nil
	})
	return key, value, ok, err
}

func (t *TTDB) iterNext(now time.Time) (key, value []byte, ok bool) {
	it := &t.iter
	var r record
	var found bool
	dup := 0
	if !it.at {
		r, found = t.d.firstFrom(nil, true, now)
	} else {
		r, found = t.d.firstFrom(it.key, true, now)
		if found && bytes.Equal(r.key, it.key) {
			dup = it.dup
			if dup >= len(t.values(r, now)) {
				r, found = t.d.firstFrom(it.key, false, now)
				dup = 0
			}
		}
	}
	if !found {
		return nil, nil, false
	}
	vals := t.values(r, now)
	it.at, it.key, it.dup = true, r.key, dup+1
	return own(r.key), own(vals[dup]), true
}

// FwmKeys lists the keys that start with prefix, at most max of them (max
// < 0: no limit).
func (t *TTDB) FwmKeys(ctx context.Context, prefix []byte, max int) ([][]byte, error) {
	var keys [][]byte
	if max == 0 {
		return nil, ctx.Err()
	}
	err := t.view(ctx, func(now time.Time) error {
		t.d.recs.AscendGreaterOrEqual(record{key: prefix}, func(r record) bool {
			if !bytes.HasPrefix(r.key, prefix) {
				return false
			}
			if r.expired(now) {
				return true
			}
			keys = append(keys, own(r.key))
			return max < 0 || len(keys) < max
		})
		return nil
	})
	return keys, err
}

// AddInt adds num to a 4-byte native (little-endian) integer record, or on
// a table to the decimal column "_num", and returns the sum. A missing
// record starts at 0. ok is false when the value is not 4 bytes long, and
// also when the sum is math.MinInt32: that is Tokyo Cabinet's failure value,
// so the server reports failure although the sum is stored. Adding 0 is not
// logged, as in TT.
func (t *TTDB) AddInt(ctx context.Context, key []byte, num int32) (sum int32, ok bool, err error) {
	err = t.local(ctx, "tt_addint", func(x *ttTxn) error {
		sum, ok = x.addInt(key, num)
		if num != 0 {
			x.record(TTLogRecord{Op: TTOpAddInt, Key: own(key), Int: num, Failed: !ok})
		}
		return nil
	})
	return sum, ok, err
}

func (x *ttTxn) addInt(key []byte, num int32) (int32, bool) {
	key = x.genKey(key)
	if x.tt.typ == TTTable {
		row, _ := x.row(key)
		cur, _ := row.get(ttNumColumn)
		sum := int32(ttAtoi(string(cur))) + num
		row.set(ttNumColumn, []byte(strconv.FormatInt(int64(sum), 10)))
		x.set(key, row.encode())
		return sum, sum != math.MinInt32
	}
	cur, found := x.value(key)
	var sum int32
	switch {
	case !found:
		sum = num
	case len(cur) != 4:
		return 0, false
	default:
		sum = int32(binary.LittleEndian.Uint32(cur)) + num
	}
	buf := make([]byte, 4)
	binary.LittleEndian.PutUint32(buf, uint32(sum))
	x.setFirst(key, buf)
	return sum, sum != math.MinInt32
}

// AddDouble adds num to an 8-byte native (little-endian IEEE) double
// record, or on a table to the column "_num", and returns the sum. The
// rules are AddInt's.
func (t *TTDB) AddDouble(ctx context.Context, key []byte, num float64) (sum float64, ok bool, err error) {
	err = t.local(ctx, "tt_adddouble", func(x *ttTxn) error {
		sum, ok = x.addDouble(key, num)
		if num != 0 {
			x.record(TTLogRecord{Op: TTOpAddDouble, Key: own(key), Double: num, Failed: !ok})
		}
		return nil
	})
	return sum, ok, err
}

func (x *ttTxn) addDouble(key []byte, num float64) (float64, bool) {
	key = x.genKey(key)
	if x.tt.typ == TTTable {
		row, _ := x.row(key)
		cur, _ := row.get(ttNumColumn)
		sum := ttAtof(string(cur)) + num
		row.set(ttNumColumn, []byte(strconv.FormatFloat(sum, 'f', -1, 64)))
		x.set(key, row.encode())
		return sum, true
	}
	cur, found := x.value(key)
	var sum float64
	switch {
	case !found:
		sum = num
	case len(cur) != 8:
		return 0, false
	default:
		sum = math.Float64frombits(binary.LittleEndian.Uint64(cur)) + num
	}
	buf := make([]byte, 8)
	binary.LittleEndian.PutUint64(buf, math.Float64bits(sum))
	x.setFirst(key, buf)
	return sum, true
}

// Sync does nothing but log: the data lives in memory.
func (t *TTDB) Sync(ctx context.Context) error {
	return t.local(ctx, "tt_sync", func(x *ttTxn) error {
		x.record(TTLogRecord{Op: TTOpSync})
		return nil
	})
}

// Optimize accepts any tuning parameters and logs them; there is nothing
// to tune in memory.
func (t *TTDB) Optimize(ctx context.Context, params []byte) error {
	return t.local(ctx, "tt_optimize", func(x *ttTxn) error {
		x.record(TTLogRecord{Op: TTOpOptimize, Params: own(params)})
		return nil
	})
}

// Vanish removes every record and logs it.
func (t *TTDB) Vanish(ctx context.Context) error {
	return t.local(ctx, "tt_vanish", func(x *ttTxn) error {
		x.vanish()
		x.record(TTLogRecord{Op: TTOpVanish})
		return nil
	})
}

func (x *ttTxn) vanish() {
	x.d.clear()
	clear(x.tt.dups)
	// Tokyo Cabinet keeps the genuid counter in the database file's header,
	// which vanish rewrites: ids start again from 1.
	x.tt.uid = 0
	x.txn.log(backend.OpClear, nil, nil, time.Time{})
}

// RNum counts the records; on a B+ tree every duplicate counts.
func (t *TTDB) RNum(ctx context.Context) (int64, error) {
	var n int64
	err := t.view(ctx, func(now time.Time) error {
		n, _ = t.d.stats(now)
		for k := range t.dups {
			n += int64(len(t.rest(t.d, []byte(k), now)))
		}
		return nil
	})
	return n, err
}

// Size returns the key and value bytes of the live records.
func (t *TTDB) Size(ctx context.Context) (int64, error) {
	var n int64
	err := t.view(ctx, func(now time.Time) error {
		_, n = t.d.stats(now)
		return nil
	})
	return n, err
}

// ttAtoi reads a leading decimal integer as Tokyo Cabinet's tcatoi does:
// control characters and spaces (bytes 1 to 32) are skipped, then an
// optional sign and digits; anything else ends it.
func ttAtoi(s string) int64 {
	i := 0
	for i < len(s) && s[i] > 0 && s[i] <= ' ' {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// ttAtof reads a leading decimal number as Tokyo Cabinet's tcatof does;
// text that is not a number reads as 0.
func ttAtof(s string) float64 { return ttParseNumber(s, true) }

// ttNumber reads a number as Tokyo Cabinet's table conditions and orders
// do: like ttAtof but without an exponent, so "1e2" is 1 while "1.9" stays
// 1.9, as the real server answers.
func ttNumber(s string) float64 { return ttParseNumber(s, false) }

// ttParseNumber reads a leading decimal number, with an exponent when
// exponent is true; text that is not a number reads as 0.
func ttParseNumber(s string, exponent bool) float64 {
	i := 0
	for i < len(s) && s[i] > 0 && s[i] <= ' ' {
		i++
	}
	j := i
	if j < len(s) && (s[j] == '-' || s[j] == '+') {
		j++
	}
	digits := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0
	}
	if exponent && j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '-' || s[k] == '+') {
			k++
		}
		if k < len(s) && s[k] >= '0' && s[k] <= '9' {
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			j = k
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s[i:j], "."), 64)
	if err != nil {
		return 0
	}
	return f
}
