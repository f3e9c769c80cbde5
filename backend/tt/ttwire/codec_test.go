package ttwire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

func TestTTPackDouble(t *testing.T) {
	tests := []struct {
		f     float64
		integ int64
		fract int64
	}{
		{2.5, 2, 500000000000},
		{-0.25, 0, -250000000000},
		{2.25, 2, 250000000000},
		{-1.5, -1, -500000000000},
		{0.1, 0, 100000000000},
		{1, 1, 0},
		{0, 0, 0},
		{math.Inf(1), math.MaxInt64, 0},
		{math.Inf(-1), math.MinInt64, 0},
		{1e300, math.MaxInt64, 0},
		{-1e300, math.MinInt64, 0},
	}
	for _, tt := range tests {
		d := ttwire.PackDouble(tt.f)
		if d.Integ != tt.integ || d.Fract != tt.fract {
			t.Errorf("PackDouble(%v) = %+v, want {%d %d}", tt.f, d, tt.integ, tt.fract)
		}
	}
	nan := ttwire.PackDouble(math.NaN())
	if nan.Integ != math.MinInt64 || nan.Fract != math.MinInt64 || !math.IsNaN(nan.Float64()) {
		t.Errorf("NaN packs to %+v", nan)
	}
	for _, f := range []float64{2.5, -0.25, -1.5, 123.456, -98765.4321, math.Inf(1), math.Inf(-1)} {
		if got := ttwire.PackDouble(f).Float64(); math.Abs(got-f) > 1e-9 && !(math.IsInf(f, 0) && got == f) {
			t.Errorf("round trip of %v gives %v", f, got)
		}
	}
	if ttwire.FitsDouble(math.NaN()) || ttwire.FitsDouble(1e19) || !ttwire.FitsDouble(-9e18) {
		t.Error("FitsDouble")
	}
}

func TestTTAddDoubleBytes(t *testing.T) {
	// adddouble "d" += 2.5 as recorded from the real server.
	want, _ := hex.DecodeString("c861000000010000000000000002000000746a52880064")
	got, err := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdAddDouble, Key: []byte("d"), Double: ttwire.PackDouble(2.5)})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x (%v), want %x", got, err, want)
	}
	rep, err := ttwire.ReadReply(bytes.NewReader(mustHex("00ffffffffffffffffffffff8b95ad7800")), ttwire.CmdAddDouble)
	if err != nil || rep.Double.Float64() != -1.5 {
		t.Fatalf("reply %+v %v", rep, err)
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestTTColumns(t *testing.T) {
	enc, err := ttwire.EncodeColumns([]ttwire.Column{{"name", []byte("alice")}, {"age", []byte("30")}})
	if err != nil || string(enc) != "name\x00alice\x00age\x0030" {
		t.Fatalf("EncodeColumns = %q, %v", enc, err)
	}
	if enc, _ := ttwire.EncodeColumns(nil); enc == nil || len(enc) != 0 {
		t.Errorf("no columns: %q", enc)
	}
	if _, err := ttwire.EncodeColumns([]ttwire.Column{{"a\x00b", nil}}); !errors.Is(err, ttwire.ErrNUL) {
		t.Errorf("NUL in name: %v", err)
	}
	if _, err := ttwire.EncodeColumns([]ttwire.Column{{"a", []byte{1, 0}}}); !errors.Is(err, ttwire.ErrNUL) {
		t.Errorf("NUL in value: %v", err)
	}
	tests := []struct {
		in   string
		want []ttwire.Column
	}{
		{"", nil},
		{"abc", nil}, // no NUL: no column
		{"k\x00", []ttwire.Column{{"k", []byte{}}}},
		{"odd\x00cols\x00dangling", []ttwire.Column{{"odd", []byte("cols")}}},
		{"\x00u1\x00name\x00alice", []ttwire.Column{{"", []byte("u1")}, {"name", []byte("alice")}}},
	}
	for _, tt := range tests {
		got := ttwire.DecodeColumns([]byte(tt.in))
		if len(got) != len(tt.want) {
			t.Errorf("DecodeColumns(%q) = %q", tt.in, got)
			continue
		}
		for i := range got {
			if got[i].Name != tt.want[i].Name || !bytes.Equal(got[i].Value, tt.want[i].Value) {
				t.Errorf("DecodeColumns(%q)[%d] = %q", tt.in, i, got[i])
			}
		}
	}
}

// TestDirectives builds the query arguments recorded in
// tt-bin/table/search-* and checks them byte for byte.
func TestTTDirectives(t *testing.T) {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		got  []byte
		want string
	}{
		{must(ttwire.CondDirective("age", ttwire.OpNumGE, "25")), "addcond\x00age\x0010\x0025"},
		{must(ttwire.CondDirective("city", ttwire.OpStrEq, "tokyo")), "addcond\x00city\x000\x00tokyo"},
		{must(ttwire.CondDirective("", ttwire.OpStrBW, "u")), "addcond\x00\x002\x00u"},
		{must(ttwire.CondDirective("age", ttwire.OpNumLT, "20")), "addcond\x00age\x0011\x0020"},
		{must(ttwire.CondDirective("c", ttwire.OpStrEq|ttwire.FlagNegate|ttwire.FlagNoIndex, "x")), "addcond\x00c\x0050331648\x00x"},
		{must(ttwire.OrderDirective("age", ttwire.OrderNumAsc)), "setorder\x00age\x002"},
		{must(ttwire.OrderDirective("", ttwire.OrderStrAsc)), "setorder\x00\x000"},
		{ttwire.LimitDirective(2, 1), "setlimit\x002\x001"},
		{ttwire.LimitDirective(-1, 3), "setlimit\x00-1\x003"},
		{must(ttwire.GetDirective()), "get"},
		{must(ttwire.GetDirective("name")), "get\x00name"},
		{ttwire.MSTypeDirective(ttwire.MSIsect), "mstype\x001"},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if _, err := ttwire.CondDirective("a", 0, "x\x00y"); !errors.Is(err, ttwire.ErrNUL) {
		t.Errorf("NUL in expression: %v", err)
	}
	args, err := ttwire.SetIndexArgs("name", ttwire.IndexVoid, false)
	if err != nil || string(args[0]) != "name" || string(args[1]) != "9999" {
		t.Errorf("SetIndexArgs = %q %v", args, err)
	}
	args, _ = ttwire.SetIndexArgs("age", 1, true)
	if string(args[1]) != "16777217" {
		t.Errorf("keep flag: %q", args[1])
	}
	if got := ttwire.SplitDirective([]byte("addcond\x00\x00STRBW\x00c")); len(got) != 4 || got[1] != "" || got[2] != "STRBW" {
		t.Errorf("SplitDirective = %q", got)
	}
}

func TestTTParseTokens(t *testing.T) {
	ops := map[string]int{
		"STREQ": 0, "streq": 0, "EQ": 0, "STRBW": 2, "~STREQ": ttwire.FlagNegate, "!+NUMGE": 10 | ttwire.FlagNegate | ttwire.FlagNoIndex,
		"+FTS": 15 | ttwire.FlagNoIndex, "10": 10, ">=": 10, "==": 8, "NUMOREQ": 14, "16777216": ttwire.FlagNegate, "FTSEX": 18,
	}
	for s, want := range ops {
		if got, ok := ttwire.ParseCondOp(s); !ok || got != want {
			t.Errorf("ParseCondOp(%q) = %d %v, want %d", s, got, ok, want)
		}
	}
	if _, ok := ttwire.ParseCondOp("LIKE"); ok {
		t.Error("LIKE parsed")
	}
	if v, ok := ttwire.ParseOrderType("numdesc"); !ok || v != 3 {
		t.Errorf("order %d %v", v, ok)
	}
	if v, ok := ttwire.ParseIndexType("+DECIMAL"); !ok || v != 1|ttwire.IndexKeep {
		t.Errorf("index %d %v", v, ok)
	}
	if v, ok := ttwire.ParseIndexType("void"); !ok || v != 9999 {
		t.Errorf("index %d %v", v, ok)
	}
	if v, ok := ttwire.ParseMSType("ANDNOT"); !ok || v != 2 {
		t.Errorf("mstype %d %v", v, ok)
	}
	if !ttwire.IsHint([]byte("\x00\x00[[HINT]]\nscanning")) || ttwire.IsHint([]byte("u1")) {
		t.Error("IsHint")
	}
}

func TestTTParseStat(t *testing.T) {
	m := ttwire.ParseStat([]byte("version\t1.1.41\ntype\tB+ tree\nrnum\t3\n"))
	if m["version"] != "1.1.41" || m["type"] != "B+ tree" || m["rnum"] != "3" || len(m) != 3 {
		t.Errorf("ParseStat = %v", m)
	}
}

func TestTTRequestValidation(t *testing.T) {
	big := make([]byte, ttwire.MaxArgSize+1)
	bad := []*ttwire.Request{
		{Cmd: ttwire.CmdPut, Key: big},
		{Cmd: ttwire.CmdPutShl, Key: []byte("k"), Width: -1},
		{Cmd: ttwire.CmdExt, Name: string(make([]byte, 1024))},
		{Cmd: ttwire.CmdMisc, Name: "x", Args: make([][]byte, ttwire.MaxArgNum+1)},
		{Cmd: ttwire.CmdSetMst, Port: -1},
		{Cmd: ttwire.Command(0x99)},
	}
	for _, r := range bad {
		if _, err := ttwire.AppendRequest(nil, r); !errors.Is(err, ttwire.ErrProtocol) {
			t.Errorf("%s accepted: %v", r.Cmd, err)
		}
	}
	if _, err := ttwire.AppendRequest(nil, &ttwire.Request{Cmd: ttwire.CmdExt, Name: string(make([]byte, 1023))}); err != nil {
		t.Errorf("1023-byte name refused: %v", err)
	}
}

func TestTTReadRequestErrors(t *testing.T) {
	if _, err := ttwire.ReadRequest(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty: %v", err)
	}
	if _, err := ttwire.ReadRequest(bytes.NewReader([]byte("GET / HTTP/1.1\r\n"))); !errors.Is(err, ttwire.ErrNotBinary) {
		t.Errorf("text: %v", err)
	}
	if _, err := ttwire.ReadRequest(bytes.NewReader(mustHex("c899"))); !errors.Is(err, ttwire.ErrProtocol) {
		t.Errorf("unknown command: %v", err)
	}
	if _, err := ttwire.ReadRequest(bytes.NewReader(mustHex("c8100000000100"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
	var se *ttwire.SizeError
	if _, err := ttwire.ReadRequest(bytes.NewReader(mustHex("c81010000001000000016b76"))); !errors.As(err, &se) || se.Field != "key size" {
		t.Errorf("oversize: %v", err)
	}
	// mget stops at the invalid key and keeps the keys read so far.
	r := bytes.NewReader(mustHex("c831000000020000000161ffffffff"))
	req, err := ttwire.ReadRequest(r)
	if !errors.Is(err, ttwire.ErrProtocol) || req == nil || len(req.Keys) != 1 || string(req.Keys[0]) != "a" {
		t.Errorf("partial mget: %+v %v", req, err)
	}
	// A reply cut short is an unexpected EOF, never a success.
	if _, err := ttwire.ReadReply(bytes.NewReader(mustHex("0000000005616263")), ttwire.CmdGet); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short get reply: %v", err)
	}
	if _, err := ttwire.ReadReply(bytes.NewReader(nil), ttwire.CmdGet); !errors.Is(err, io.EOF) {
		t.Errorf("no reply: %v", err)
	}
	if _, err := ttwire.ReadReply(bytes.NewReader(mustHex("00")), ttwire.CmdPutNR); !errors.Is(err, ttwire.ErrProtocol) {
		t.Errorf("putnr reply: %v", err)
	}
	// A status byte the server never sends means the stream is out of step.
	if _, err := ttwire.ReadReply(bytes.NewReader(mustHex("02")), ttwire.CmdPut); !errors.Is(err, ttwire.ErrProtocol) {
		t.Errorf("status 02: %v", err)
	}
	// misc failure carries a count that must be consumed.
	r = bytes.NewReader(mustHex("0100000000" + "00"))
	rep, err := ttwire.ReadReply(r, ttwire.CmdMisc)
	if err != nil || rep.OK() || r.Len() != 1 {
		t.Errorf("misc failure: %+v %v, %d left", rep, err, r.Len())
	}
}

func TestTTLargeReplyValue(t *testing.T) {
	v := bytes.Repeat([]byte("0123456789"), 30000)
	enc, _ := ttwire.AppendReply(nil, ttwire.CmdGet, &ttwire.Reply{Value: v})
	rep, err := ttwire.ReadReply(bytes.NewReader(enc), ttwire.CmdGet)
	if err != nil || !bytes.Equal(rep.Value, v) {
		t.Fatalf("large value: %v", err)
	}
	// A length far beyond the data fails without allocating it.
	if _, err := ttwire.ReadReply(bytes.NewReader(mustHex("007fffffff6162")), ttwire.CmdGet); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("huge length: %v", err)
	}
}

func TestTTLogPayload(t *testing.T) {
	// putnr is logged as put.
	p, err := ttwire.AppendLogPayload(nil, &ttwire.Request{Cmd: ttwire.CmdPutNR, Key: []byte("n"), Value: []byte("r")}, 0)
	if err != nil || hex.EncodeToString(p) != "c81000000001000000016e7200" {
		t.Errorf("putnr payload %x %v", p, err)
	}
	// misc has no opts field in the log.
	p, _ = ttwire.AppendLogPayload(nil, &ttwire.Request{Cmd: ttwire.CmdMisc, Name: "nosuchfunc", Opts: 1}, 1)
	if hex.EncodeToString(p) != "c8900000000a000000006e6f7375636866756e6301" {
		t.Errorf("misc payload %x", p)
	}
	if _, err := ttwire.AppendLogPayload(nil, &ttwire.Request{Cmd: ttwire.CmdGet}, 0); !errors.Is(err, ttwire.ErrProtocol) {
		t.Errorf("get logged: %v", err)
	}
	for _, bad := range []string{"", "c8", "c830000000016b00", "c8100000000100000001", "c81000000001000000016b760000"} {
		if _, _, err := ttwire.DecodeLogPayload(mustHex(bad)); !errors.Is(err, ttwire.ErrProtocol) {
			t.Errorf("payload %s: %v", bad, err)
		}
	}
	if _, err := ttwire.ReadFrame(bytes.NewReader(mustHex("c8"))); !errors.Is(err, ttwire.ErrProtocol) {
		t.Errorf("bad frame: %v", err)
	}
}

// TestTTReadRequestReadsHeaderBeforeChecks pins what a rejected request
// leaves unread, which the server then parses as the next request: the
// whole fixed-width header is consumed, no data after it.
func TestTTReadRequestReadsHeaderBeforeChecks(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		left      int
	}{
		{"put, bad key size", "c810ffffffff000000016b76", 2},
		{"putshl, negative width", "c8130000000100000001ffffffff6b76", 2},
		{"addint, bad key size", "c860ffffffff000000056b", 1},
		{"restore, bad path size", "c874ffffffff0000000000000001000000007878", 2},
		{"setmst, negative port", "c87800000001ffffffff0000000000000001000000006878", 2},
		{"misc, bad name size", "c890000004000000000000000000", 0},
	} {
		r := bytes.NewReader(mustHex(tc.hex))
		_, err := ttwire.ReadRequest(r)
		var se *ttwire.SizeError
		if !errors.As(err, &se) || r.Len() != tc.left {
			t.Errorf("%s: %v with %d bytes left; want a SizeError with %d left", tc.name, err, r.Len(), tc.left)
		}
	}
}

func TestTTReadN(t *testing.T) {
	b, err := ttwire.ReadN(bytes.NewReader([]byte("abcdef")), 4)
	if err != nil || string(b) != "abcd" {
		t.Errorf("ReadN = %q, %v", b, err)
	}
	if _, err := ttwire.ReadN(bytes.NewReader([]byte("ab")), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadN past the end: %v; want io.ErrUnexpectedEOF", err)
	}
}

func TestTTNamesByName(t *testing.T) {
	for _, tc := range []struct {
		lookup func(string) (int, bool)
		name   string
		want   int
		ok     bool
	}{
		{ttwire.ParseCondOp, "streq", ttwire.OpStrEq, true},
		{ttwire.ParseCondOp, "NumBt", ttwire.OpNumBT, true},
		{ttwire.ParseCondOp, ">=", ttwire.OpNumGE, true},
		{ttwire.ParseCondOp, "~streq", ttwire.OpStrEq | ttwire.FlagNegate, true},
		// Only ASCII letters fold: U+017F is not an 's' to the server.
		{ttwire.ParseCondOp, "\u017ftreq", 0, false},
		{ttwire.ParseOrderType, "numdesc", ttwire.OrderNumDesc, true},
		{ttwire.ParseMSType, "AndNot", ttwire.MSDiff, true},
	} {
		if got, ok := tc.lookup(tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("lookup(%q) = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if op, ok := ttwire.ParseCondOp("\u017fTREQ"); ok {
		t.Errorf("ParseCondOp(\"\\u017fTREQ\") = %d; want no operator", op)
	}
}
