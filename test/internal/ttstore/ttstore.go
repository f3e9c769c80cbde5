// Package ttstore presents a database of an embedded.Store with the
// semantics of a Tokyo Tyrant server backed by a Tokyo Cabinet hash, B+
// tree or table database: the put family, TT-native addint/adddouble
// storage (little-endian, as TT on x86), the iterator shared by all
// callers, B+ tree duplicates, table rows with TT's query directives, the
// misc function catalogue and TT's own update log. It is what the TT
// protocol test server (test/tttest) serves; nothing in it knows the wire
// format, and the gateway does not use it.
//
// Records stay ordinary records of the Store, reached through its public
// API, so the Store sees every change: a table database is an
// embedded.Table database, whose rows the Store searches (TT's conditions,
// orders and index rules are the Store's own), and a B+ tree key holds its
// first value. What a plain record cannot hold lives in the DB:
//
//   - the values after the first of a B+ tree key with duplicates. They
//     belong to the value they were added to: once the record is rewritten
//     through the Store's own API they are dropped;
//   - the shared iterator;
//   - the index definitions, to know when Tokyo Cabinet would abort;
//   - the TT update log (LogRecord). It keeps what TT logs and the Store's
//     event log cannot carry: failed operations with their result, and misc
//     calls, reads included. Operations made through the DB are logged
//     there (their changes also reach the Store's event log as ordinary
//     events); writes made through the Store's own API are not.
//
// Every method is safe for concurrent use; operations run one at a time,
// as they run under one lock in the server the DB stands for.
package ttstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// Type is the Tokyo Cabinet database type a DB emulates.
type Type int

// The emulated database types.
const (
	// Hash is a hash database (.tch): one value per key.
	Hash Type = iota
	// BTree is a B+ tree database (.tcb): ordered, with duplicates.
	BTree
	// Table is a table database (.tct): rows of named columns.
	Table
)

// String returns the type's name as TT's stat reports it.
func (t Type) String() string {
	switch t {
	case Hash:
		return "hash"
	case BTree:
		return "B+ tree"
	case Table:
		return "table"
	default:
		return "tttype(" + strconv.Itoa(int(t)) + ")"
	}
}

// Kind is the kind of embedded database that holds a database of type t.
func (t Type) Kind() embedded.Kind {
	switch t {
	case BTree:
		return embedded.Tree
	case Table:
		return embedded.Table
	default:
		return embedded.Hash
	}
}

// Options configure Open.
type Options struct {
	// Type is the emulated database type; the Store's database must be of
	// the matching kind (Type.Kind).
	Type Type
	// ServerID is the origin server id of logged operations; 0 means
	// embedded.DefaultServerID.
	ServerID uint32
	// LogCapacity is how many update-log records are retained, oldest
	// dropped first; 0 means embedded.DefaultLogCapacity.
	LogCapacity int
	// Now is the clock of the log's timestamps; nil means time.Now. Give
	// it the Store's clock.
	Now func() time.Time
}

// DB is one database of a Store seen through Tokyo Tyrant's operations.
// Open one DB per database and keep it: a second one has its own
// duplicates, indexes, iterator and log.
type DB struct {
	s   *embedded.Store
	db  string
	typ Type
	sid uint32
	now func() time.Time

	// mu serialises the operations and guards the fields below.
	mu      sync.Mutex
	dups    map[string]*dups
	indexes map[string]backend.IndexType
	iter    iterState
	// aborted, when not empty, says why Tokyo Cabinet would have aborted
	// the server process; from then on every operation fails with
	// ErrAborted, as nothing answers on a dead server.
	aborted string

	log ttLog
}

// ErrAborted is returned by every operation of a DB after a request that
// makes Tokyo Cabinet fail an assertion and abort the real server: an empty
// value in a column with a lexical or decimal index. A test server serving
// the DB drops its connections, as the dead server's would be.
var ErrAborted = errors.New("ttstore: the emulated Tokyo Tyrant server has aborted")

// iterState is the shared iterator. Unless at is false (start from the
// first record), the next record is key's value number dup, or else the
// first record after key.
type iterState struct {
	at  bool
	key []byte
	dup int
}

// Open returns a TT view of database db of s.
func Open(s *embedded.Store, db string, opts Options) (*DB, error) {
	switch opts.Type {
	case Hash, BTree, Table:
	default:
		return nil, fmt.Errorf("ttstore: unknown database type %d (want Hash, BTree or Table): %w", int(opts.Type), backend.ErrInvalid)
	}
	if opts.LogCapacity < 0 {
		return nil, fmt.Errorf("ttstore: LogCapacity %d is negative: %w", opts.LogCapacity, backend.ErrInvalid)
	}
	st, err := s.Status(context.Background(), db)
	if err != nil {
		return nil, err
	}
	if want := opts.Type.Kind().String(); st.Fields["type"] != want {
		return nil, fmt.Errorf("ttstore: database %q is a %s database; a %s needs a %s one: %w", db, st.Fields["type"], opts.Type, want, backend.ErrInvalid)
	}
	t := &DB{
		s:       s,
		db:      db,
		typ:     opts.Type,
		sid:     opts.ServerID,
		now:     opts.Now,
		dups:    map[string]*dups{},
		indexes: map[string]backend.IndexType{},
	}
	if t.sid == 0 {
		t.sid = embedded.DefaultServerID
	}
	if t.now == nil {
		t.now = time.Now
	}
	t.log.capacity = opts.LogCapacity
	if t.log.capacity == 0 {
		t.log.capacity = embedded.DefaultLogCapacity
	}
	return t, nil
}

// Type returns the emulated database type.
func (t *DB) Type() Type { return t.typ }

// Store returns the Store the view belongs to.
func (t *DB) Store() *embedded.Store { return t.s }

// Aborted reports why the emulated server aborted, or "" while it runs.
func (t *DB) Aborted() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.aborted
}

func (t *DB) abortErr() error {
	return fmt.Errorf("%w: %s: %w", ErrAborted, t.aborted, backend.ErrUnavailable)
}

// op is one TT operation under the DB's lock.
type op struct {
	*DB
	ctx context.Context
	sid uint32 // origin of the logged record
	mid uint32 // server the record came from; 0 when local
	err error  // the first error of the Store, which ends the operation
}

// run runs fn as one operation whose records carry origin sid and master
// mid. An error of the Store during fn is the operation's error.
func (t *DB) run(ctx context.Context, sid, mid uint32, fn func(x *op)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted != "" {
		return t.abortErr()
	}
	x := &op{DB: t, ctx: ctx, sid: sid, mid: mid}
	fn(x)
	if t.aborted != "" {
		return t.abortErr()
	}
	return x.err
}

// local runs fn as an operation of this server.
func (t *DB) local(ctx context.Context, fn func(x *op)) error {
	return t.run(ctx, t.sid, 0, fn)
}

// fail records the first Store error of the operation.
func (x *op) fail(err error) {
	if x.err == nil {
		x.err = err
	}
}

// record logs one TT operation.
func (x *op) record(r LogRecord) {
	r.TS = uint64(max(x.now().UnixMicro(), 0))
	r.OriginSID = x.sid
	r.MasterSID = x.mid
	x.log.append(r)
}

// value returns the live value of key (a B+ tree key's first value).
func (x *op) value(key []byte) ([]byte, bool) {
	rec, found, err := x.s.Get(x.ctx, x.db, key)
	if err != nil {
		x.fail(err)
		return nil, false
	}
	return rec.Value, found
}

// write stores value under key through the Store; false when the Store
// refuses it as invalid (a row it cannot hold).
func (x *op) write(key, value []byte) bool {
	err := x.s.Set(x.ctx, x.db, key, value, backend.Expiry{}, backend.WriteOptions{})
	if errors.Is(err, backend.ErrInvalid) {
		return false
	}
	if err != nil {
		x.fail(err)
		return false
	}
	return true
}

// set stores value under key, dropping duplicates.
func (x *op) set(key, value []byte) bool {
	delete(x.dups, string(key))
	return x.write(key, value)
}

// setFirst replaces the first value of key, keeping its duplicates.
func (x *op) setFirst(key, value []byte) bool {
	rest := x.rest(key)
	if !x.write(key, value) {
		return false
	}
	if len(rest) > 0 {
		x.dups[string(key)] = &dups{first: clone(value), rest: rest}
	} else {
		delete(x.dups, string(key))
	}
	return true
}

// del removes key and its duplicates; false when there was no record.
func (x *op) del(key []byte) bool {
	delete(x.dups, string(key))
	removed, err := x.s.Remove(x.ctx, x.db, key)
	if err != nil {
		x.fail(err)
	}
	return removed
}

// genKey returns a key made by genuid when key is empty on a table.
func (x *op) genKey(key []byte) []byte {
	if x.typ == Table && len(key) == 0 {
		return x.genUID()
	}
	return key
}

// genUID returns the table's next unique id.
func (x *op) genUID() []byte {
	id, err := x.s.TableGenerateID(x.ctx, x.db)
	if err != nil {
		x.fail(err)
		return nil
	}
	return []byte(strconv.FormatInt(id, 10))
}

// PutMode selects a member of TT's put family.
type PutMode int

// The put modes.
const (
	// PutOver stores, overwriting (put, putnr).
	PutOver PutMode = iota
	// PutKeep stores only when the key is absent (putkeep).
	PutKeep
	// PutCat appends to the value, or creates it (putcat). On a table it
	// adds the columns the row does not have yet.
	PutCat
	// PutShl appends and keeps only the last width bytes (putshl).
	PutShl
)

// Put runs put, putkeep, putcat or putshl (width applies to PutShl only)
// and logs it. On a table the value is serialised columns; an empty key on
// put and putcat gets a generated one. ok is TT's success status.
func (t *DB) Put(ctx context.Context, mode PutMode, key, value []byte, width int32) (ok bool, err error) {
	err = t.local(ctx, func(x *op) {
		ok = x.put(mode, key, value, width)
		logged := map[PutMode]Op{PutOver: OpPut, PutKeep: OpPutKeep, PutCat: OpPutCat, PutShl: OpPutShl}[mode]
		x.record(LogRecord{Op: logged, Key: clone(key), Value: clone(value), Width: width, Failed: !ok})
	})
	return ok, err
}

func (x *op) put(mode PutMode, key, value []byte, width int32) bool {
	if mode == PutShl && width < 0 {
		return false
	}
	if mode == PutOver || mode == PutCat {
		key = x.genKey(key)
	}
	if x.typ == Table {
		return x.putRow(mode, key, value, width)
	}
	cur, found := x.value(key)
	switch mode {
	case PutOver:
		return x.set(key, value)
	case PutKeep:
		if found {
			return false
		}
		return x.set(key, value)
	case PutCat:
		return x.setFirst(key, concat(cur, value))
	default: // PutShl
		if !found {
			return x.setFirst(key, value)
		}
		nv := concat(cur, value)
		if len(nv) > int(width) {
			nv = nv[len(nv)-int(width):]
		}
		return x.setFirst(key, nv)
	}
}

// concat returns a new slice holding a then b.
func concat(a, b []byte) []byte {
	c := make([]byte, 0, len(a)+len(b))
	return append(append(c, a...), b...)
}

// clone returns a copy of b; nil stays nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Out removes a record (on a B+ tree, only the key's first value) and logs
// it. ok is false when there was no record.
func (t *DB) Out(ctx context.Context, key []byte) (ok bool, err error) {
	err = t.local(ctx, func(x *op) {
		ok = x.out(key)
		x.record(LogRecord{Op: OpOut, Key: clone(key), Failed: !ok})
	})
	return ok, err
}

func (x *op) out(key []byte) bool {
	if x.typ == BTree {
		if rest := x.rest(key); len(rest) > 0 {
			if !x.write(key, rest[0]) {
				return false
			}
			if len(rest) > 1 {
				x.dups[string(key)] = &dups{first: rest[0], rest: rest[1:]}
			} else {
				delete(x.dups, string(key))
			}
			return true
		}
	}
	return x.del(key)
}

// Get reads a value (a B+ tree key's first value; a table row's serialised
// columns).
func (t *DB) Get(ctx context.Context, key []byte) (value []byte, found bool, err error) {
	err = t.local(ctx, func(x *op) { value, found = x.value(key) })
	return value, found, err
}

// KV is a key and a value.
type KV struct {
	Key, Value []byte
}

// MGet reads many keys and returns those found, in the order asked.
func (t *DB) MGet(ctx context.Context, keys [][]byte) ([]KV, error) {
	var out []KV
	err := t.local(ctx, func(x *op) {
		for _, k := range keys {
			if v, ok := x.value(k); ok {
				out = append(out, KV{Key: clone(k), Value: v})
			}
		}
	})
	return out, err
}

// VSiz returns the size of a value. On a table it is the size of Tokyo
// Cabinet's internal row form (varnum lengths), as TT reports it.
func (t *DB) VSiz(ctx context.Context, key []byte) (size int, found bool, err error) {
	err = t.local(ctx, func(x *op) {
		var v []byte
		if v, found = x.value(key); !found {
			return
		}
		if x.typ == Table {
			size = internalSize(v)
		} else {
			size = len(v)
		}
	})
	return size, found, err
}

// IterInit resets the shared iterator to the first record.
func (t *DB) IterInit(ctx context.Context) error {
	return t.IterInitAt(ctx, nil)
}

// IterInitAt resets the shared iterator to the first record at or after key
// (nil: the first record).
func (t *DB) IterInitAt(ctx context.Context, key []byte) error {
	return t.local(ctx, func(x *op) { x.iter = iterState{at: key != nil, key: clone(key)} })
}

// IterNext returns the next key and value of the shared iterator; ok is
// false at the end. On a B+ tree each duplicate is a step of its own.
func (t *DB) IterNext(ctx context.Context) (key, value []byte, ok bool, err error) {
	err = t.local(ctx, func(x *op) { key, value, ok = x.iterNext() })
	return key, value, ok, err
}

func (x *op) iterNext() (key, value []byte, ok bool) {
	it := &x.iter
	var from []byte
	if it.at {
		from = it.key
	}
	recs := x.scan(backend.ScanOptions{Start: from, Limit: 2})
	dup := 0
	if it.at && len(recs) > 0 && string(recs[0].Key) == string(it.key) {
		dup = it.dup
		if dup >= len(x.values(recs[0])) {
			recs, dup = recs[1:], 0
		}
	}
	if len(recs) == 0 {
		return nil, nil, false
	}
	vals := x.values(recs[0])
	it.at, it.key, it.dup = true, recs[0].Key, dup+1
	return recs[0].Key, vals[dup], true
}

// scan returns the records Scan selects.
func (x *op) scan(opts backend.ScanOptions) []backend.Record {
	var out []backend.Record
	err := x.s.Scan(x.ctx, x.db, opts, func(batch []backend.Record) error {
		out = append(out, batch...)
		return nil
	})
	if err != nil {
		x.fail(err)
	}
	return out
}

// FwmKeys lists the keys that start with prefix, at most limit of them
// (limit < 0: no limit).
func (t *DB) FwmKeys(ctx context.Context, prefix []byte, limit int) ([][]byte, error) {
	if limit == 0 {
		return nil, ctx.Err()
	}
	var keys [][]byte
	err := t.local(ctx, func(x *op) {
		for _, r := range x.scan(backend.ScanOptions{Prefix: prefix, KeysOnly: true, Limit: int64(max(limit, 0))}) {
			keys = append(keys, r.Key)
		}
	})
	return keys, err
}

// AddInt adds num to a 4-byte native (little-endian) integer record, or on
// a table to the decimal column "_num", and returns the sum. A missing
// record starts at 0. ok is false when the value is not 4 bytes long, and
// also when the sum is math.MinInt32: that is Tokyo Cabinet's failure value,
// so the server reports failure although the sum is stored. Adding 0 is not
// logged, as in TT.
func (t *DB) AddInt(ctx context.Context, key []byte, num int32) (sum int32, ok bool, err error) {
	err = t.local(ctx, func(x *op) {
		sum, ok = x.addInt(key, num)
		if num != 0 {
			x.record(LogRecord{Op: OpAddInt, Key: clone(key), Int: num, Failed: !ok})
		}
	})
	return sum, ok, err
}

func (x *op) addInt(key []byte, num int32) (int32, bool) {
	key = x.genKey(key)
	if x.typ == Table {
		row, _ := x.value(key)
		cur, _ := column(ttwire.DecodeColumns(row), numColumn)
		sum := int32(atoi(string(cur))) + num
		return sum, x.set(key, withColumns(row, []byte(numColumn+"\x00"+strconv.FormatInt(int64(sum), 10)))) && sum != math.MinInt32
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
	buf := binary.LittleEndian.AppendUint32(nil, uint32(sum))
	return sum, x.setFirst(key, buf) && sum != math.MinInt32
}

// AddDouble adds num to an 8-byte native (little-endian IEEE) double
// record, or on a table to the column "_num", and returns the sum. The
// rules are AddInt's.
func (t *DB) AddDouble(ctx context.Context, key []byte, num float64) (sum float64, ok bool, err error) {
	err = t.local(ctx, func(x *op) {
		sum, ok = x.addDouble(key, num)
		if num != 0 {
			x.record(LogRecord{Op: OpAddDouble, Key: clone(key), Double: num, Failed: !ok})
		}
	})
	return sum, ok, err
}

func (x *op) addDouble(key []byte, num float64) (float64, bool) {
	key = x.genKey(key)
	if x.typ == Table {
		row, _ := x.value(key)
		cur, _ := column(ttwire.DecodeColumns(row), numColumn)
		sum := atof(string(cur)) + num
		return sum, x.set(key, withColumns(row, []byte(numColumn+"\x00"+strconv.FormatFloat(sum, 'f', -1, 64))))
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
	buf := binary.LittleEndian.AppendUint64(nil, math.Float64bits(sum))
	return sum, x.setFirst(key, buf)
}

// Sync does nothing but log: the data lives in memory.
func (t *DB) Sync(ctx context.Context) error {
	return t.local(ctx, func(x *op) { x.record(LogRecord{Op: OpSync}) })
}

// Optimize accepts any tuning parameters and logs them; there is nothing
// to tune in memory.
func (t *DB) Optimize(ctx context.Context, params []byte) error {
	return t.local(ctx, func(x *op) { x.record(LogRecord{Op: OpOptimize, Params: clone(params)}) })
}

// Vanish removes every record and logs it.
func (t *DB) Vanish(ctx context.Context) error {
	return t.local(ctx, func(x *op) {
		x.vanish()
		x.record(LogRecord{Op: OpVanish})
	})
}

// vanish clears the database. A table's generated ids start again from 1:
// Tokyo Cabinet keeps the counter in the file's header, which vanish
// rewrites, and the Store's Clear does the same.
func (x *op) vanish() {
	clear(x.dups)
	if err := x.s.Clear(x.ctx, x.db); err != nil {
		x.fail(err)
	}
}

// RNum counts the records; on a B+ tree every duplicate counts.
func (t *DB) RNum(ctx context.Context) (int64, error) {
	var n int64
	err := t.local(ctx, func(x *op) {
		n = x.status().Count
		for k := range x.dups {
			n += int64(len(x.rest([]byte(k))))
		}
	})
	return n, err
}

// Size returns the key and value bytes of the live records.
func (t *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	err := t.local(ctx, func(x *op) { n = x.status().Size })
	return n, err
}

func (x *op) status() backend.Status {
	st, err := x.s.Status(x.ctx, x.db)
	if err != nil {
		x.fail(err)
	}
	return st
}

// atoi reads a leading decimal integer as Tokyo Cabinet's tcatoi does:
// control characters and spaces (bytes 1 to 32) are skipped, then an
// optional sign and digits; anything else ends it.
func atoi(s string) int64 {
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

// leadingNumber is the part of a text that Tokyo Cabinet's tcatof reads:
// after control characters and spaces, a sign, digits with a fraction, and
// an exponent when one follows.
var leadingNumber = regexp.MustCompile(`^[\x01-\x20]*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)`)

// atof reads a leading decimal number as Tokyo Cabinet's tcatof does; text
// that is not a number reads as 0.
func atof(s string) float64 {
	m := leadingNumber.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	return f
}
