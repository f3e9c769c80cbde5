package ttwire

import (
	"fmt"
	"io"
	"math"
)

// KV is one key and value of an mget reply.
type KV struct {
	Key   []byte
	Value []byte
}

// Reply is one reply. Status is always read; the other fields depend on the
// command:
//
//	get, ext                 Value (on success)
//	stat                     Value: the TSV text (see ParseStat)
//	vsiz                     Num: the value size (on success)
//	rnum, size               Num
//	iternext                 Key (on success)
//	fwmkeys                  Keys
//	mget                     Records
//	addint                   Int (on success)
//	adddouble                Double (on success)
//	misc                     Elems (a count follows even a failure)
//
// Every other command answers with the status byte alone; putnr and repl
// have no reply of this form (see HasReply).
type Reply struct {
	Status  byte
	Value   []byte
	Key     []byte
	Keys    [][]byte
	Records []KV
	Num     uint64
	Int     int32
	Double  Double
	Elems   [][]byte
}

// OK reports whether the status byte is StatusOK.
func (r *Reply) OK() bool { return r.Status == StatusOK }

// HasReply reports whether the server answers cmd with a Reply: putnr never
// answers and repl answers with a stream.
func HasReply(cmd Command) bool { return cmd.Valid() && cmd != CmdPutNR && cmd != CmdRepl }

// maxCount bounds the element counts of replies (fwmkeys may return every
// key of the database, so the request limits do not apply).
const maxCount = math.MaxInt32

// ReadReply reads the reply to cmd.
func ReadReply(r io.Reader, cmd Command) (*Reply, error) {
	if !HasReply(cmd) {
		return nil, fmt.Errorf("%w: %s has no reply", ErrProtocol, cmd)
	}
	d := &rd{r: r}
	st, err := d.u8()
	if err != nil {
		return nil, eofErr(cmd, "reply status", err)
	}
	if st != StatusOK && st != StatusFailed {
		// The server sends no other status: this byte belongs to something
		// else, so the stream is out of step.
		return nil, fmt.Errorf("%w: %s reply starts with status 0x%02X", ErrProtocol, cmd, st)
	}
	rep := &Reply{Status: st}
	if st != StatusOK && cmd != CmdMisc {
		return rep, nil
	}
	return rep, eofErr(cmd, "reply", readReplyBody(d, cmd, rep))
}

func readReplyBody(d *rd, cmd Command, rep *Reply) error {
	var err error
	count := func() int {
		var n int
		if err == nil {
			n, err = d.size(cmd, "reply count", maxCount)
		}
		return n
	}
	blob := func() []byte {
		var n int
		var b []byte
		if err == nil {
			n, err = d.size(cmd, "reply size", math.MaxInt32)
		}
		if err == nil {
			b, err = d.bytes(n)
		}
		return b
	}
	switch cmd {
	case CmdGet, CmdExt, CmdStat:
		rep.Value = blob()
	case CmdIterNext:
		rep.Key = blob()
	case CmdVSiz:
		var v uint32
		v, err = d.u32()
		rep.Num = uint64(v)
	case CmdRNum, CmdSize:
		rep.Num, err = d.u64()
	case CmdAddInt:
		rep.Int, err = d.i32()
	case CmdAddDouble:
		rep.Double, err = d.double()
	case CmdMGet:
		n := count()
		rep.Records = make([]KV, 0, min(n, 1024))
		for i := 0; i < n && err == nil; i++ {
			var ksiz, vsiz int
			var kv KV
			ksiz, err = d.size(cmd, "key size", math.MaxInt32)
			if err == nil {
				vsiz, err = d.size(cmd, "value size", math.MaxInt32)
			}
			if err == nil {
				kv.Key, err = d.bytes(ksiz)
			}
			if err == nil {
				kv.Value, err = d.bytes(vsiz)
			}
			if err == nil {
				rep.Records = append(rep.Records, kv)
			}
		}
	case CmdFwmKeys:
		n := count()
		rep.Keys = make([][]byte, 0, min(n, 1024))
		for i := 0; i < n && err == nil; i++ {
			if k := blob(); err == nil {
				rep.Keys = append(rep.Keys, k)
			}
		}
	case CmdMisc:
		n := count()
		if err == nil && n != 0 && rep.Status != StatusOK {
			// The server follows a failure with a count of 0 and nothing
			// else; elements after it cannot be told from the next reply.
			return fmt.Errorf("%w: %s failure followed by %d elements", ErrProtocol, cmd, n)
		}
		rep.Elems = make([][]byte, 0, min(n, 1024))
		for i := 0; i < n && err == nil; i++ {
			if e := blob(); err == nil {
				rep.Elems = append(rep.Elems, e)
			}
		}
	}
	return err
}

// AppendReply appends the encoding of rep as the reply to cmd. A failed
// status is encoded alone, except for misc, whose failure carries a count of
// zero.
func AppendReply(dst []byte, cmd Command, rep *Reply) ([]byte, error) {
	if !HasReply(cmd) {
		return dst, fmt.Errorf("%w: %s has no reply", ErrProtocol, cmd)
	}
	dst = append(dst, rep.Status)
	if rep.Status != StatusOK {
		if cmd == CmdMisc {
			dst = appendU32(dst, 0)
		}
		return dst, nil
	}
	blob := func(b []byte) {
		dst = appendU32(dst, uint32(len(b)))
		dst = append(dst, b...)
	}
	switch cmd {
	case CmdGet, CmdExt, CmdStat:
		blob(rep.Value)
	case CmdIterNext:
		blob(rep.Key)
	case CmdVSiz:
		dst = appendU32(dst, uint32(rep.Num))
	case CmdRNum, CmdSize:
		dst = appendU64(dst, rep.Num)
	case CmdAddInt:
		dst = appendU32(dst, uint32(rep.Int))
	case CmdAddDouble:
		dst = appendDouble(dst, rep.Double)
	case CmdMGet:
		dst = appendU32(dst, uint32(len(rep.Records)))
		for _, kv := range rep.Records {
			dst = appendU32(dst, uint32(len(kv.Key)))
			dst = appendU32(dst, uint32(len(kv.Value)))
			dst = append(dst, kv.Key...)
			dst = append(dst, kv.Value...)
		}
	case CmdFwmKeys:
		dst = appendU32(dst, uint32(len(rep.Keys)))
		for _, k := range rep.Keys {
			blob(k)
		}
	case CmdMisc:
		dst = appendU32(dst, uint32(len(rep.Elems)))
		for _, e := range rep.Elems {
			blob(e)
		}
	}
	return dst, nil
}
