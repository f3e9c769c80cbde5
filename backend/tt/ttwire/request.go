package ttwire

import (
	"fmt"
	"io"
)

// Request is one binary request. Only the fields of Cmd are encoded; the
// others are ignored:
//
//	put, putkeep, putcat, putnr   Key, Value
//	putshl                        Key, Value, Width
//	out, get, vsiz                Key
//	mget                          Keys
//	fwmkeys                       Prefix, Max (negative: no limit)
//	addint                        Key, Int
//	adddouble                     Key, Double
//	ext                           Name, Opts, Key, Value
//	optimize                      Params
//	copy                          Path
//	restore                       Path, TS, Opts
//	setmst                        Host, Port, TS, Opts
//	misc                          Name, Opts, Args
//	repl                          TS, SID
//	iterinit, iternext, sync, vanish, rnum, size, stat: nothing
type Request struct {
	Cmd    Command
	Key    []byte
	Value  []byte
	Width  int32
	Keys   [][]byte
	Prefix []byte
	Max    int32
	Int    int32
	Double Double
	Name   string
	Opts   uint32
	Args   [][]byte
	Params string
	Path   string
	Host   string
	Port   int32
	TS     uint64
	SID    uint32
}

// AppendRequest appends the encoding of r to dst. It refuses what the
// server would reject (oversized fields, a negative width or port, a name of
// 1024 bytes or more) with a *SizeError, because the server answers those
// with silence.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	if err := validateRequest(r); err != nil {
		return dst, err
	}
	dst = append(dst, Magic, byte(r.Cmd))
	return appendBody(dst, r, true), nil
}

// appendBody encodes everything after the command byte. withOpts is false
// for the update-log form of misc, which has no opts field.
func appendBody(dst []byte, r *Request, withOpts bool) []byte {
	switch r.Cmd {
	case CmdPut, CmdPutKeep, CmdPutCat, CmdPutNR:
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = appendU32(dst, uint32(len(r.Value)))
		dst = append(dst, r.Key...)
		dst = append(dst, r.Value...)
	case CmdPutShl:
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = appendU32(dst, uint32(len(r.Value)))
		dst = appendU32(dst, uint32(r.Width))
		dst = append(dst, r.Key...)
		dst = append(dst, r.Value...)
	case CmdOut, CmdGet, CmdVSiz:
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = append(dst, r.Key...)
	case CmdMGet:
		dst = appendU32(dst, uint32(len(r.Keys)))
		for _, k := range r.Keys {
			dst = appendU32(dst, uint32(len(k)))
			dst = append(dst, k...)
		}
	case CmdFwmKeys:
		dst = appendU32(dst, uint32(len(r.Prefix)))
		dst = appendU32(dst, uint32(r.Max))
		dst = append(dst, r.Prefix...)
	case CmdAddInt:
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = appendU32(dst, uint32(r.Int))
		dst = append(dst, r.Key...)
	case CmdAddDouble:
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = appendDouble(dst, r.Double)
		dst = append(dst, r.Key...)
	case CmdExt:
		dst = appendU32(dst, uint32(len(r.Name)))
		dst = appendU32(dst, r.Opts)
		dst = appendU32(dst, uint32(len(r.Key)))
		dst = appendU32(dst, uint32(len(r.Value)))
		dst = append(dst, r.Name...)
		dst = append(dst, r.Key...)
		dst = append(dst, r.Value...)
	case CmdOptimize:
		dst = appendU32(dst, uint32(len(r.Params)))
		dst = append(dst, r.Params...)
	case CmdCopy:
		dst = appendU32(dst, uint32(len(r.Path)))
		dst = append(dst, r.Path...)
	case CmdRestore:
		dst = appendU32(dst, uint32(len(r.Path)))
		dst = appendU64(dst, r.TS)
		dst = appendU32(dst, r.Opts)
		dst = append(dst, r.Path...)
	case CmdSetMst:
		dst = appendU32(dst, uint32(len(r.Host)))
		dst = appendU32(dst, uint32(r.Port))
		dst = appendU64(dst, r.TS)
		dst = appendU32(dst, r.Opts)
		dst = append(dst, r.Host...)
	case CmdMisc:
		dst = appendU32(dst, uint32(len(r.Name)))
		if withOpts {
			dst = appendU32(dst, r.Opts)
		}
		dst = appendU32(dst, uint32(len(r.Args)))
		dst = append(dst, r.Name...)
		for _, a := range r.Args {
			dst = appendU32(dst, uint32(len(a)))
			dst = append(dst, a...)
		}
	case CmdRepl:
		dst = appendU64(dst, r.TS)
		dst = appendU32(dst, r.SID)
	}
	return dst
}

func validateRequest(r *Request) error {
	c := r.Cmd
	if !c.Valid() {
		return fmt.Errorf("%w: unknown command 0x%02X", ErrProtocol, byte(c))
	}
	key := func() error { return checkSize(c, "key size", len(r.Key), MaxArgSize) }
	value := func() error { return checkSize(c, "value size", len(r.Value), MaxArgSize) }
	name := func() error { return checkSize(c, "name size", len(r.Name), MaxNameSize) }
	var errs []error
	switch c {
	case CmdPut, CmdPutKeep, CmdPutCat, CmdPutNR:
		errs = append(errs, key(), value())
	case CmdPutShl:
		errs = append(errs, key(), value())
		if r.Width < 0 {
			errs = append(errs, &SizeError{Cmd: c, Field: "width", Size: int64(r.Width)})
		}
	case CmdOut, CmdGet, CmdVSiz, CmdAddInt, CmdAddDouble:
		errs = append(errs, key())
	case CmdMGet:
		errs = append(errs, checkSize(c, "key count", len(r.Keys), MaxArgNum))
		for _, k := range r.Keys {
			errs = append(errs, checkSize(c, "key size", len(k), MaxArgSize))
		}
	case CmdFwmKeys:
		errs = append(errs, checkSize(c, "prefix size", len(r.Prefix), MaxArgSize))
	case CmdExt:
		errs = append(errs, name(), key(), value())
	case CmdOptimize:
		errs = append(errs, checkSize(c, "params size", len(r.Params), MaxArgSize))
	case CmdCopy, CmdRestore:
		errs = append(errs, checkSize(c, "path size", len(r.Path), MaxArgSize))
	case CmdSetMst:
		errs = append(errs, checkSize(c, "host size", len(r.Host), MaxArgSize))
		if r.Port < 0 {
			errs = append(errs, &SizeError{Cmd: c, Field: "port", Size: int64(r.Port)})
		}
	case CmdMisc:
		errs = append(errs, name(), checkSize(c, "argument count", len(r.Args), MaxArgNum))
		for _, a := range r.Args {
			errs = append(errs, checkSize(c, "argument size", len(a), MaxArgSize))
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadRequest reads one request. It returns io.EOF when r ends before the
// first byte, ErrNotBinary when the first byte is not Magic, an error
// matching ErrProtocol for an unknown command or a length the server would
// reject, and io.ErrUnexpectedEOF when r ends inside the request.
//
// When a length is rejected, the returned request holds the fields decoded
// before it (for mget: the keys read so far, which the server still
// answers), and the rest of the request is left unread in r, as the server
// leaves it.
func ReadRequest(r io.Reader) (*Request, error) {
	d := &rd{r: r}
	m, err := d.u8()
	if err != nil {
		return nil, err
	}
	if m != Magic {
		return nil, ErrNotBinary
	}
	c, err := d.u8()
	if err != nil {
		return nil, eofErr(Command(0), "command byte", err)
	}
	cmd := Command(c)
	if !cmd.Valid() {
		return nil, fmt.Errorf("%w: unknown command 0x%02X", ErrProtocol, c)
	}
	req := &Request{Cmd: cmd}
	return req, eofErr(cmd, "request", readBody(d, req, true))
}

// readBody decodes everything after the command byte into req. Like the
// server, it reads a command's fixed-width header (its lengths, counts and
// numbers) whole before it checks any of them, and reads no data after a
// check fails: what the server leaves unread stays unread here too.
func readBody(d *rd, req *Request, withOpts bool) error {
	c := req.Cmd
	var err error
	// bad is the first header field that failed its check; it becomes err
	// at the end of the header.
	var bad error
	u32 := func(p *uint32) {
		if err == nil {
			*p, err = d.u32()
		}
	}
	i32 := func(p *int32) {
		if err == nil {
			*p, err = d.i32()
		}
	}
	u64 := func(p *uint64) {
		if err == nil {
			*p, err = d.u64()
		}
	}
	size := func(p *int, field string, limit int64) {
		var v int32
		i32(&v)
		if err == nil && bad == nil && (v < 0 || int64(v) > limit) {
			bad = &SizeError{Cmd: c, Field: field, Size: int64(v), Max: limit}
		}
		*p = int(v)
	}
	nonNegative := func(v int32, field string) {
		if err == nil && bad == nil && v < 0 {
			bad = &SizeError{Cmd: c, Field: field, Size: int64(v)}
		}
	}
	// header ends the fixed-width fields: a failed check ends the request.
	header := func() {
		if err == nil {
			err = bad
		}
	}
	data := func(p *[]byte, n int) {
		if err == nil {
			*p, err = d.bytes(n)
		}
	}
	str := func(p *string, n int) {
		var b []byte
		data(&b, n)
		*p = string(b)
	}
	var ksiz, vsiz, n int
	switch c {
	case CmdPut, CmdPutKeep, CmdPutCat, CmdPutNR:
		size(&ksiz, "key size", MaxArgSize)
		size(&vsiz, "value size", MaxArgSize)
		header()
		data(&req.Key, ksiz)
		data(&req.Value, vsiz)
	case CmdPutShl:
		size(&ksiz, "key size", MaxArgSize)
		size(&vsiz, "value size", MaxArgSize)
		i32(&req.Width)
		nonNegative(req.Width, "width")
		header()
		data(&req.Key, ksiz)
		data(&req.Value, vsiz)
	case CmdOut, CmdGet, CmdVSiz:
		size(&ksiz, "key size", MaxArgSize)
		header()
		data(&req.Key, ksiz)
	case CmdMGet:
		size(&n, "key count", MaxArgNum)
		header()
		if err == nil {
			req.Keys = make([][]byte, 0, min(n, 1024))
		}
		for i := 0; i < n && err == nil; i++ {
			var k []byte
			size(&ksiz, "key size", MaxArgSize)
			header()
			data(&k, ksiz)
			if err == nil {
				req.Keys = append(req.Keys, k)
			}
		}
	case CmdFwmKeys:
		size(&n, "prefix size", MaxArgSize)
		i32(&req.Max)
		header()
		data(&req.Prefix, n)
	case CmdAddInt:
		size(&ksiz, "key size", MaxArgSize)
		i32(&req.Int)
		header()
		data(&req.Key, ksiz)
	case CmdAddDouble:
		size(&ksiz, "key size", MaxArgSize)
		if err == nil {
			req.Double, err = d.double()
		}
		header()
		data(&req.Key, ksiz)
	case CmdExt:
		size(&n, "name size", MaxNameSize)
		u32(&req.Opts)
		size(&ksiz, "key size", MaxArgSize)
		size(&vsiz, "value size", MaxArgSize)
		header()
		str(&req.Name, n)
		data(&req.Key, ksiz)
		data(&req.Value, vsiz)
	case CmdOptimize:
		size(&n, "params size", MaxArgSize)
		header()
		str(&req.Params, n)
	case CmdCopy:
		size(&n, "path size", MaxArgSize)
		header()
		str(&req.Path, n)
	case CmdRestore:
		size(&n, "path size", MaxArgSize)
		u64(&req.TS)
		u32(&req.Opts)
		header()
		str(&req.Path, n)
	case CmdSetMst:
		size(&n, "host size", MaxArgSize)
		i32(&req.Port)
		nonNegative(req.Port, "port")
		u64(&req.TS)
		u32(&req.Opts)
		header()
		str(&req.Host, n)
	case CmdMisc:
		var argc int
		size(&n, "name size", MaxNameSize)
		if withOpts {
			u32(&req.Opts)
		}
		size(&argc, "argument count", MaxArgNum)
		header()
		str(&req.Name, n)
		if err == nil {
			req.Args = make([][]byte, 0, min(argc, 1024))
		}
		for i := 0; i < argc && err == nil; i++ {
			var a []byte
			var asiz int
			size(&asiz, "argument size", MaxArgSize)
			header()
			data(&a, asiz)
			if err == nil {
				req.Args = append(req.Args, a)
			}
		}
	case CmdRepl:
		u64(&req.TS)
		u32(&req.SID)
	}
	return err
}
