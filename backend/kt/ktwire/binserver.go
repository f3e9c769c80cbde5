package ktwire

import (
	"encoding/binary"
	"io"
)

// This file is the server's half of the binary protocol: decoders for the
// requests that follow a magic byte the server has already read. Bulk
// requests are read one element at a time because the server acts on each
// record as it arrives: a request cut short still applies what came before.

// readFull reads len(b) bytes; a clean end of stream after the magic byte is
// io.ErrUnexpectedEOF.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	return unexpectedEOF(err)
}

// ReadBulkHeader reads the flags and the element count that follow the
// magic byte of set_bulk, remove_bulk and get_bulk.
func ReadBulkHeader(r io.Reader) (flags, count uint32, err error) {
	var b [8]byte
	if err := readFull(r, b[:]); err != nil {
		return 0, 0, err
	}
	return binary.BigEndian.Uint32(b[:4]), binary.BigEndian.Uint32(b[4:]), nil
}

// ReadRecord reads one record as set_bulk requests and get_bulk replies lay
// it out; XT is the request's expiration as sent (see AppendSetBulk) or the
// reply's absolute one.
func ReadRecord(r io.Reader) (Record, error) {
	var hdr [18]byte
	if err := readFull(r, hdr[:]); err != nil {
		return Record{}, err
	}
	ksiz, vsiz := binary.BigEndian.Uint32(hdr[2:6]), binary.BigEndian.Uint32(hdr[6:10])
	rec := Record{DB: binary.BigEndian.Uint16(hdr[0:2]), XT: int64(binary.BigEndian.Uint64(hdr[10:18]))}
	var err error
	if rec.Key, err = readBytes(r, ksiz); err != nil {
		return Record{}, unexpectedEOF(err)
	}
	if rec.Value, err = readBytes(r, vsiz); err != nil {
		return Record{}, unexpectedEOF(err)
	}
	return rec, nil
}

// ReadKeyRef reads one key of a remove_bulk or get_bulk request.
func ReadKeyRef(r io.Reader) (KeyRef, error) {
	var hdr [6]byte
	if err := readFull(r, hdr[:]); err != nil {
		return KeyRef{}, err
	}
	key, err := readBytes(r, binary.BigEndian.Uint32(hdr[2:6]))
	if err != nil {
		return KeyRef{}, unexpectedEOF(err)
	}
	return KeyRef{DB: binary.BigEndian.Uint16(hdr[0:2]), Key: key}, nil
}

// ReadPlayScriptRequest reads the rest of a play_script request: its
// flags, procedure name and arguments, in the order sent.
func ReadPlayScriptRequest(r io.Reader) (flags uint32, name []byte, args []Pair, err error) {
	var hdr [12]byte
	if err := readFull(r, hdr[:]); err != nil {
		return 0, nil, nil, err
	}
	flags = binary.BigEndian.Uint32(hdr[0:4])
	nsiz, count := binary.BigEndian.Uint32(hdr[4:8]), binary.BigEndian.Uint32(hdr[8:12])
	if name, err = readBytes(r, nsiz); err != nil {
		return 0, nil, nil, unexpectedEOF(err)
	}
	if args, err = readPairs(r, count); err != nil {
		return 0, nil, nil, err
	}
	return flags, name, args, nil
}

// ReadReplicationRequest reads the rest of a replication request (see
// AppendReplicationRequest).
func ReadReplicationRequest(r io.Reader) (flags uint32, ts uint64, sid uint16, err error) {
	var b [14]byte
	if err := readFull(r, b[:]); err != nil {
		return 0, 0, 0, err
	}
	return binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint64(b[4:12]), binary.BigEndian.Uint16(b[12:14]), nil
}
