package tttest

import (
	"sort"
	"strings"

	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// config is a server configuration: what ttserver's command line decides.
type config struct {
	typ ttstore.Type
	// path is the database file name that stat reports.
	path string
	// ulog is true when the server keeps an update log (-ulog with a sid).
	ulog bool
	// sid is the server id (-sid); 0 when none.
	sid uint32
	// ext is true when ext functions exist (-ext).
	ext bool
	// mask holds the refused commands (-mask).
	mask mask
}

// configs are the server configurations of the golden transcripts
// (shared/golden/README.md, "Server configurations").
var configs = map[string]config{
	"tt-hash":      {typ: ttstore.Hash, path: "casket.tch", ulog: true, sid: 1, ext: true},
	"tt-btree":     {typ: ttstore.BTree, path: "casket.tcb", ulog: true, sid: 1, ext: true},
	"tt-table":     {typ: ttstore.Table, path: "casket.tct", ulog: true, sid: 1, ext: true},
	"tt-noulog":    {typ: ttstore.Hash, path: "casket.tch", sid: 1, ext: true},
	"tt-nosid":     {typ: ttstore.Hash, path: "casket.tch", ext: true},
	"tt-noext":     {typ: ttstore.Hash, path: "casket.tch", ulog: true, sid: 1},
	"tt-masked":    {typ: ttstore.Hash, path: "casket.tch", ulog: true, sid: 1, ext: true, mask: maskAllOrg},
	"tt-mask-repl": {typ: ttstore.Hash, path: "casket.tch", ulog: true, sid: 1, ext: true, mask: maskOf(cmdRepl)},
}

func configNames() string {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Command sequence numbers: the order of stat's cnt_* lines and the bits of
// a mask.
const (
	cmdPut = iota
	cmdPutKeep
	cmdPutCat
	cmdPutShl
	cmdPutNR
	cmdOut
	cmdGet
	cmdMGet
	cmdVSiz
	cmdIterInit
	cmdIterNext
	cmdFwmKeys
	cmdAddInt
	cmdAddDouble
	cmdExt
	cmdSync
	cmdOptimize
	cmdVanish
	cmdCopy
	cmdRestore
	cmdSetMst
	cmdRNum
	cmdSize
	cmdStat
	cmdMisc
	cmdRepl
	numCommands
)

// The miss counters follow the commands in stat.
const (
	cntPutMiss  = numCommands
	cntOutMiss  = numCommands + 1
	cntGetMiss  = numCommands + 2
	numCounters = numCommands + 3
)

// counterNames are the stat names of the counters, without "cnt_".
var counterNames = [numCounters]string{
	"put", "putkeep", "putcat", "putshl", "putnr", "out", "get", "mget", "vsiz",
	"iterinit", "iternext", "fwmkeys", "addint", "adddouble", "ext", "sync",
	"optimize", "vanish", "copy", "restore", "setmst", "rnum", "size", "stat",
	"misc", "repl", "put_miss", "out_miss", "get_miss",
}

// mask is a set of refused commands: binary commands by sequence number,
// plus the memcached and HTTP subsets as a whole.
type mask struct {
	bin  uint64
	mc   bool
	http bool
}

func maskOf(cmds ...int) mask {
	var m mask
	for _, c := range cmds {
		m.bin |= 1 << c
	}
	return m
}

// maskAllOrg is -mask allorg: every binary command except repl.
var maskAllOrg = mask{bin: (1<<numCommands - 1) &^ (1 << cmdRepl)}

// has reports whether binary command cmd is refused.
func (m mask) has(cmd int) bool { return m.bin&(1<<cmd) != 0 }
