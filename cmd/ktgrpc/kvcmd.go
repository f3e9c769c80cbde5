package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
)

// notMet is the outcome of a conditional write whose condition did not
// hold: exit 1 with a message, so that a script can tell it apart.
func notMet(format string, args ...any) error {
	return exitCodeError{code: exitError, msg: fmt.Sprintf(format, args...)}
}

// writeOpts turns --ttl into client options.
func writeOpts(ttl time.Duration) ([]ktgrpc.Option, error) {
	if ttl < 0 {
		return nil, usagef("--ttl %v: must not be negative", ttl)
	}
	if ttl > 0 {
		return []ktgrpc.Option{ktgrpc.WithTTL(ttl)}, nil
	}
	return nil, nil
}

// keyValue decodes the KEY and VALUE arguments; without VALUE (when
// optional) the value is read from standard input.
func (c *cli) keyValue(cf *clientFlags, pos []string) (key string, value []byte, err error) {
	k, err := cf.decode("KEY", pos[0])
	if err != nil {
		return "", nil, err
	}
	if len(pos) >= 2 {
		value, err = cf.decode("VALUE", pos[1])
		return string(k), value, err
	}
	in, err := io.ReadAll(c.stdin)
	if err != nil {
		return "", nil, fmt.Errorf("read value from standard input: %w", err)
	}
	if value, err = cf.format.Decode(string(in)); err != nil {
		return "", nil, usagef("value on standard input: %v", err)
	}
	return string(k), value, nil
}

// keyCommand runs a command of one KEY argument: it parses, decodes KEY and
// calls do with a client. flags, when not nil, adds the command's own flags.
func (c *cli) keyCommand(ctx context.Context, args []string, name, about string, flags func(fs *flag.FlagSet), do func(ctx context.Context, kc *ktgrpc.Client, cf *clientFlags, key []byte) error) error {
	fs, cf := c.clientCommand(name, "[flags] KEY", about)
	if flags != nil {
		flags(fs)
	}
	pos, err := c.parse(fs, cf, args, 1, "KEY")
	if err != nil {
		return err
	}
	key, err := cf.decode("KEY", pos[0])
	if err != nil {
		return err
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error { return do(ctx, kc, cf, key) })
}

// printRecord prints a record read by get or seize: its value alone in
// simple mode, with the key and expiration otherwise. A missing record is
// "not found", exit 1.
func (c *cli) printRecord(cf *clientFlags, key []byte, rec ktgrpc.Record, err error) error {
	if missing(err) {
		return cf.notFound(key)
	}
	if err != nil {
		return err
	}
	p := c.printer(cf, "\t")
	if cf.writeOut.value == writeSimple {
		err = p.record(bytesField("value", rec.Value))
	} else {
		err = p.record(bytesField("key", key), bytesField("value", rec.Value), expireField(rec.ExpireTime))
	}
	if err != nil {
		return err
	}
	return p.Flush()
}

func (c *cli) get(ctx context.Context, args []string) error {
	var raw *bool
	return c.keyCommand(ctx, args, "get",
		`Print the value of the record KEY on one line, bytes escaped (\n, \t, \\,
\xHH) in text --format; --raw writes the value's bytes unchanged, without a
newline, for files. -w json prints {"key":...,"value":...,"expire_time":...}.
A missing key prints "not found" on stderr and exits 1.`,
		func(fs *flag.FlagSet) {
			raw = fs.Bool("raw", false, "write the value's bytes exactly, with no newline (for redirecting to a file)")
		},
		func(ctx context.Context, kc *ktgrpc.Client, cf *clientFlags, key []byte) error {
			rec, err := kc.GetRecord(ctx, string(key))
			if err == nil && *raw {
				_, err = c.stdout.Write(rec.Value)
				return err
			}
			return c.printRecord(cf, key, rec, err)
		})
}

// expireField renders an expiration: RFC 3339 in UTC, or "never".
func expireField(t time.Time) field {
	if t.IsZero() {
		return textField("expire_time", "never")
	}
	return textField("expire_time", t.UTC().Format(time.RFC3339Nano))
}

func (c *cli) set(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("set", "[flags] KEY [VALUE]",
		"Store VALUE under KEY, replacing any value it had. Without VALUE the value is\nread from standard input (in --format, to its end).")
	ttl := fs.Duration("ttl", 0, "expire the record this long from now (0: never)")
	pos, err := c.parse(fs, cf, args, 1, "KEY", "[VALUE]")
	if err != nil {
		return err
	}
	opts, err := writeOpts(*ttl)
	if err != nil {
		return err
	}
	key, value, err := c.keyValue(cf, pos)
	if err != nil {
		return err
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		return kc.Set(ctx, key, value, opts...)
	})
}

// conditional is add, replace and append: KEY [VALUE] with --ttl.
func (c *cli) conditional(ctx context.Context, args []string, name, about string, do func(ctx context.Context, kc *ktgrpc.Client, key string, value []byte, keepLast uint, opts []ktgrpc.Option) error) error {
	fs, cf := c.clientCommand(name, "[flags] KEY [VALUE]", about+"\nWithout VALUE the value is read from standard input.")
	ttl := fs.Duration("ttl", 0, "expire the record this long from now (0: never)")
	var keepLast *uint
	if name == "append" {
		keepLast = fs.Uint("keep-last", 0, "keep only the last N bytes of an existing record (Tokyo Tyrant; 0: all)")
	} else {
		keepLast = new(uint)
	}
	pos, err := c.parse(fs, cf, args, 1, "KEY", "[VALUE]")
	if err != nil {
		return err
	}
	opts, err := writeOpts(*ttl)
	if err != nil {
		return err
	}
	key, value, err := c.keyValue(cf, pos)
	if err != nil {
		return err
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		return do(ctx, kc, key, value, *keepLast, opts)
	})
}

func (c *cli) add(ctx context.Context, args []string) error {
	return c.conditional(ctx, args, "add", "Store VALUE under KEY only if KEY does not exist; otherwise print \"exists\" on\nstderr and exit 1.",
		func(ctx context.Context, kc *ktgrpc.Client, key string, value []byte, _ uint, opts []ktgrpc.Option) error {
			ok, err := kc.Add(ctx, key, value, opts...)
			if err == nil && !ok {
				return notMet("key %q exists; not added", key)
			}
			return err
		})
}

func (c *cli) replace(ctx context.Context, args []string) error {
	return c.conditional(ctx, args, "replace", "Store VALUE under KEY only if KEY exists; otherwise print \"not found\" on\nstderr and exit 1.",
		func(ctx context.Context, kc *ktgrpc.Client, key string, value []byte, _ uint, opts []ktgrpc.Option) error {
			ok, err := kc.Replace(ctx, key, value, opts...)
			if err == nil && !ok {
				return notMet("key %q not found; not replaced", key)
			}
			return err
		})
}

func (c *cli) appendCmd(ctx context.Context, args []string) error {
	return c.conditional(ctx, args, "append", "Append VALUE to the record KEY, creating it if missing.",
		func(ctx context.Context, kc *ktgrpc.Client, key string, value []byte, keepLast uint, opts []ktgrpc.Option) error {
			if keepLast > 0 {
				opts = append(opts, ktgrpc.WithKeepLast(uint32(keepLast)))
			}
			return kc.Append(ctx, key, value, opts...)
		})
}

func (c *cli) cas(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("cas", "[flags] KEY OLD NEW",
		`Replace the value of KEY with NEW only if it is OLD, atomically. With
--absent the record must not exist (give KEY NEW); with --remove it is
removed instead (give KEY OLD). When the record does not match, print
"not swapped" on stderr and exit 1.`)
	absent := fs.Bool("absent", false, "expect no record instead of OLD")
	remove := fs.Bool("remove", false, "remove the record instead of writing NEW")
	ttl := fs.Duration("ttl", 0, "expire the new record this long from now (0: never)")
	pos, err := c.parseMany(fs, cf, args, "KEY OLD NEW")
	if err != nil {
		return err
	}
	want := "KEY OLD NEW"
	switch {
	case *absent && *remove:
		return usagef("--absent and --remove together would do nothing")
	case *absent:
		want = "KEY NEW"
	case *remove:
		want = "KEY OLD"
	}
	if len(pos) != len(strings.Fields(want)) {
		return usagef("want %s, got %d argument(s)", want, len(pos))
	}
	opts, err := writeOpts(*ttl)
	if err != nil {
		return err
	}
	key, err := cf.decode("KEY", pos[0])
	if err != nil {
		return err
	}
	var oldV, newV []byte
	i := 1
	if !*absent {
		if oldV, err = cf.decode("OLD", pos[i]); err != nil {
			return err
		}
		if oldV == nil {
			oldV = []byte{}
		}
		i++
	}
	if !*remove {
		if newV, err = cf.decode("NEW", pos[i]); err != nil {
			return err
		}
		if newV == nil {
			newV = []byte{}
		}
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		ok, err := kc.CompareAndSwap(ctx, string(key), oldV, newV, opts...)
		if err == nil && !ok {
			return notMet("key %s does not hold the expected value; not swapped", cf.format.Quote(key))
		}
		return err
	})
}

func (c *cli) remove(ctx context.Context, args []string) error {
	return c.keyCommand(ctx, args, "remove",
		"Delete the record KEY. A missing key prints \"not found\" on stderr and exits 1.", nil,
		func(ctx context.Context, kc *ktgrpc.Client, cf *clientFlags, key []byte) error {
			ok, err := kc.Remove(ctx, string(key))
			if err == nil && !ok {
				return cf.notFound(key)
			}
			return err
		})
}

func (c *cli) seize(ctx context.Context, args []string) error {
	return c.keyCommand(ctx, args, "seize",
		"Print the value of the record KEY and remove it, in one atomic step, as get\nprints it. A missing key prints \"not found\" on stderr and exits 1.", nil,
		func(ctx context.Context, kc *ktgrpc.Client, cf *clientFlags, key []byte) error {
			rec, err := kc.Seize(ctx, string(key))
			return c.printRecord(cf, key, rec, err)
		})
}

func (c *cli) check(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("check", "[flags] KEY...",
		"Print the value size and expiration of each record, one per line as\nKEY<TAB>SIZE<TAB>EXPIRE_TIME, without reading the values. Missing keys are\nleft out; if any is missing, exit 1 after printing the others.")
	pos, err := c.parseMany(fs, cf, args, "KEY...")
	if err != nil {
		return err
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		p := c.printer(cf, "\t")
		var absent []string
		for _, a := range pos {
			key, err := cf.decode("KEY", a)
			if err != nil {
				return err
			}
			info, err := kc.Check(ctx, string(key))
			if missing(err) {
				absent = append(absent, cf.format.Quote(key))
				continue
			}
			if err != nil {
				_ = p.Flush()
				return err
			}
			if err := p.record(bytesField("key", key), intField("size", info.Size), expireField(info.ExpireTime)); err != nil {
				return err
			}
		}
		if err := p.Flush(); err != nil {
			return err
		}
		if len(absent) > 0 {
			return notMet("not found: %s", joinComma(absent))
		}
		return nil
	})
}

func (c *cli) incr(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("incr", "[flags] KEY [DELTA]",
		`Add DELTA (default 1; may be negative) to the number stored under KEY,
starting a missing record from --initial, and print the new value as a
number. --float adds a floating-point DELTA. "incr KEY 0 --must-exist" reads a
counter without changing it: counters are stored in the backend's binary
layout, which get prints as bytes.`)
	isFloat := fs.Bool("float", false, "DELTA and the record are floating-point")
	initial := fs.String("initial", "", "the value a missing record starts from (default 0)")
	mustExist := fs.Bool("must-exist", false, "fail (exit 1) instead of creating a missing record")
	ttl := fs.Duration("ttl", 0, "expire the record this long from now (0: never)")
	pos, err := c.parse(fs, cf, args, 1, "KEY", "[DELTA]")
	if err != nil {
		return err
	}
	opts, err := writeOpts(*ttl)
	if err != nil {
		return err
	}
	key, err := cf.decode("KEY", pos[0])
	if err != nil {
		return err
	}
	delta := "1"
	if len(pos) == 2 {
		delta = pos[1]
	}
	if *mustExist {
		opts = append(opts, ktgrpc.WithMustExist())
	}
	p := c.printer(cf, "\t")
	var run func(ctx context.Context, kc *ktgrpc.Client) (field, error)
	if *isFloat {
		d, err := strconv.ParseFloat(delta, 64)
		if err != nil {
			return usagef("DELTA %q: not a number", delta)
		}
		if *initial != "" {
			f, err := strconv.ParseFloat(*initial, 64)
			if err != nil {
				return usagef("--initial %q: not a number", *initial)
			}
			opts = append(opts, ktgrpc.WithInitialFloat(f))
		}
		run = func(ctx context.Context, kc *ktgrpc.Client) (field, error) {
			v, err := kc.IncrementFloat(ctx, string(key), d, opts...)
			return floatField("value", v), err
		}
	} else {
		d, err := strconv.ParseInt(delta, 10, 64)
		if err != nil {
			return usagef("DELTA %q: not an integer (--float adds fractions)", delta)
		}
		if *initial != "" {
			n, err := strconv.ParseInt(*initial, 10, 64)
			if err != nil {
				return usagef("--initial %q: not an integer", *initial)
			}
			opts = append(opts, ktgrpc.WithInitial(n))
		}
		run = func(ctx context.Context, kc *ktgrpc.Client) (field, error) {
			v, err := kc.Increment(ctx, string(key), d, opts...)
			return intField("value", v), err
		}
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		v, err := run(ctx, kc)
		if missing(err) {
			return cf.notFound(key)
		}
		if err != nil {
			return err
		}
		if cf.writeOut.value == writeSimple {
			err = p.record(v)
		} else {
			err = p.record(bytesField("key", key), v)
		}
		if err != nil {
			return err
		}
		return p.Flush()
	})
}

func (c *cli) match(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("match", "[flags] prefix|regex|similar PATTERN",
		`Print the keys that start with PATTERN (prefix), match the regular
expression PATTERN (regex), or are within --distance edits of PATTERN
(similar, nearest first), one per line.`)
	limit := fs.Int64("limit", 0, "print at most this many keys (0: all)")
	distance := fs.Uint("distance", 1, "for similar: the largest edit distance")
	utf8 := fs.Bool("utf8", false, "for similar: count the distance in UTF-8 characters, not bytes")
	pos, err := c.parse(fs, cf, args, 2, "prefix|regex|similar", "PATTERN")
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: must not be negative", *limit)
	}
	opts := []ktgrpc.Option{ktgrpc.WithLimit(*limit)}
	if *utf8 {
		opts = append(opts, ktgrpc.WithUTF8())
	}
	var run func(ctx context.Context, kc *ktgrpc.Client) ([]string, error)
	switch pos[0] {
	case "prefix":
		prefix, err := cf.decode("PATTERN", pos[1])
		if err != nil {
			return err
		}
		run = func(ctx context.Context, kc *ktgrpc.Client) ([]string, error) {
			return kc.MatchPrefix(ctx, string(prefix), opts...)
		}
	case "regex":
		run = func(ctx context.Context, kc *ktgrpc.Client) ([]string, error) {
			return kc.MatchRegex(ctx, pos[1], opts...)
		}
	case "similar":
		origin, err := cf.decode("PATTERN", pos[1])
		if err != nil {
			return err
		}
		run = func(ctx context.Context, kc *ktgrpc.Client) ([]string, error) {
			return kc.MatchSimilar(ctx, string(origin), uint32(*distance), opts...)
		}
	default:
		return usagef("match %q: want prefix, regex or similar", pos[0])
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		keys, err := run(ctx, kc)
		if err != nil {
			return err
		}
		p := c.printer(cf, "\t")
		for _, k := range keys {
			if err := p.record(bytesField("key", []byte(k))); err != nil {
				return err
			}
		}
		return p.Flush()
	})
}

func (c *cli) bulk(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("bulk", "[flags] get KEY... | set KEY VALUE [KEY VALUE]... | remove KEY...",
		`Read, write or delete many records in one call. get prints the records
found as KEY<TAB>VALUE lines in the order asked (missing keys are left out);
set prints how many it stored, remove how many existed.`)
	atomic := fs.Bool("atomic", false, "apply the whole call under one lock, where the backend can")
	ttl := fs.Duration("ttl", 0, "for set: expire the records this long from now (0: never)")
	pos, err := c.parseMany(fs, cf, args, "get|set|remove KEY...")
	if err != nil {
		return err
	}
	opts, err := writeOpts(*ttl)
	if err != nil {
		return err
	}
	if *atomic {
		opts = append(opts, ktgrpc.WithAtomic())
	}
	op, rest := pos[0], pos[1:]
	keys := make([]string, 0, len(rest))
	var values [][]byte
	switch op {
	case "get", "remove":
		if len(rest) == 0 {
			return usagef("bulk %s: want at least one KEY", op)
		}
		for _, a := range rest {
			k, err := cf.decode("KEY", a)
			if err != nil {
				return err
			}
			keys = append(keys, string(k))
		}
	case "set":
		if len(rest) == 0 || len(rest)%2 != 0 {
			return usagef("bulk set: want KEY VALUE pairs, got %d argument(s)", len(rest))
		}
		for i := 0; i < len(rest); i += 2 {
			k, err := cf.decode("KEY", rest[i])
			if err != nil {
				return err
			}
			v, err := cf.decode("VALUE", rest[i+1])
			if err != nil {
				return err
			}
			keys, values = append(keys, string(k)), append(values, v)
		}
	default:
		return usagef("bulk %q: want get, set or remove", op)
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		p := c.printer(cf, "\t")
		switch op {
		case "get":
			recs, err := kc.GetMultiRecords(ctx, keys, opts...)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if err := p.record(bytesField("key", []byte(r.Key)), bytesField("value", r.Value)); err != nil {
					return err
				}
			}
		case "set":
			m := make(map[string][]byte, len(keys))
			for i, k := range keys {
				m[k] = values[i]
			}
			n, err := kc.SetMulti(ctx, m, opts...)
			if err != nil {
				return err
			}
			if err := p.record(intField("stored", n)); err != nil {
				return err
			}
		case "remove":
			n, err := kc.RemoveMulti(ctx, keys, opts...)
			if err != nil {
				return err
			}
			if err := p.record(intField("removed", n)); err != nil {
				return err
			}
		}
		return p.Flush()
	})
}

func (c *cli) scan(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("scan", "[flags]",
		"Print the records of a key range, one per line as KEY<TAB>VALUE (bytes\nescaped in text --format), in key order (on hash databases, in the backend's\norder). --timeout bounds the whole scan.")
	prefix := fs.String("prefix", "", "only keys that start with this")
	start := fs.String("start", "", "first key of the range (inclusive)")
	end := fs.String("end", "", "end of the range (exclusive)")
	reverse := fs.Bool("reverse", false, "walk from the end of the range down (ordered databases only)")
	limit := fs.Int64("limit", 0, "print at most this many records (0: all)")
	keysOnly := fs.Bool("keys-only", false, "print keys only")
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: must not be negative", *limit)
	}
	var p, s, e []byte
	var err error
	if p, err = cf.decode("--prefix", *prefix); err != nil {
		return err
	}
	if s, err = cf.decode("--start", *start); err != nil {
		return err
	}
	if e, err = cf.decode("--end", *end); err != nil {
		return err
	}
	opts := []ktgrpc.Option{ktgrpc.WithPrefix(string(p)), ktgrpc.WithRange(string(s), string(e)), ktgrpc.WithLimit(*limit)}
	if *reverse {
		opts = append(opts, ktgrpc.WithReverse())
	}
	if *keysOnly {
		opts = append(opts, ktgrpc.WithKeysOnly())
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		out := c.printer(cf, "\t")
		for rec, err := range kc.Scan(ctx, opts...) {
			if err != nil {
				// What arrived before the failure is still worth printing.
				_ = out.Flush()
				return err
			}
			f := []field{bytesField("key", []byte(rec.Key))}
			if !*keysOnly {
				f = append(f, bytesField("value", rec.Value))
			}
			if err := out.record(f...); err != nil {
				return err
			}
		}
		return out.Flush()
	})
}

func joinComma(s []string) string { return strings.Join(s, ", ") }
