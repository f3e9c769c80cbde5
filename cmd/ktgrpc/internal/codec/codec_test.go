package codec

import (
	"bytes"
	"flag"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	values := [][]byte{{}, []byte("v1"), {0, 0xff, '\n', '\t', 0x80}}
	for _, f := range []Format{Text, Hex, Base64} {
		for _, v := range values {
			got, err := f.Decode(f.Encode(v))
			if err != nil {
				t.Fatalf("%v: decode %q: %v", f, f.Encode(v), err)
			}
			if !bytes.Equal(got, v) {
				t.Errorf("%v: round trip of %x gave %x", f, v, got)
			}
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		f       Format
		in      string
		want    []byte
		wantErr bool
	}{
		{Text, " a b\n", []byte(" a b\n"), false},
		{Hex, "00FFab\n", []byte{0, 0xff, 0xab}, false},
		{Hex, "abc", nil, true},
		{Hex, "zz", nil, true},
		{Base64, "AP8=", []byte{0, 0xff}, false},
		{Base64, "AP8", []byte{0, 0xff}, false},
		{Base64, "  AP8=\n", []byte{0, 0xff}, false},
		{Base64, "!!", nil, true},
	}
	for _, tt := range tests {
		got, err := tt.f.Decode(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v.Decode(%q) error = %v, want error %v", tt.f, tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !bytes.Equal(got, tt.want) {
			t.Errorf("%v.Decode(%q) = %x, want %x", tt.f, tt.in, got, tt.want)
		}
	}
}

func TestEncode(t *testing.T) {
	b := []byte{0, 0xff, 'A'}
	if got := Hex.Encode(b); got != "00ff41" {
		t.Errorf("hex = %q", got)
	}
	if got := Base64.Encode(b); got != "AP9B" {
		t.Errorf("base64 = %q", got)
	}
	if got := Text.Quote([]byte("a\x00")); got != `"a\x00"` {
		t.Errorf("quoted text = %q", got)
	}
	if got := Hex.Quote(b); got != "00ff41" {
		t.Errorf("quoted hex = %q", got)
	}
}

func TestFlag(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Format
	fs.Var(&f, "format", "")
	if err := fs.Parse([]string{"--format", "BASE64"}); err != nil {
		t.Fatal(err)
	}
	if f != Base64 || f.String() != "base64" {
		t.Fatalf("format = %v", f)
	}
	if err := fs.Parse([]string{"--format", "yaml"}); err == nil {
		t.Fatal("want an error for an unknown format")
	}
}
