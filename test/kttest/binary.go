package kttest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Binary protocol magic bytes.
const (
	magicNOP         = 0xB0
	magicReplication = 0xB1
	magicPlayScript  = 0xB4
	magicSetBulk     = 0xB8
	magicRemoveBulk  = 0xB9
	magicGetBulk     = 0xBA
	magicError       = 0xBF
)

const (
	// maxBinarySize is the largest key, value or name length a binary
	// request may declare (2^28, accepted).
	maxBinarySize = 1 << 28
	// flagNoReply is bit 0 of the flags word (WHITESID for replication).
	flagNoReply = 1
)

// errOversize is a declared length above maxBinarySize.
var errOversize = errors.New("kttest: declared length above 2^28")

// serveBinary handles one binary request and reports whether the
// connection stays open. An unknown magic closes it without a reply.
func (c *conn) serveBinary() bool {
	magic, err := c.r.ReadByte()
	if err != nil {
		return false
	}
	switch magic {
	case magicSetBulk:
		return c.binSetBulk()
	case magicRemoveBulk:
		return c.binRemoveBulk()
	case magicGetBulk:
		return c.binGetBulk()
	case magicPlayScript:
		return c.binPlayScript()
	case magicReplication:
		return c.binReplication()
	}
	return false
}

// readUint reads a big-endian number of width bytes (at most 8).
func (c *conn) readUint(width int) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(c.r, b[8-width:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// readSize reads a uint32 length and checks it against maxBinarySize.
func (c *conn) readSize() (uint32, error) {
	n, err := c.readUint(4)
	if err != nil {
		return 0, err
	}
	if n > maxBinarySize {
		return 0, errOversize
	}
	return uint32(n), nil
}

// readBytes reads n bytes. Large declared sizes grow the buffer as the
// bytes arrive, so a client that declares 256 MiB and sends nothing does
// not make the server allocate it.
func (c *conn) readBytes(n uint32) ([]byte, error) {
	if n <= 64<<10 {
		b := make([]byte, n)
		_, err := io.ReadFull(c.r, b)
		return b, err
	}
	var buf bytes.Buffer
	_, err := io.CopyN(&buf, c.r, int64(n))
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

// readKeyRef reads one key of remove_bulk or get_bulk: its database index,
// size and bytes.
func (c *conn) readKeyRef() (uint64, []byte, error) {
	dbidx, err := c.readUint(2)
	if err != nil {
		return 0, nil, err
	}
	ksiz, err := c.readSize()
	if err != nil {
		return 0, nil, err
	}
	key, err := c.readBytes(ksiz)
	return dbidx, key, err
}

func putUint32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// binFail ends a bulk command that failed: 0xBF unless no-reply was asked
// for, then the connection closes.
func (c *conn) binFail(noReply bool) bool {
	if !noReply {
		c.w.WriteByte(magicError)
	}
	return false
}

// dbName is the store's selector for a database index.
func dbName(idx int) string { return strconv.Itoa(idx) }

// binSetBulk stores records one by one as they are read; a failure ends
// the request with the records before it stored.
func (c *conn) binSetBulk() bool {
	head, err := c.readUint(8)
	if err != nil {
		return false
	}
	noReply := head>>32&flagNoReply != 0
	rnum := uint32(head)
	var hits uint32
	for range rnum {
		dbidx, err := c.readUint(2)
		if err != nil {
			return c.binFail(noReply)
		}
		ksiz, err := c.readSize()
		if err != nil {
			return c.binFail(noReply)
		}
		vsiz, err := c.readSize()
		if err != nil {
			return c.binFail(noReply)
		}
		xt, err := c.readUint(8)
		if err != nil {
			return c.binFail(noReply)
		}
		key, err := c.readBytes(ksiz)
		if err != nil {
			return c.binFail(noReply)
		}
		value, err := c.readBytes(vsiz)
		if err != nil {
			return c.binFail(noReply)
		}
		if int(dbidx) >= len(c.srv.dbNames) {
			continue
		}
		err = c.srv.store.Set(c.srv.ctx, dbName(int(dbidx)), key, value, c.srv.expiryOf(int64(xt)), backend.WriteOptions{})
		if err != nil {
			return c.binFail(noReply)
		}
		c.srv.counters.set.Add(1)
		hits++
	}
	if !noReply {
		c.w.Write(putUint32([]byte{magicSetBulk}, hits))
	}
	return true
}

// binRemoveBulk removes records one by one; a missing key only does not
// count.
func (c *conn) binRemoveBulk() bool {
	head, err := c.readUint(8)
	if err != nil {
		return false
	}
	noReply := head>>32&flagNoReply != 0
	rnum := uint32(head)
	var hits uint32
	for range rnum {
		dbidx, key, err := c.readKeyRef()
		if err != nil {
			return c.binFail(noReply)
		}
		if int(dbidx) >= len(c.srv.dbNames) {
			continue
		}
		removed, err := c.srv.store.Remove(c.srv.ctx, dbName(int(dbidx)), key)
		if err != nil {
			return c.binFail(noReply)
		}
		tally(&c.srv.counters.remove, &c.srv.counters.removeMisses, removed)
		if removed {
			hits++
		}
	}
	if !noReply {
		c.w.Write(putUint32([]byte{magicRemoveBulk}, hits))
	}
	return true
}

// binGetBulk reads the whole request, then answers with the records found,
// in request order. It ignores the flags and always replies.
func (c *conn) binGetBulk() bool {
	head, err := c.readUint(8)
	if err != nil {
		return false
	}
	rnum := uint32(head)
	var hits uint32
	var body []byte
	for range rnum {
		dbidx, key, err := c.readKeyRef()
		if err != nil {
			return c.binFail(false)
		}
		if int(dbidx) >= len(c.srv.dbNames) {
			continue
		}
		rec, found, err := c.srv.store.Get(c.srv.ctx, dbName(int(dbidx)), key)
		if err != nil {
			return c.binFail(false)
		}
		tally(&c.srv.counters.get, &c.srv.counters.getMisses, found)
		if !found {
			continue
		}
		hits++
		body = binary.BigEndian.AppendUint16(body, uint16(dbidx))
		body = putUint32(body, uint32(len(rec.Key)))
		body = putUint32(body, uint32(len(rec.Value)))
		body = binary.BigEndian.AppendUint64(body, uint64(xtOf(rec.ExpireTime)))
		body = append(body, rec.Key...)
		body = append(body, rec.Value...)
	}
	c.w.Write(putUint32([]byte{magicGetBulk}, hits))
	c.w.Write(body)
	return true
}

// binPlayScript calls a procedure with raw input pairs. A script failure
// answers 0xBF and keeps the connection; a malformed request closes it
// silently.
func (c *conn) binPlayScript() bool {
	flags, err := c.readUint(4)
	if err != nil {
		return false
	}
	noReply := flags&flagNoReply != 0
	nsiz, err := c.readSize()
	if err != nil {
		return false
	}
	rnum, err := c.readUint(4)
	if err != nil {
		return false
	}
	nameBytes, err := c.readBytes(nsiz)
	if err != nil {
		return false
	}
	// The name is a C string on the server: a NUL ends it.
	name, _, _ := strings.Cut(string(nameBytes), "\x00")
	in := map[string]string{}
	for range rnum {
		ksiz, err := c.readSize()
		if err != nil {
			return false
		}
		vsiz, err := c.readSize()
		if err != nil {
			return false
		}
		key, err := c.readBytes(ksiz)
		if err != nil {
			return false
		}
		value, err := c.readBytes(vsiz)
		if err != nil {
			return false
		}
		in[string(key)] = string(value)
	}
	out, status, err := c.srv.runScript(name, in)
	if noReply {
		return true
	}
	if err != nil || status != ScriptOK {
		c.w.WriteByte(magicError)
		return true
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	reply := putUint32([]byte{magicPlayScript}, uint32(len(keys)))
	for _, k := range keys {
		reply = putUint32(reply, uint32(len(k)))
		reply = putUint32(reply, uint32(len(out[k])))
		reply = append(reply, k...)
		reply = append(reply, out[k]...)
	}
	c.w.Write(reply)
	return true
}
