package tt

import (
	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// The backend package's table enums are the gateway's own; these maps give
// the numbers Tokyo Tyrant puts on the wire for them. An enum missing from a
// map is refused as invalid before anything is sent.

// condOps maps query operators to addcond operator numbers.
var condOps = map[backend.CondOp]int{
	backend.CondStrEq:         ttwire.OpStrEq,
	backend.CondStrInclude:    ttwire.OpStrInc,
	backend.CondStrBeginsWith: ttwire.OpStrBW,
	backend.CondStrEndsWith:   ttwire.OpStrEW,
	backend.CondStrAnd:        ttwire.OpStrAnd,
	backend.CondStrOr:         ttwire.OpStrOr,
	backend.CondStrOrEq:       ttwire.OpStrOrEq,
	backend.CondStrRegex:      ttwire.OpStrRx,
	backend.CondNumEq:         ttwire.OpNumEq,
	backend.CondNumGT:         ttwire.OpNumGT,
	backend.CondNumGE:         ttwire.OpNumGE,
	backend.CondNumLT:         ttwire.OpNumLT,
	backend.CondNumLE:         ttwire.OpNumLE,
	backend.CondNumBetween:    ttwire.OpNumBT,
	backend.CondNumOrEq:       ttwire.OpNumOrEq,
	backend.CondFTSPhrase:     ttwire.OpFTSPhrase,
	backend.CondFTSAnd:        ttwire.OpFTSAnd,
	backend.CondFTSOr:         ttwire.OpFTSOr,
	backend.CondFTSExpression: ttwire.OpFTSEx,
}

// orderTypes maps result orders to setorder type numbers.
var orderTypes = map[backend.OrderType]int{
	backend.OrderStrAsc:  ttwire.OrderStrAsc,
	backend.OrderStrDesc: ttwire.OrderStrDesc,
	backend.OrderNumAsc:  ttwire.OrderNumAsc,
	backend.OrderNumDesc: ttwire.OrderNumDesc,
}

// indexTypes maps index types to setindex type numbers: the server numbers
// the index kinds 0 (lexical) to 3 (q-gram) and has two reserved numbers for
// the actions.
var indexTypes = map[backend.IndexType]int{
	backend.IndexLexical:  0,
	backend.IndexDecimal:  1,
	backend.IndexToken:    2,
	backend.IndexQGram:    3,
	backend.IndexOptimize: ttwire.IndexOpt,
	backend.IndexVoid:     ttwire.IndexVoid,
}

// extLocks maps lock modes to ext options.
var extLocks = map[backend.LockMode]uint32{
	backend.LockNone:   0,
	backend.LockRecord: ttwire.ExtLockRecord,
	backend.LockGlobal: ttwire.ExtLockGlobal,
}
