package kt

import (
	"bytes"
	"errors"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"io"
	"testing"

	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// FuzzKTAdapterGetBulk feeds arbitrary bytes to the adapter as the reply to
// its binary get_bulk. Whatever they are, reading must end with an error
// the adapter classifies, or with records that were asked for, in request
// order: a reply that answers another request is an error, never another
// key's record.
func FuzzKTAdapterGetBulk(f *testing.F) {
	// The get_bulk whose reply is read: a key twice, and the same key in
	// another database.
	keys := []ktwire.KeyRef{{Key: []byte("k")}, {Key: []byte("x")}, {Key: []byte("k")}, {DB: 1, Key: []byte("k")}}
	for _, c := range golden.Load(f, "kt-binary.jsonl") {
		for _, s := range c.Steps {
			if !s.HTTP && len(s.ExpectHex) > 2 && s.ExpectHex[:2] == "ba" {
				f.Add(golden.Hex(f, s.ExpectHex))
			}
		}
	}
	rec := func(db uint16, key string) ktwire.Record {
		return ktwire.Record{DB: db, Key: []byte(key), Value: []byte("v"), XT: ktwire.XTMax}
	}
	for _, recs := range [][]ktwire.Record{
		{rec(0, "k"), rec(0, "x"), rec(0, "k"), rec(1, "k")},
		{rec(0, "x")},
		{rec(0, "k"), rec(0, "k"), rec(0, "k")},
		{rec(0, "x"), rec(0, "k"), rec(0, "x")},
		{rec(1, "k"), rec(0, "k")},
		{rec(2, "k")},
		{rec(0, "other")},
	} {
		f.Add(ktwire.AppendGetBulkReply(nil, recs))
	}
	f.Add([]byte{ktwire.MagicError})
	f.Add([]byte{ktwire.MagicGetBulk, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, reply []byte) {
		c := connpool.NewConn(nil, bytes.NewReader(reply))
		recs, err := readGetBulk(c, "get_bulk", keys)
		if err != nil {
			var ae *connpool.AppError
			switch {
			case errors.As(err, &ae):
				if !c.Broken {
					t.Fatal("the binary error reply left the connection in the pool")
				}
			case errors.Is(err, ktwire.ErrProtocol), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			default:
				t.Fatalf("reply %x: unclassified error %v", reply, err)
			}
			return
		}
		next := 0
		for _, r := range recs {
			for next < len(keys) && (keys[next].DB != r.DB || !bytes.Equal(keys[next].Key, r.Key)) {
				next++
			}
			if next == len(keys) {
				t.Fatalf("reply %x: records %+v are not the keys asked for, in order", reply, recs)
			}
			next++
		}
	})
}
