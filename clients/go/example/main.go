// Command example walks through the ktgrpc gateway with the Go client: set,
// get, bulk, scan and subscribe.
//
// Usage: example [ADDRESS]   (default: $KTGRPC_ADDR, else 127.0.0.1:7878)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
)

func main() {
	addr := os.Getenv("KTGRPC_ADDR")
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if addr == "" {
		addr = ktgrpc.DefaultAddress
	}
	if err := run(context.Background(), addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run prints the same walk-through as the Python and Node examples, line for
// line, so that one expected output checks all three.
func run(ctx context.Context, addr string, w io.Writer) error {
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()

	// Single records. A missing key is ErrNotFound.
	if err := c.SetString(ctx, "greeting", "hello"); err != nil {
		return err
	}
	fmt.Fprintln(w, "set greeting")
	v, err := c.GetString(ctx, "greeting")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "get greeting =", v)
	_, err = c.Get(ctx, "missing")
	if err != nil && !errors.Is(err, ktgrpc.ErrNotFound) {
		return err
	}
	fmt.Fprintln(w, "get missing: found =", err == nil)

	// Bulk operations, with maps.
	stored, err := c.SetMulti(ctx, map[string][]byte{
		"user:1": []byte("ann"),
		"user:2": []byte("bob"),
		"user:3": []byte("cid"),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "set_bulk stored", stored)
	keys := []string{"user:1", "user:3", "user:9"}
	got, err := c.GetMulti(ctx, keys)
	if err != nil {
		return err
	}
	var parts []string
	for _, k := range keys {
		if v, ok := got[k]; ok {
			parts = append(parts, k+"="+string(v))
		}
	}
	fmt.Fprintln(w, "get_bulk", strings.Join(parts, " "))

	// Scan is an iterator over the records in key order.
	for rec, err := range c.Scan(ctx, ktgrpc.WithPrefix("user:")) {
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "scan %s=%s\n", rec.Key, rec.Value)
	}

	removed, err := c.RemoveMulti(ctx, []string{"user:2", "user:3"})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "remove_bulk removed", removed)

	// Replay the update log from the start; the first progress event after
	// the replay says the stream has caught up. Its position is where a later
	// Subscribe(ctx, ktgrpc.WithAfter(position)) would resume.
	var saved uint64
	for ev, err := range c.Subscribe(ctx, ktgrpc.WithAfter(0)) {
		if err != nil {
			return err
		}
		if ev.Op == ktgrpc.OpProgress {
			saved = ev.Position
			fmt.Fprintln(w, "caught up: resume position > 0 =", ev.Position > 0)
			break
		}
		fmt.Fprintln(w, "event", ev.Op, ev.Key)
	}

	// A consumer that stopped at the saved position resumes exactly after
	// it. Watch (with WithSnapshot, on the gateway's Watch call; with
	// WithAfter, without the snapshot) retries by itself when the gateway
	// restarts or ends a consumer that fell behind, after the last position
	// it yielded; a consumer that restarts passes the position it persisted.
	if err := c.SetString(ctx, "user:4", "dan"); err != nil {
		return err
	}
	for ev, err := range c.Watch(ctx, ktgrpc.WithAfter(saved), ktgrpc.WithPrefix("user:"), ktgrpc.WithSnapshot()) {
		if err != nil {
			return err
		}
		if ev.Op != ktgrpc.OpProgress {
			fmt.Fprintln(w, "resumed event", ev.Op, ev.Key)
			break
		}
	}
	return nil
}
