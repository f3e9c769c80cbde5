package ktwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Magic bytes of the binary protocol. The first byte of every binary request
// and reply is one of them.
const (
	MagicNOP         byte = 0xB0 // replication: caught up (server to client)
	MagicReplication byte = 0xB1 // replication request, record marker and NOP ack
	MagicPlayScript  byte = 0xB4
	MagicSetBulk     byte = 0xB8
	MagicRemoveBulk  byte = 0xB9
	MagicGetBulk     byte = 0xBA
	MagicError       byte = 0xBF // error reply; nothing follows it
)

// Flags of the binary commands.
const (
	// FlagNoReply asks set_bulk, remove_bulk and play_script not to answer.
	FlagNoReply uint32 = 1
	// FlagWhiteSID asks the replication master to send only the records
	// whose origin is the presented server id.
	FlagWhiteSID uint32 = 1
)

// Limits and expiration constants.
const (
	// MaxDataSize is the largest key, value or name the server accepts in a
	// binary request (2^28 bytes).
	MaxDataSize = 1 << 28
	// XTMax is the stored expiration meaning "never" (2^40-1); reads report
	// it, or anything larger, for records that do not expire.
	XTMax int64 = 1<<40 - 1
	// XTNever is what a client sends in a binary request for "never
	// expires". Zero would mean "expires now".
	XTNever int64 = math.MaxInt64
)

// ErrServer is the binary error reply, the single byte 0xBF. The protocol
// gives no detail. After a bulk command the server also closes the
// connection.
var ErrServer = errors.New("kt binary protocol: server answered 0xBF (error)")

// ErrProtocol marks bytes that do not follow the protocol.
var ErrProtocol = errors.New("kt protocol violation")

// XTTime converts an absolute expiration as the server reports it into a
// time; values at or beyond XTMax, and non-positive ones, mean "never" and
// give the zero time.
func XTTime(xt int64) time.Time {
	if xt <= 0 || xt >= XTMax {
		return time.Time{}
	}
	return time.Unix(xt, 0)
}

// KeyRef names one key of one database, as get_bulk and remove_bulk take
// them.
type KeyRef struct {
	DB  uint16
	Key []byte
}

// Record is one record of set_bulk (XT is the request's expiration) or of a
// get_bulk reply (XT is the absolute expiration in epoch seconds).
type Record struct {
	DB    uint16
	Key   []byte
	Value []byte
	XT    int64
}

// Pair is a name/value pair: a script argument or result, or one TSV line.
type Pair struct {
	Key   []byte
	Value []byte
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// AppendSetBulk appends a set_bulk request.
func AppendSetBulk(dst []byte, flags uint32, recs []Record) []byte {
	dst = append(dst, MagicSetBulk)
	dst = appendU32(dst, flags)
	dst = appendU32(dst, uint32(len(recs)))
	return appendRecords(dst, recs)
}

// appendRecords appends records as set_bulk requests and get_bulk replies
// both lay them out.
func appendRecords(dst []byte, recs []Record) []byte {
	for _, r := range recs {
		dst = appendU16(dst, r.DB)
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = appendU32(dst, uint32(len(r.Value)))
		dst = appendU64(dst, uint64(r.XT))
		dst = append(dst, r.Key...)
		dst = append(dst, r.Value...)
	}
	return dst
}

func appendKeyRefs(dst []byte, magic byte, flags uint32, keys []KeyRef) []byte {
	dst = append(dst, magic)
	dst = appendU32(dst, flags)
	dst = appendU32(dst, uint32(len(keys)))
	for _, k := range keys {
		dst = appendU16(dst, k.DB)
		dst = appendU32(dst, uint32(len(k.Key)))
		dst = append(dst, k.Key...)
	}
	return dst
}

// AppendRemoveBulk appends a remove_bulk request.
func AppendRemoveBulk(dst []byte, flags uint32, keys []KeyRef) []byte {
	return appendKeyRefs(dst, MagicRemoveBulk, flags, keys)
}

// AppendGetBulk appends a get_bulk request. The server ignores its flags, so
// none are taken.
func AppendGetBulk(dst []byte, keys []KeyRef) []byte {
	return appendKeyRefs(dst, MagicGetBulk, 0, keys)
}

// AppendPlayScript appends a play_script request. Note the field order: the
// name length and the pair count both precede the name.
func AppendPlayScript(dst []byte, flags uint32, name string, args []Pair) []byte {
	dst = append(dst, MagicPlayScript)
	dst = appendU32(dst, flags)
	dst = appendU32(dst, uint32(len(name)))
	dst = appendU32(dst, uint32(len(args)))
	dst = append(dst, name...)
	return appendPairs(dst, args)
}

func appendPairs(dst []byte, pairs []Pair) []byte {
	for _, p := range pairs {
		dst = appendU32(dst, uint32(len(p.Key)))
		dst = appendU32(dst, uint32(len(p.Value)))
		dst = append(dst, p.Key...)
		dst = append(dst, p.Value...)
	}
	return dst
}

// AppendCountReply appends the reply of set_bulk or remove_bulk.
func AppendCountReply(dst []byte, magic byte, hits uint32) []byte {
	return appendU32(append(dst, magic), hits)
}

// AppendGetBulkReply appends a get_bulk reply; recs carry absolute XTs.
func AppendGetBulkReply(dst []byte, recs []Record) []byte {
	dst = append(dst, MagicGetBulk)
	dst = appendU32(dst, uint32(len(recs)))
	return appendRecords(dst, recs)
}

// AppendPlayScriptReply appends a successful play_script reply.
func AppendPlayScriptReply(dst []byte, results []Pair) []byte {
	dst = append(dst, MagicPlayScript)
	dst = appendU32(dst, uint32(len(results)))
	return appendPairs(dst, results)
}

// readHeader reads the magic byte of a reply. 0xBF gives ErrServer; any other
// unexpected byte gives ErrProtocol.
func readHeader(r io.Reader, magic byte) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	switch b[0] {
	case magic:
		return nil
	case MagicError:
		return ErrServer
	default:
		return fmt.Errorf("%w: reply starts with 0x%02X, want 0x%02X", ErrProtocol, b[0], magic)
	}
}

func readU32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// readBytes reads n bytes, refusing sizes beyond the protocol's limit so
// that a corrupt length cannot make the reader allocate gigabytes.
func readBytes(r io.Reader, n uint32) ([]byte, error) {
	if n > MaxDataSize {
		return nil, fmt.Errorf("%w: length %d exceeds %d", ErrProtocol, n, MaxDataSize)
	}
	if n == 0 {
		return []byte{}, nil
	}
	return appendN(nil, r, int(n))
}

// readChunk is the most memory a read commits before the bytes exist.
const readChunk = 64 << 10

// appendN reads exactly n bytes from r and appends them to dst. The buffer
// grows with what actually arrives (at most doubling per step, to the exact
// size at the end), so that a length field within the limits but far beyond
// the data still cannot commit hundreds of megabytes: a corrupt length fails
// at the end of the stream instead.
func appendN(dst []byte, r io.Reader, n int) ([]byte, error) {
	end := len(dst) + n
	for len(dst) < end {
		if len(dst) == cap(dst) {
			grown := make([]byte, len(dst), min(end, max(2*cap(dst), len(dst)+readChunk)))
			copy(grown, dst)
			dst = grown
		}
		m, err := io.ReadFull(r, dst[len(dst):min(end, cap(dst))])
		dst = dst[:len(dst)+m]
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// unexpectedEOF turns a clean EOF inside a reply into io.ErrUnexpectedEOF:
// only the first byte of a reply may meet a clean end of stream.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadCountReply reads the reply of set_bulk (magic MagicSetBulk) or
// remove_bulk (MagicRemoveBulk) and returns its hit count.
func ReadCountReply(r io.Reader, magic byte) (uint32, error) {
	if err := readHeader(r, magic); err != nil {
		return 0, err
	}
	n, err := readU32(r)
	return n, unexpectedEOF(err)
}

// ReadGetBulkReply reads a get_bulk reply. The records' XT fields hold the
// absolute expirations the server reported (see XTTime).
func ReadGetBulkReply(r io.Reader) ([]Record, error) {
	if err := readHeader(r, MagicGetBulk); err != nil {
		return nil, err
	}
	hits, err := readU32(r)
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	recs := make([]Record, 0, min(hits, 1024))
	for range hits {
		rec, err := ReadRecord(r)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// ReadPlayScriptReply reads a play_script reply. A failed script gives
// ErrServer and, unlike the bulk commands, leaves the connection usable.
func ReadPlayScriptReply(r io.Reader) ([]Pair, error) {
	if err := readHeader(r, MagicPlayScript); err != nil {
		return nil, err
	}
	n, err := readU32(r)
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	return readPairs(r, n)
}

// readPairs reads n pairs as play_script requests and replies lay them out:
// both sizes, then both byte strings.
func readPairs(r io.Reader, n uint32) ([]Pair, error) {
	pairs := make([]Pair, 0, min(n, 1024))
	var hdr [8]byte
	for range n {
		if err := readFull(r, hdr[:]); err != nil {
			return nil, err
		}
		var p Pair
		var err error
		if p.Key, err = readBytes(r, binary.BigEndian.Uint32(hdr[0:4])); err != nil {
			return nil, unexpectedEOF(err)
		}
		if p.Value, err = readBytes(r, binary.BigEndian.Uint32(hdr[4:8])); err != nil {
			return nil, unexpectedEOF(err)
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}
