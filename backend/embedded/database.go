package embedded

import (
	"bytes"
	"strconv"
	"time"

	"github.com/google/btree"
)

// btreeDegree trades node size against depth; 32 keeps nodes within a few
// cache lines of pointers for typical key sizes.
const btreeDegree = 32

// record is one stored record. Its slices are owned by the store and never
// modified after the record is built, so the update log and cursors may share
// them; anything handed to a caller is copied.
type record struct {
	key    []byte
	value  []byte
	expire time.Time // zero: never
}

// expired reports whether r is past its expiration at now.
func (r record) expired(now time.Time) bool {
	return !r.expire.IsZero() && !now.Before(r.expire)
}

// size is what r adds to the database size.
func (r record) size() int64 { return int64(len(r.key) + len(r.value)) }

// expiryEntry indexes a record that expires, ordered by time, so that counts
// and sweeps look only at the records that are due.
type expiryEntry struct {
	at  time.Time
	key []byte
}

func lessRecord(a, b record) bool { return bytes.Compare(a.key, b.key) < 0 }

func lessExpiry(a, b expiryEntry) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.key, b.key) < 0
}

// database is one keyspace of a Store. Its fields are guarded by Store.mu,
// except the configuration (index, name, kind), which never changes.
type database struct {
	index int
	name  string
	kind  Kind

	recs *btree.BTreeG[record]
	exps *btree.BTreeG[expiryEntry]
	size int64 // key and value bytes of every stored record, expired or not

	// table is the state of a Table database beyond its rows; nil for the
	// other kinds.
	table *tableState
}

func newDatabase(index int, name string, kind Kind) *database {
	d := &database{
		index: index,
		name:  name,
		kind:  kind,
		recs:  btree.NewG(btreeDegree, lessRecord),
		exps:  btree.NewG(btreeDegree, lessExpiry),
	}
	if kind == Table {
		d.table = newTableState()
	}
	return d
}

// get returns the stored record for key, expired or not.
func (d *database) get(key []byte) (record, bool) {
	return d.recs.Get(record{key: key})
}

// live returns the record for key unless it is missing or expired.
func (d *database) live(key []byte, now time.Time) (record, bool) {
	r, ok := d.recs.Get(record{key: key})
	if !ok || r.expired(now) {
		return record{}, false
	}
	return r, true
}

// put stores r, replacing any record with the same key.
func (d *database) put(r record) {
	old, replaced := d.recs.ReplaceOrInsert(r)
	if replaced {
		d.size -= old.size()
		if !old.expire.IsZero() {
			d.exps.Delete(expiryEntry{at: old.expire, key: old.key})
		}
	}
	d.size += r.size()
	if !r.expire.IsZero() {
		d.exps.ReplaceOrInsert(expiryEntry{at: r.expire, key: r.key})
	}
}

// del removes the record for key, expired or not.
func (d *database) del(key []byte) (record, bool) {
	old, ok := d.recs.Delete(record{key: key})
	if !ok {
		return record{}, false
	}
	d.size -= old.size()
	if !old.expire.IsZero() {
		d.exps.Delete(expiryEntry{at: old.expire, key: old.key})
	}
	return old, true
}

// clear removes every record. A table keeps its indexes and restarts its
// generated ids from 1, as Tokyo Cabinet's vanish does.
func (d *database) clear() {
	d.recs = btree.NewG(btreeDegree, lessRecord)
	d.exps = btree.NewG(btreeDegree, lessExpiry)
	d.size = 0
	if d.table != nil {
		d.table.uid = 0
	}
}

// stats counts the live records and their bytes at now. Only the records
// already due are visited, not the whole database.
func (d *database) stats(now time.Time) (count, size int64) {
	count, size = int64(d.recs.Len()), d.size
	d.exps.Ascend(func(e expiryEntry) bool {
		if now.Before(e.at) {
			return false
		}
		if r, ok := d.recs.Get(record{key: e.key}); ok {
			count--
			size -= r.size()
		}
		return true
	})
	return count, size
}

// due lists up to limit keys (0: all) whose records have expired at now.
func (d *database) due(now time.Time, limit int) [][]byte {
	var keys [][]byte
	d.exps.Ascend(func(e expiryEntry) bool {
		if now.Before(e.at) || (limit > 0 && len(keys) >= limit) {
			return false
		}
		keys = append(keys, e.key)
		return true
	})
	return keys
}

// firstFrom returns the first live record with a key after key (at or after
// it when inclusive); a nil key means from the first record.
func (d *database) firstFrom(key []byte, inclusive bool, now time.Time) (record, bool) {
	return nearest(key, inclusive, now, d.recs.Ascend, d.recs.AscendGreaterOrEqual)
}

// lastTo returns the last live record with a key before key (at or before it
// when inclusive); a nil key means from the last record.
func (d *database) lastTo(key []byte, inclusive bool, now time.Time) (record, bool) {
	return nearest(key, inclusive, now, d.recs.Descend, d.recs.DescendLessOrEqual)
}

// nearest returns the first live record of a walk from key, passing over
// key itself unless inclusive. all and from are the tree's walks in one
// direction: over every record (used for a nil key) and from a pivot on.
func nearest(key []byte, inclusive bool, now time.Time, all func(btree.ItemIteratorG[record]), from func(record, btree.ItemIteratorG[record])) (record, bool) {
	var found record
	var ok bool
	visit := func(r record) bool {
		if (!inclusive && key != nil && bytes.Equal(r.key, key)) || r.expired(now) {
			return true
		}
		found, ok = r, true
		return false
	}
	if key == nil {
		all(visit)
	} else {
		from(record{key: key}, visit)
	}
	return found, ok
}

// own returns a store-owned copy of b; never nil, so that an empty value
// stays distinguishable from an absent one.
func own(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// quoteKey formats a key for an error message, shortened when long.
func quoteKey(k []byte) string {
	const max = 64
	if len(k) > max {
		return strconv.Quote(string(k[:max])) + "..."
	}
	return strconv.Quote(string(k))
}
