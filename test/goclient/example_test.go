package goclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/server"
)

// startGateway serves a fresh embedded store on a loopback port for the
// examples, which have no *testing.T for gatewaytest. A real program dials
// its gateway's address, such as ktgrpc.DefaultAddress.
func startGateway() (addr string, stop func()) {
	store, err := embedded.New(embedded.Options{})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := server.New(store, server.Options{})
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), func() {
		_ = srv.Stop(context.Background())
		_ = store.Close()
	}
}

// Example is the Go snippet of the top-level README, which shows the body
// after the gateway's start, with the address written out;
// clients/readme_test.go keeps the two the same.
func Example() {
	addr, stop := startGateway()
	defer stop()

	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.SetString(ctx, "greeting", "hello", ktgrpc.WithTTL(time.Hour)); err != nil {
		log.Fatal(err)
	}
	v, err := c.GetString(ctx, "greeting")
	fmt.Println(v, err)
	_, err = c.Get(ctx, "missing")
	fmt.Println(errors.Is(err, ktgrpc.ErrNotFound))

	n, err := c.SetMulti(ctx, map[string][]byte{"user:1": []byte("ann"), "user:2": []byte("bob")})
	fmt.Println(n, err)
	for rec, err := range c.Scan(ctx, ktgrpc.WithPrefix("user:")) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s=%s\n", rec.Key, rec.Value)
	}
	// Output:
	// hello <nil>
	// true
	// 2 <nil>
	// user:1=ann
	// user:2=bob
}

func ExampleClient_SetMulti() {
	addr, stop := startGateway()
	defer stop()
	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	stored, err := c.SetMulti(ctx, map[string][]byte{
		"user:1": []byte("ann"),
		"user:2": []byte("bob"),
	})
	if err != nil {
		log.Fatal(err)
	}
	got, err := c.GetMulti(ctx, []string{"user:1", "user:2", "user:3"})
	if err != nil {
		log.Fatal(err)
	}
	removed, err := c.RemoveMulti(ctx, []string{"user:1", "user:3"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stored, len(got), string(got["user:2"]), removed)
	// Output: 2 2 bob 1
}

func ExampleClient_Scan() {
	addr, stop := startGateway()
	defer stop()
	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"b", "a", "c", "d"} {
		if err := c.SetString(ctx, k, "value of "+k); err != nil {
			log.Fatal(err)
		}
	}

	for rec, err := range c.Scan(ctx, ktgrpc.WithRange("b", ""), ktgrpc.WithLimit(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s\n", rec.Key, rec.Value)
	}
	// Output:
	// b: value of b
	// c: value of c
}

func ExampleClient_Subscribe() {
	addr, stop := startGateway()
	defer stop()
	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b"} {
		if err := c.SetString(ctx, k, "v"); err != nil {
			log.Fatal(err)
		}
	}

	// follow handles changes after a checkpoint until it has caught up, and
	// returns the new checkpoint. A consumer stores the checkpoint and, after
	// a restart or an ErrUnavailable, resumes from it without gaps.
	follow := func(checkpoint uint64) uint64 {
		for ev, err := range c.Subscribe(ctx, ktgrpc.WithAfter(checkpoint)) {
			if err != nil {
				log.Fatal(err)
			}
			checkpoint = ev.Position
			if ev.Op == ktgrpc.OpProgress {
				break // caught up; a long-running consumer keeps going
			}
			fmt.Println(ev.Op, ev.Key)
		}
		return checkpoint
	}

	checkpoint := follow(0)
	if _, err := c.Remove(ctx, "a"); err != nil {
		log.Fatal(err)
	}
	follow(checkpoint)
	// Output:
	// set a
	// set b
	// remove a
}

func ExampleClient_Watch() {
	addr, stop := startGateway()
	defer stop()
	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b"} {
		if err := c.SetString(ctx, k, "v"); err != nil {
			log.Fatal(err)
		}
	}

	// A consumer keeps its checkpoint in durable storage, here a variable.
	// Watch itself resumes after gateway restarts and network failures;
	// the checkpoint is for restarts of the consumer.
	var saved uint64
	consume := func() {
		for ev, err := range c.Watch(ctx, ktgrpc.WithAfter(saved), ktgrpc.WithBackoff(50*time.Millisecond, 5*time.Second)) {
			if err != nil {
				log.Fatal(err) // not worth retrying, retries ran out, or ctx ended
			}
			if ev.Op != ktgrpc.OpProgress {
				fmt.Println(ev.Op, ev.Key)
			}
			saved = ev.Position // once the event is handled; progress too
			if ev.Op == ktgrpc.OpProgress {
				return // caught up; a long-running consumer keeps going
			}
		}
	}

	consume()
	if _, err := c.Remove(ctx, "a"); err != nil {
		log.Fatal(err)
	}
	consume() // as after a restart: on from the saved position
	// Output:
	// set a
	// set b
	// remove a
}

func ExampleNewTyped() {
	addr, stop := startGateway()
	defer stop()
	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	type User struct {
		Name  string `json:"name"`
		Admin bool   `json:"admin"`
	}
	users := ktgrpc.NewTyped(c.With(ktgrpc.WithDB("1")), ktgrpc.JSON[User]())
	if err := users.Set(ctx, "u1", User{Name: "Ann", Admin: true}); err != nil {
		log.Fatal(err)
	}
	u, err := users.Get(ctx, "u1")
	if err != nil {
		log.Fatal(err)
	}
	stored, err := c.GetString(ctx, "u1", ktgrpc.WithDB("1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Name, u.Admin)
	fmt.Println(stored)
	// Output:
	// Ann true
	// {"name":"Ann","admin":true}
}

func ExampleClient_With() {
	addr, stop := startGateway()
	defer stop()
	ctx := context.Background()
	c, err := ktgrpc.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Every call through sessions goes to database "1" and expires in 30
	// minutes unless the call says otherwise.
	sessions := c.With(ktgrpc.WithDB("1"), ktgrpc.WithTTL(30*time.Minute))
	if err := sessions.SetString(ctx, "s1", "token"); err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(ctx, "s1")
	fmt.Println("in the default database:", !errors.Is(err, ktgrpc.ErrNotFound))
	v, err := sessions.GetString(ctx, "s1")
	fmt.Println("in database 1:", v, err)
	// Output:
	// in the default database: false
	// in database 1: token <nil>
}
