package tt

import (
	"testing"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// TestEnumsMapToWireNames checks every backend enum against the name Tokyo
// Tyrant gives the number it is sent as, so that the gateway's values and the
// wire's can differ without a query meaning something else.
func TestEnumsMapToWireNames(t *testing.T) {
	conds := map[backend.CondOp]string{
		backend.CondStrEq: "STREQ", backend.CondStrInclude: "STRINC", backend.CondStrBeginsWith: "STRBW",
		backend.CondStrEndsWith: "STREW", backend.CondStrAnd: "STRAND", backend.CondStrOr: "STROR",
		backend.CondStrOrEq: "STROREQ", backend.CondStrRegex: "STRRX", backend.CondNumEq: "NUMEQ",
		backend.CondNumGT: "NUMGT", backend.CondNumGE: "NUMGE", backend.CondNumLT: "NUMLT",
		backend.CondNumLE: "NUMLE", backend.CondNumBetween: "NUMBT", backend.CondNumOrEq: "NUMOREQ",
		backend.CondFTSPhrase: "FTSPH", backend.CondFTSAnd: "FTSAND", backend.CondFTSOr: "FTSOR",
		backend.CondFTSExpression: "FTSEX",
	}
	if len(conds) != len(condOps) {
		t.Fatalf("condOps maps %d operators, want %d", len(condOps), len(conds))
	}
	for op, name := range conds {
		want, _ := ttwire.ParseCondOp(name)
		if got, ok := condOps[op]; !ok || got != want {
			t.Errorf("condOps[%d] = %d, %v; want %d (%s)", op, got, ok, want, name)
		}
	}
	orders := map[backend.OrderType]string{
		backend.OrderStrAsc: "STRASC", backend.OrderStrDesc: "STRDESC", backend.OrderNumAsc: "NUMASC", backend.OrderNumDesc: "NUMDESC",
	}
	for o, name := range orders {
		want, _ := ttwire.ParseOrderType(name)
		if got, ok := orderTypes[o]; !ok || got != want {
			t.Errorf("orderTypes[%d] = %d, %v; want %d (%s)", o, got, ok, want, name)
		}
	}
	indexes := map[backend.IndexType]string{
		backend.IndexLexical: "LEXICAL", backend.IndexDecimal: "DECIMAL", backend.IndexToken: "TOKEN",
		backend.IndexQGram: "QGRAM", backend.IndexOptimize: "OPTIMIZE", backend.IndexVoid: "VOID",
	}
	for typ, name := range indexes {
		want, _ := ttwire.ParseIndexType(name)
		if got, ok := indexTypes[typ]; !ok || got != want {
			t.Errorf("indexTypes[%d] = %d, %v; want %d (%s)", typ, got, ok, want, name)
		}
	}
	for _, zero := range []bool{
		func() bool { _, ok := condOps[0]; return ok }(),
		func() bool { _, ok := orderTypes[0]; return ok }(),
		func() bool { _, ok := indexTypes[0]; return ok }(),
	} {
		if zero {
			t.Error("a zero enum maps to a wire value; it must be refused")
		}
	}
}
