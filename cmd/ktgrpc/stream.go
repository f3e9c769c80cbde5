package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
)

// Backoff of watch and subscribe between attempts to resume.
const (
	watchBackoff    = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// streamFlags are the flags watch and subscribe share.
type streamFlags struct {
	prefix     *string
	after      *uint64
	progress   *bool
	asJSON     *bool
	maxRetries *int
}

func addStreamFlags(fs *flag.FlagSet, prefixUsage, afterUsage string) streamFlags {
	return streamFlags{
		prefix:     fs.String("prefix", "", prefixUsage),
		after:      fs.Uint64("after", 0, afterUsage),
		progress:   fs.Bool("progress", false, `also print "POSITION progress" lines as the stream advances`),
		asJSON:     fs.Bool("json", false, "print one JSON object per line (the same as -w json)"),
		maxRetries: fs.Int("max-retries", 0, "give up after this many failed attempts in a row to resume (0: never)"),
	}
}

func (c *cli) subscribe(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("subscribe", "[flags]",
		`Print the update log's changes as they happen, until interrupted, one per
line as "POSITION OP KEY VALUE" (remove has no VALUE; increments print the
amount added as VALUE; clear, sync and optimize have neither; misc prints its
command as KEY), or as JSON objects with -w json. Without --after only changes
from now on are printed; --after 0 replays the retained log. When the gateway
restarts or ends the stream because this reader fell behind, subscribe
resumes after the last position it saw, waiting up to 5s between attempts.
--timeout bounds connecting only.`)
	sf := addStreamFlags(fs, "only changes to keys that start with this",
		"print the changes after this position (0: the whole retained log)")
	interval := fs.Duration("progress-interval", 0, "how often the gateway reports progress (0: its default, 1s)")
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	if *interval < 0 {
		return usagef("--progress-interval %v: must not be negative", *interval)
	}
	prefix, err := cf.decode("--prefix", *sf.prefix)
	if err != nil {
		return err
	}
	opts := []ktgrpc.Option{ktgrpc.WithPrefix(string(prefix)), ktgrpc.WithNow(), ktgrpc.WithProgressInterval(*interval)}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "after" {
			opts = append(opts, ktgrpc.WithAfter(*sf.after))
		}
	})
	return c.follow(ctx, cf, sf, "subscribe", opts)
}

func (c *cli) watch(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("watch", "[flags]",
		`Print the records with a key prefix (or one key, with --key), then every
change to them, until interrupted: first "POSITION record KEY VALUE" lines,
the snapshot, read at POSITION; then the changes after it, one per line as
subscribe prints them, or JSON objects with -w json. A change made while the
snapshot is read may show in both. When the gateway restarts or ends the
stream because this reader fell behind, watch resumes after the last
position it printed, waiting up to 5s between attempts; --after starts there
without a snapshot. --timeout bounds connecting only.`)
	sf := addStreamFlags(fs, "watch the keys that start with this (empty: every key)",
		"skip the snapshot and print the changes after this position")
	key := fs.String("key", "", "watch this key only, instead of a prefix")
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	opts := []ktgrpc.Option{ktgrpc.WithSnapshot()}
	var keyFlag bool
	fs.Visit(func(f *flag.Flag) { keyFlag = keyFlag || f.Name == "key" })
	if keyFlag {
		k, err := cf.decode("--key", *key)
		if err != nil {
			return err
		}
		opts = append(opts, ktgrpc.WithKey(string(k)))
	} else {
		p, err := cf.decode("--prefix", *sf.prefix)
		if err != nil {
			return err
		}
		opts = append(opts, ktgrpc.WithPrefix(string(p)))
	}
	if *sf.after != 0 {
		opts = append(opts, ktgrpc.WithAfter(*sf.after))
	}
	return c.follow(ctx, cf, sf, "watch", opts)
}

// follow runs the client's resuming Watch and prints its events.
func (c *cli) follow(ctx context.Context, cf *clientFlags, sf streamFlags, name string, opts []ktgrpc.Option) error {
	if *sf.asJSON {
		cf.writeOut.value = writeJSON
	}
	if cf.writeOut.value == writeTable {
		return usagef("-w table needs the whole output to align it; %s prints as it goes: use simple or json", name)
	}
	if *sf.maxRetries < 0 {
		return usagef("--max-retries %d: must not be negative", *sf.maxRetries)
	}
	opts = append(opts, ktgrpc.WithBackoff(watchBackoff, watchMaxBackoff), ktgrpc.WithMaxRetries(*sf.maxRetries),
		ktgrpc.WithWait(func(ctx context.Context, d time.Duration) error {
			// A person watching should know why nothing arrives.
			fmt.Fprintf(c.stderr, "ktgrpc: %s: the gateway is unreachable or ended the stream; resuming in %v\n", name, d.Round(time.Millisecond))
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}))
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	kc := ktgrpc.New(conn, ktgrpc.WithDB(cf.db))
	// The stream has no deadline and would wait for an unreachable gateway
	// as long as the connection attempt lasts: check within --timeout that
	// one answers. Any answer, even an unhealthy one, proves it is there.
	pctx, cancel := cf.callContext(ctx)
	_, err = kc.Health(pctx, "")
	cancel()
	if errors.Is(err, ktgrpc.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	p := c.printer(cf, " ")
	for ev, err := range kc.Watch(ctx, opts...) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if ev.Op == ktgrpc.OpProgress && !*sf.progress {
			continue
		}
		if err := p.record(eventFields(ev, p.mode == writeJSON)...); err != nil {
			return err
		}
		// A person or a pipe wants each change as it happens.
		if err := p.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// eventFields renders an event as "POSITION OP KEY VALUE", leaving out the
// fields the operation does not have; JSON adds the database, command and
// origin.
func eventFields(ev ktgrpc.Event, full bool) []field {
	f := []field{uintField("position", ev.Position), textField("kind", ev.Op.String())}
	key := bytesField("key", []byte(ev.Key))
	switch ev.Op {
	case ktgrpc.OpSet, ktgrpc.OpAppend, ktgrpc.OpRecord:
		f = append(f, key, bytesField("value", ev.Value))
	case ktgrpc.OpRemove:
		f = append(f, key)
	case ktgrpc.OpIncrement:
		f = append(f, key, intField("delta", ev.IntDelta))
	case ktgrpc.OpIncrementDouble:
		f = append(f, key, floatField("delta", ev.DoubleDelta))
	case ktgrpc.OpMisc:
		if !full {
			f = append(f, textField("command", ev.Command))
		}
	}
	if full {
		if ev.DB != "" {
			f = append(f, textField("db", ev.DB))
		}
		if ev.Command != "" {
			f = append(f, textField("command", ev.Command))
		}
		if len(ev.Args) > 0 {
			args := field{name: "args", list: make([]string, len(ev.Args))}
			for i, a := range ev.Args {
				args.list[i] = strings.ToValidUTF8(string(a), "\uFFFD")
			}
			f = append(f, args)
		}
		if ev.OriginServerID != 0 {
			f = append(f, uintField("origin_server_id", uint64(ev.OriginServerID)))
		}
	}
	return f
}
