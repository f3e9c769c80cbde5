package ttwire

import (
	"bytes"
	"fmt"
	"io"
)

// Frame is one frame of a replication stream: a NOP heartbeat or a record.
type Frame struct {
	// NOP marks a heartbeat; the other fields are then unset.
	NOP bool
	// TS is the record's timestamp in microseconds since the epoch. It is
	// neither unique nor guaranteed to grow.
	TS uint64
	// SID is the id of the server where the operation was first made.
	SID uint32
	// Payload is the logged operation (see DecodeLogPayload).
	Payload []byte
}

// ReadReplSID reads the 4-byte server id with which a master answers the
// repl request. A master without an update log closes right after it; one
// started without -sid sends 0.
func ReadReplSID(r io.Reader) (uint32, error) {
	d := &rd{r: r}
	sid, err := d.u32()
	return sid, eofErr(CmdRepl, "master sid", err)
}

// ReadFrame reads one frame. Any first byte other than LogRecordMagic and
// LogNOPMagic is a protocol error.
func ReadFrame(r io.Reader) (*Frame, error) {
	d := &rd{r: r}
	m, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch m {
	case LogNOPMagic:
		return &Frame{NOP: true}, nil
	case LogRecordMagic:
	default:
		return nil, fmt.Errorf("%w: replication frame starts with 0x%02X", ErrProtocol, m)
	}
	f := &Frame{}
	if f.TS, err = d.u64(); err != nil {
		return nil, eofErr(CmdRepl, "record", err)
	}
	if f.SID, err = d.u32(); err != nil {
		return nil, eofErr(CmdRepl, "record", err)
	}
	n, err := d.size(CmdRepl, "record size", 1<<31-1)
	if err != nil {
		return nil, eofErr(CmdRepl, "record", err)
	}
	if f.Payload, err = d.bytes(n); err != nil {
		return nil, eofErr(CmdRepl, "record", err)
	}
	return f, nil
}

// AppendFrame appends the encoding of f.
func AppendFrame(dst []byte, f *Frame) []byte {
	if f.NOP {
		return append(dst, LogNOPMagic)
	}
	dst = append(dst, LogRecordMagic)
	dst = appendU64(dst, f.TS)
	dst = appendU32(dst, f.SID)
	dst = appendU32(dst, uint32(len(f.Payload)))
	return append(dst, f.Payload...)
}

// Logged reports whether the server writes cmd to its update log. putnr is
// logged too, but as put; misc is logged unless called with MiscNoUpdateLog;
// addint and adddouble are logged only for a non-zero number.
func Logged(cmd Command) bool {
	switch cmd {
	case CmdPut, CmdPutKeep, CmdPutCat, CmdPutShl, CmdOut, CmdAddInt, CmdAddDouble,
		CmdSync, CmdOptimize, CmdVanish, CmdMisc:
		return true
	}
	return false
}

// AppendLogPayload appends the update-log form of req with its outcome: the
// request as sent (misc without its opts field; putnr as put), then the
// status byte.
func AppendLogPayload(dst []byte, req *Request, status byte) ([]byte, error) {
	r := *req
	if r.Cmd == CmdPutNR {
		r.Cmd = CmdPut
	}
	if !Logged(r.Cmd) {
		return dst, fmt.Errorf("%w: %s is never written to the update log", ErrProtocol, r.Cmd)
	}
	if err := validateRequest(&r); err != nil {
		return dst, err
	}
	dst = append(dst, Magic, byte(r.Cmd))
	dst = appendBody(dst, &r, false)
	return append(dst, status), nil
}

// DecodeLogPayload decodes a record's payload into the logged request and
// the status byte it had on the server that ran it first (StatusOK or
// StatusFailed). The payload must hold exactly one logged command.
func DecodeLogPayload(p []byte) (*Request, byte, error) {
	if len(p) < 3 || p[0] != Magic {
		return nil, 0, fmt.Errorf("%w: update-log payload of %d bytes does not start with 0xC8", ErrProtocol, len(p))
	}
	cmd := Command(p[1])
	if !Logged(cmd) {
		return nil, 0, fmt.Errorf("%w: %s cannot appear in an update log", ErrProtocol, cmd)
	}
	br := bytes.NewReader(p[2 : len(p)-1])
	d := &rd{r: br, started: true}
	req := &Request{Cmd: cmd}
	if err := readBody(d, req, false); err != nil {
		return nil, 0, fmt.Errorf("%w: %s update-log payload: %w", ErrProtocol, cmd, err)
	}
	if br.Len() != 0 {
		return nil, 0, fmt.Errorf("%w: %s update-log payload has %d stray bytes", ErrProtocol, cmd, br.Len())
	}
	// Any other status would be read as a failure and the change dropped.
	if st := p[len(p)-1]; st != StatusOK && st != StatusFailed {
		return nil, 0, fmt.Errorf("%w: %s update-log payload ends with status 0x%02X", ErrProtocol, cmd, st)
	}
	return req, p[len(p)-1], nil
}

// AppendReplSID appends the server id with which a master answers a repl
// request (see ReadReplSID).
func AppendReplSID(dst []byte, sid uint32) []byte { return appendU32(dst, sid) }
