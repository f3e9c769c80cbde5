package ktwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ktgrpc/ktgrpc/test/allocmeter"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// The server's half: requests as a test server reads them.

// requestSeeds returns the recorded requests of the transcripts, binary or
// HTTP as asked.
func requestSeeds(f *testing.F, http bool) [][]byte {
	var seeds [][]byte
	for _, c := range golden.Load(f, "kt-binary.jsonl", "kt-replication.jsonl", "kt-rpc.jsonl") {
		for _, s := range c.Steps {
			if s.SendHex == "" {
				continue
			}
			b := golden.Hex(f, s.SendHex)
			if len(b) > 0 && (b[0] >= 0x80) != http {
				seeds = append(seeds, b)
			}
		}
	}
	return seeds
}

// FuzzKTBinaryRequest decodes arbitrary bytes as a stream of binary
// requests with the server's decoders.
func FuzzKTBinaryRequest(f *testing.F) {
	max32 := be32(0xFFFFFFFF)
	addSeeds(f, append(requestSeeds(f, false),
		[]byte{},
		[]byte{MagicSetBulk},
		cat([]byte{MagicSetBulk}, be32(0), max32),
		cat([]byte{MagicSetBulk}, be32(1), be32(1), []byte{0, 0}, be32(MaxDataSize), be32(1), make([]byte, 8), []byte("k")),
		cat([]byte{MagicGetBulk}, be32(0), be32(1), []byte{0, 0}, be32(MaxDataSize+1)),
		cat([]byte{MagicRemoveBulk}, be32(1), be32(2), []byte{0, 3}, be32(1), []byte("k"), []byte{0, 0}),
		cat([]byte{MagicPlayScript}, be32(0), be32(4), max32, []byte("echo")),
		cat([]byte{MagicPlayScript}, be32(0), be32(MaxDataSize+1), be32(0)),
		cat([]byte{MagicReplication}, be32(1), make([]byte, 8), []byte{0, 2}, []byte{MagicGetBulk}, be32(0), be32(0)),
		[]byte{MagicReplication, 0, 0},
		[]byte{0x00, 0x01},
	))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var out []byte
		done := 0
		var err error
		allocmeter.Check(t, len(data), func() {
			for r.Len() > 0 {
				var re []byte
				if re, err = decodeRequest(r); err != nil {
					return
				}
				out = append(out, re...)
				done = len(data) - r.Len()
			}
		})
		if err != nil {
			checkReadErr(t, err, len(data) > 0)
		}
		if !bytes.Equal(out, data[:done]) {
			t.Fatalf("decoded and re-encoded\n%x\nwant\n%x", out, data[:done])
		}
	})
}

// FuzzKTRequest reads arbitrary bytes as a stream of HTTP requests, as the
// server does.
func FuzzKTRequest(f *testing.F) {
	addSeeds(f, append(requestSeeds(f, true),
		[]byte(""),
		[]byte("GET / HTTP/1.1\n\n"),
		[]byte("POST /rpc/set HTTP/1.1\r\nContent-Length: 268435456\r\n\r\nabc"),
		[]byte("POST /rpc/set HTTP/1.1\r\nContent-Length: 268435457\r\n\r\n"),
		[]byte("POST /rpc/set HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
		[]byte("PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nab"),
		[]byte("PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"),
		[]byte("PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /x HTTP/1.0\r\n\r\n"),
		[]byte("GET /nohttp\r\n\r\n"),
		bytes.Repeat([]byte("x"), MaxRequestLine+10),
	))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		allocmeter.Check(t, len(data), func() {
			for {
				req, err := ReadRequest(r)
				var he *HTTPError
				switch {
				case err == nil:
				case errors.Is(err, ErrMalformedRequest), errors.Is(err, io.EOF):
					return
				case errors.As(err, &he):
					if he.Code != 400 && he.Code != 413 {
						t.Fatalf("HTTP error %d: %v", he.Code, he)
					}
					return
				default:
					t.Fatalf("unclassified error %T: %v", err, err)
				}
				if len(req.Body) > MaxRequestBody {
					t.Fatalf("body of %d bytes accepted", len(req.Body))
				}
				if req.Version != "HTTP/1.0" && req.Version != "HTTP/1.1" {
					t.Fatalf("version %q accepted", req.Version)
				}
			}
		})
	})
}
