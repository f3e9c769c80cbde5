package main

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
)

// simpleAdmin is a command without arguments that calls do.
func (c *cli) simpleAdmin(ctx context.Context, args []string, name, about string, setup func(fs flagger), do func(ctx context.Context, kc *ktgrpc.Client, p *printer) error) error {
	fs, cf := c.clientCommand(name, "[flags]", about)
	if setup != nil {
		setup(fs)
	}
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		p := c.printer(cf, ": ")
		if err := do(ctx, kc, p); err != nil {
			_ = p.Flush()
			return err
		}
		return p.Flush()
	})
}

// flagger is the part of flag.FlagSet that setup functions use.
type flagger interface {
	Bool(name string, value bool, usage string) *bool
	String(name, value, usage string) *string
	Int64(name string, value int64, usage string) *int64
}

// fields prints a map of status fields sorted by name, as NAME: VALUE.
func fields(p *printer, m map[string]string) error {
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if err := p.record(textField("name", n), textField("value", m[n])); err != nil {
			return err
		}
	}
	return nil
}

func (c *cli) status(ctx context.Context, args []string) error {
	return c.simpleAdmin(ctx, args, "status",
		"Print a database's record count and size, then every other status field the\nbackend reports, sorted by name, one \"NAME: VALUE\" per line.", nil,
		func(ctx context.Context, kc *ktgrpc.Client, p *printer) error {
			st, err := kc.Status(ctx)
			if err != nil {
				return err
			}
			m := map[string]string{}
			for k, v := range st.Fields {
				// count and size come first, once, from the typed fields.
				if k != "count" && k != "size" {
					m[k] = v
				}
			}
			if err := p.record(textField("name", "count"), intField("value", st.Count)); err != nil {
				return err
			}
			if err := p.record(textField("name", "size"), intField("value", st.Size)); err != nil {
				return err
			}
			return fields(p, m)
		})
}

func (c *cli) reportCmd(ctx context.Context, args []string) error {
	return c.simpleAdmin(ctx, args, "report",
		"Print the backend server's report (Kyoto Tycoon report, Tokyo Tyrant stat),\nsorted by name, one \"NAME: VALUE\" per line.", nil,
		func(ctx context.Context, kc *ktgrpc.Client, p *printer) error {
			m, err := kc.Report(ctx)
			if err != nil {
				return err
			}
			return fields(p, m)
		})
}

func (c *cli) clear(ctx context.Context, args []string) error {
	return c.simpleAdmin(ctx, args, "clear", "Remove every record of the database of --db.", nil,
		func(ctx context.Context, kc *ktgrpc.Client, _ *printer) error { return kc.Clear(ctx) })
}

func (c *cli) sync(ctx context.Context, args []string) error {
	var hard *bool
	var command *string
	return c.simpleAdmin(ctx, args, "sync", "Flush the database of --db to its storage.",
		func(fs flagger) {
			hard = fs.Bool("hard", false, "flush to the device as well as to the file system")
			command = fs.String("command", "", "a program the backend runs afterwards, from its command directory (Kyoto Tycoon)")
		},
		func(ctx context.Context, kc *ktgrpc.Client, _ *printer) error {
			return kc.Synchronize(ctx, *hard, *command)
		})
}

func (c *cli) vacuum(ctx context.Context, args []string) error {
	var steps *int64
	return c.simpleAdmin(ctx, args, "vacuum", "Purge the expired records of the database of --db and, where the backend can,\ndefragment it.",
		func(fs flagger) { steps = fs.Int64("steps", 0, "how many steps of work to do (0: a full vacuum)") },
		func(ctx context.Context, kc *ktgrpc.Client, _ *printer) error {
			if *steps < 0 {
				return usagef("--steps %d: must not be negative", *steps)
			}
			return kc.Vacuum(ctx, *steps)
		})
}

func (c *cli) databases(ctx context.Context, args []string) error {
	return c.simpleAdmin(ctx, args, "databases",
		"List the databases, one per line as INDEX NAME KIND BACKEND HEALTHY [ERROR]\n(tab-separated; -w table aligns them under a header).", nil,
		func(ctx context.Context, kc *ktgrpc.Client, p *printer) error {
			dbs, err := kc.Databases(ctx)
			if err != nil {
				return err
			}
			p.sep = "\t"
			for _, d := range dbs {
				f := []field{intField("index", int64(d.Index)), textField("name", d.Name), textField("kind", d.Kind),
					textField("backend", d.Backend), boolField("healthy", d.Healthy), textField("error", d.Error)}
				if err := p.record(f...); err != nil {
					return err
				}
			}
			return nil
		})
}

func (c *cli) capabilities(ctx context.Context, args []string) error {
	return c.simpleAdmin(ctx, args, "capabilities",
		"List what the backend offers beyond the core calls, one capability per line as\nNAME OFFERED DESCRIPTION (tab-separated; -w table aligns them under a header).", nil,
		func(ctx context.Context, kc *ktgrpc.Client, p *printer) error {
			_, caps, err := kc.Capabilities(ctx)
			if err != nil {
				return err
			}
			p.sep = "\t"
			for _, cp := range caps {
				if err := p.record(textField("name", cp.Name), boolField("offered", cp.Offered), textField("description", cp.Description)); err != nil {
					return err
				}
			}
			return nil
		})
}

func (c *cli) health(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("health", "[flags]",
		`Ask each gateway (--addr, or every one of --endpoints) whether it serves,
and print one line per gateway: ENDPOINT<TAB>STATUS (SERVING when its backend
answers). Exit 1 unless every gateway serves.`)
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	p := c.printer(cf, "\t")
	var bad []string
	for _, t := range cf.targets() {
		one := *cf
		one.endpoints, one.addr = "", t
		err := one.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
			st, err := kc.Health(ctx, "")
			if err != nil {
				st = "UNREACHABLE: " + err.Error()
			}
			if st != "SERVING" {
				bad = append(bad, t)
			}
			return p.record(textField("endpoint", t), textField("status", st))
		})
		if err != nil {
			return err
		}
	}
	if err := p.Flush(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return notMet("not serving: %s", strings.Join(bad, ", "))
	}
	return nil
}

func (c *cli) script(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("script", "[flags] NAME [KEY=VALUE]...",
		`Run the server-side procedure NAME with the arguments KEY=VALUE (keys and
values in --format) and print its results, one KEY<TAB>VALUE per line. A
procedure that reports failure prints "failed" on stderr and exits 1.`)
	lock := &choice{value: "none", allowed: []string{"none", "record", "global"}}
	fs.Var(lock, "lock", "how Tokyo Tyrant locks around the call: none, record or global")
	pos, err := c.parseMany(fs, cf, args, "NAME [KEY=VALUE]...")
	if err != nil {
		return err
	}
	var in []ktgrpc.Pair
	for _, a := range pos[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return usagef("argument %q: want KEY=VALUE", a)
		}
		kb, err := cf.decode("KEY", k)
		if err != nil {
			return err
		}
		vb, err := cf.decode("VALUE", v)
		if err != nil {
			return err
		}
		in = append(in, ktgrpc.Pair{Key: string(kb), Value: vb})
	}
	opts := []ktgrpc.Option{}
	switch lock.value {
	case "record":
		opts = append(opts, ktgrpc.WithLock(ktgrpc.LockRecord))
	case "global":
		opts = append(opts, ktgrpc.WithLock(ktgrpc.LockGlobal))
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		out, ok, err := kc.CallScript(ctx, pos[0], in, opts...)
		if err != nil {
			return err
		}
		if !ok {
			return notMet("procedure %s failed", strconv.Quote(pos[0]))
		}
		p := c.printer(cf, "\t")
		for _, r := range out {
			if err := p.record(bytesField("key", []byte(r.Key)), bytesField("value", r.Value)); err != nil {
				return err
			}
		}
		return p.Flush()
	})
}
