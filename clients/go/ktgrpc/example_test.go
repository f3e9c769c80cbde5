package ktgrpc_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
)

// These examples need a gateway, so they are compiled but not run here;
// test/goclient runs the package against a live one.

func ExampleClient_OpenCursor() {
	ctx := context.Background()
	c, err := ktgrpc.Dial(ktgrpc.DefaultAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	cur, err := c.OpenCursor(ctx, ktgrpc.WithDB("1"))
	if err != nil {
		log.Fatal(err)
	}
	defer cur.Close()
	ok, err := cur.Jump("user:")
	for ok && err == nil {
		var rec ktgrpc.Record
		if rec, ok, err = cur.Get(true); ok { // read, then step
			fmt.Printf("%s=%s\n", rec.Key, rec.Value)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleQuery() {
	ctx := context.Background()
	c, err := ktgrpc.Dial(ktgrpc.DefaultAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	q := ktgrpc.NewQuery().
		Where("age", ktgrpc.NumGE, "20").
		WhereNot("name", ktgrpc.StrBeginsWith, "x").
		OrderBy("age", ktgrpc.NumDesc).
		Limit(10)
	rows, err := c.TableSearch(ctx, q)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Println(r.Key, string(r.Columns["name"]))
	}
}

func ExampleClient_CompareAndSwap() {
	ctx := context.Background()
	c, err := ktgrpc.Dial(ktgrpc.DefaultAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Create the record only if it does not exist (nil old value), then
	// move it from "draft" to "published" only if nobody changed it.
	if _, err := c.CompareAndSwap(ctx, "post:1", nil, []byte("draft")); err != nil {
		log.Fatal(err)
	}
	swapped, err := c.CompareAndSwap(ctx, "post:1", []byte("draft"), []byte("published"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(swapped)
}
