package ttwire

import "fmt"

// Magic is the first byte of every binary request.
const Magic byte = 0xC8

// Command is the second byte of a request.
type Command byte

// The 26 commands of the binary protocol.
const (
	CmdPut       Command = 0x10
	CmdPutKeep   Command = 0x11
	CmdPutCat    Command = 0x12
	CmdPutShl    Command = 0x13
	CmdPutNR     Command = 0x18
	CmdOut       Command = 0x20
	CmdGet       Command = 0x30
	CmdMGet      Command = 0x31
	CmdVSiz      Command = 0x38
	CmdIterInit  Command = 0x50
	CmdIterNext  Command = 0x51
	CmdFwmKeys   Command = 0x58
	CmdAddInt    Command = 0x60
	CmdAddDouble Command = 0x61
	CmdExt       Command = 0x68
	CmdSync      Command = 0x70
	CmdOptimize  Command = 0x71
	CmdVanish    Command = 0x72
	CmdCopy      Command = 0x73
	CmdRestore   Command = 0x74
	CmdSetMst    Command = 0x78
	CmdRNum      Command = 0x80
	CmdSize      Command = 0x81
	CmdStat      Command = 0x88
	CmdMisc      Command = 0x90
	CmdRepl      Command = 0xA0
)

var commandNames = map[Command]string{
	CmdPut: "put", CmdPutKeep: "putkeep", CmdPutCat: "putcat", CmdPutShl: "putshl",
	CmdPutNR: "putnr", CmdOut: "out", CmdGet: "get", CmdMGet: "mget", CmdVSiz: "vsiz",
	CmdIterInit: "iterinit", CmdIterNext: "iternext", CmdFwmKeys: "fwmkeys",
	CmdAddInt: "addint", CmdAddDouble: "adddouble", CmdExt: "ext", CmdSync: "sync",
	CmdOptimize: "optimize", CmdVanish: "vanish", CmdCopy: "copy", CmdRestore: "restore",
	CmdSetMst: "setmst", CmdRNum: "rnum", CmdSize: "size", CmdStat: "stat", CmdMisc: "misc",
	CmdRepl: "repl",
}

// Commands lists every command in command-byte order.
func Commands() []Command {
	return []Command{
		CmdPut, CmdPutKeep, CmdPutCat, CmdPutShl, CmdPutNR, CmdOut, CmdGet, CmdMGet, CmdVSiz,
		CmdIterInit, CmdIterNext, CmdFwmKeys, CmdAddInt, CmdAddDouble, CmdExt, CmdSync,
		CmdOptimize, CmdVanish, CmdCopy, CmdRestore, CmdSetMst, CmdRNum, CmdSize, CmdStat,
		CmdMisc, CmdRepl,
	}
}

// Valid reports whether c is one of the 26 commands.
func (c Command) Valid() bool {
	_, ok := commandNames[c]
	return ok
}

// String is the command's name as the server's documentation spells it.
func (c Command) String() string {
	if n, ok := commandNames[c]; ok {
		return n
	}
	return fmt.Sprintf("command(0x%02X)", byte(c))
}

// Limits enforced by the server. A request beyond them gets no reply at all.
const (
	// MaxArgSize is the largest key, value, prefix, path or argument.
	MaxArgSize = 256 << 20
	// MaxArgNum is the most keys in mget and arguments in misc.
	MaxArgNum = 1 << 20
	// MaxNameSize is the longest ext or misc function name (the server
	// requires names shorter than 1024 bytes).
	MaxNameSize = 1023
	// MaxStatSize bounds the stat text; the reference client refuses a
	// payload of 65536 bytes or more.
	MaxStatSize = 65535
)

// Option bits of the commands that take an opts field.
const (
	// ExtLockRecord locks the record named by the key around an ext call.
	ExtLockRecord uint32 = 1
	// ExtLockGlobal locks every record around an ext call; it wins over
	// ExtLockRecord.
	ExtLockGlobal uint32 = 2
	// CheckConsistency makes restore and setmst stop at the first replayed
	// record whose outcome differs from the logged one.
	CheckConsistency uint32 = 1
	// MiscNoUpdateLog keeps a misc call out of the update log.
	MiscNoUpdateLog uint32 = 1
)

// Status bytes. The server only ever sends these two.
const (
	StatusOK     byte = 0
	StatusFailed byte = 1
)

// Bytes that start the frames of a replication stream.
const (
	// LogRecordMagic starts a record: ts, sid, size, payload.
	LogRecordMagic byte = 0xC9
	// LogNOPMagic is a heartbeat; nothing follows it.
	LogNOPMagic byte = 0xCA
)
