package tttest_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/ktgrpc/ktgrpc/test/tttest"
)

// A server on a table database: a put through the binary protocol, then a
// read of the row from the store.
func Example() {
	srv, err := tttest.New(tttest.WithConfig("tt-table"))
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()

	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	// put "u1" = name NUL alice: C8 10, ksiz, vsiz, key, value.
	req := []byte{0xC8, 0x10, 0, 0, 0, 2, 0, 0, 0, 10}
	req = append(req, "u1name\x00alice"...)
	if _, err := nc.Write(req); err != nil {
		panic(err)
	}
	status := make([]byte, 1)
	if _, err := io.ReadFull(nc, status); err != nil {
		panic(err)
	}
	cols, _, _ := srv.TT().Misc(context.Background(), "get", [][]byte{[]byte("u1")}, true)
	fmt.Printf("status %d, columns %q\n", status[0], cols)
	// Output: status 0, columns ["name" "alice"]
}
