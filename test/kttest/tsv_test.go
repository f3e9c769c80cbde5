package kttest

import (
	"testing"
)

func TestURLDecode(t *testing.T) {
	for in, want := range map[string]string{
		"a%20b":    "a b",
		"a+b":      "a b",
		"%e6%9D":   "\xe6\x9d",
		"%zz":      "\x00",
		"ab%4":     "ab",
		"a b\x7fc": "abc",
		"%2Fx%":    "/x",
	} {
		if got := urlDecode(in); got != want {
			t.Errorf("urlDecode(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestBase64DecodeIsLenient(t *testing.T) {
	for in, want := range map[string]string{
		"dmFsdWU=":    "value",
		"dm Fs\ndWU=": "value",
		"YQ==YmM=":    "a",
		"YWJj":        "abc",
		"YWI":         "ab",
		"":            "",
		"AAECA/8=":    "\x00\x01\x02\x03\xff",
	} {
		if got := base64Decode(in); got != want {
			t.Errorf("base64Decode(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestQuoteDecode(t *testing.T) {
	for in, want := range map[string]string{
		"nl=0Ahere":      "nl\nhere",
		"soft=\r\nbreak": "softbreak",
		"a\tb":           "ab",
		"x=3d":           "x=",
	} {
		if got := quoteDecode(in); got != want {
			t.Errorf("quoteDecode(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestColencOf(t *testing.T) {
	for in, want := range map[string]byte{
		"text/tab-separated-values":                          encRaw,
		"text/tab-separated-values; colenc=B":                encBase64,
		"text/tab-separated-values; charset=UTF-8; colenc=u": encURL,
		"text/tab-separated-values;colenc=\"Quoted":          encQuote,
		"text/tab-separated-values; colenc=X":                encRaw,
	} {
		if got := colencOf(in); got != want {
			t.Errorf("colencOf(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestEncodeTSVChoosesLikeKT(t *testing.T) {
	for _, tc := range []struct {
		out      map[string]string
		body, ct string
	}{
		{map[string]string{}, "", "text/tab-separated-values"},
		{map[string]string{"b": "2", "a": "1"}, "a\t1\nb\t2\n", "text/tab-separated-values"},
		// A control byte forces an encoding; U wins the tie with B.
		{map[string]string{"value": "a\nb"}, "value\ta%0ab\n", "text/tab-separated-values; colenc=U"},
		{map[string]string{"value": "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"}, "dmFsdWU=\tAAECAwQFBgcICQoLDA0ODw==\n", "text/tab-separated-values; colenc=B"},
		// Bytes >= 0x80 alone stay raw.
		{map[string]string{"k": "\xe6\x9d\xb1"}, "k\t\xe6\x9d\xb1\n", "text/tab-separated-values"},
		// Lines are sorted by the encoded name: "%09" sorts before "a".
		{map[string]string{"a": "1", "\t": "2"}, "%09\t2\na\t1\n", "text/tab-separated-values; colenc=U"},
	} {
		body, ct := encodeTSV(tc.out)
		if string(body) != tc.body || ct != tc.ct {
			t.Errorf("encodeTSV(%q) = %q, %q; want %q, %q", tc.out, body, ct, tc.body, tc.ct)
		}
	}
}

func TestParseFormAndTSV(t *testing.T) {
	m := map[string]string{}
	parseForm("a=1&b=x+y; c=%41&&d&a=2", m)
	want := map[string]string{"a": "2", "b": "x y", "c": "A", "d": ""}
	if len(m) != len(want) {
		t.Fatalf("parseForm = %q; want %q", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("parseForm %s = %q; want %q", k, m[k], v)
		}
	}
	m = map[string]string{}
	parseTSV("k\tv\tw\r\nnotab\n\nlast\tx", encRaw, m)
	if len(m) != 2 || m["k"] != "v\tw" || m["last"] != "x" {
		t.Errorf("parseTSV = %q; want k=v<TAB>w, last=x", m)
	}
}
