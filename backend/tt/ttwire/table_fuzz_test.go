package ttwire_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/allocmeter"
)

// FuzzTTColumns decodes arbitrary table records and query arguments.
func FuzzTTColumns(f *testing.F) {
	// Every element of every recorded misc reply (table records, search
	// results, hints), and every recorded get value.
	var seeds [][]byte
	cmds, replies := replySeeds(f)
	for i, cmd := range cmds {
		rep, err := ttwire.ReadReply(bytes.NewReader(replies[i]), cmd)
		if err != nil {
			continue
		}
		seeds = append(seeds, rep.Elems...)
		seeds = append(seeds, rep.Keys...)
		if rep.Value != nil {
			seeds = append(seeds, rep.Value)
		}
	}
	addSeeds(f, append(seeds,
		[]byte{}, []byte{0}, []byte{0, 0}, []byte("name"), []byte("name\x00"), []byte("\x00v"),
		[]byte("a\x00b\x00c"), []byte("a\x00b\x00c\x00"), []byte("\x00\x00[[HINT]]\nplan"),
		[]byte("\x00\x00\x00\x00\x00\x00\x00"),
	))
	f.Fuzz(func(t *testing.T, b []byte) {
		allocmeter.Check(t, len(b), func() { checkColumns(t, b) })
		// A query argument splits into tokens that join back.
		if got := strings.Join(ttwire.SplitDirective(b), "\x00"); got != string(b) {
			t.Fatalf("SplitDirective(%q) joins back as %q", b, got)
		}
		ttwire.IsHint(b)
	})
}

// checkColumns decodes a table record and checks it against the encoder:
// the columns encode back to the record, less an unpaired trailing name,
// which the server drops too.
func checkColumns(t *testing.T, b []byte) {
	t.Helper()
	cols := ttwire.DecodeColumns(b)
	enc, err := ttwire.EncodeColumns(cols)
	if err != nil {
		t.Fatalf("record %q decoded to columns %q that do not encode: %v", b, cols, err)
	}
	want := b
	if n := bytes.Count(b, []byte{0}); n%2 == 0 {
		// An even number of NULs leaves a name without a value.
		want = b[:max(bytes.LastIndexByte(b, 0), 0)]
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("record %q decoded to %q, which encodes as %q, want %q", b, cols, enc, want)
	}
}
