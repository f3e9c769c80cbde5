package main

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
)

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "; ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (c *cli) table(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("table", "[flags] put KEY COLUMN=VALUE... | get KEY | out KEY | search",
		`Work with a table database (Tokyo Tyrant), whose rows are named columns.
  put KEY COLUMN=VALUE...  store a row (--mode keep: only if new; concat: merge)
  get KEY                  print the row as KEY<TAB>COLUMN=VALUE<TAB>...
  out KEY                  delete the row
  search                   print the rows (or --keys, --count, --delete) that
                           meet every --where "COLUMN OPERATOR EXPR"; a "!"
                           before COLUMN negates, and COLUMN "" (write '""')
                           is the primary key. Operators: str_eq,
                           str_include, str_begins_with, str_ends_with,
                           str_and, str_or, str_or_eq, str_regex, num_eq,
                           num_gt, num_ge, num_lt, num_le, num_between,
                           num_or_eq, fts_phrase, fts_and, fts_or,
                           fts_expression.
Column values are in --format; column names are text.`)
	mode := &choice{value: "overwrite", allowed: []string{"overwrite", "keep", "concat"}}
	fs.Var(mode, "mode", "put: overwrite, keep or concat")
	var where multiFlag
	fs.Var(&where, "where", `search: a condition "COLUMN OPERATOR EXPR" (repeatable)`)
	order := fs.String("order", "", `search: sort by "COLUMN TYPE", TYPE one of str_asc, str_desc, num_asc, num_desc`)
	limit := fs.Int64("limit", 0, "search: at most this many rows (0: all)")
	offset := fs.Int64("offset", 0, "search: skip this many rows first")
	columns := fs.String("columns", "", "search: print only these columns (comma-separated)")
	keys := fs.Bool("keys", false, "search: print the primary keys only")
	count := fs.Bool("count", false, "search: print the number of matching rows only")
	del := fs.Bool("delete", false, "search: delete the matching rows and print how many")
	pos, err := c.parseMany(fs, cf, args, "put|get|out|search ...")
	if err != nil {
		return err
	}
	op, rest := pos[0], pos[1:]
	p := c.printer(cf, "\t")
	printRow := func(r ktgrpc.Row) error {
		f := []field{bytesField("key", []byte(r.Key))}
		for _, n := range slices.Sorted(maps.Keys(r.Columns)) {
			f = append(f, bytesField(n, r.Columns[n]))
		}
		if cf.writeOut.value == writeSimple {
			// KEY<TAB>NAME=VALUE...: a row's columns differ from row to row.
			parts := []string{p.text(f[0])}
			for _, x := range f[1:] {
				parts = append(parts, escapeText([]byte(x.name))+"="+p.text(x))
			}
			_, err := p.w.WriteString(strings.Join(parts, "\t") + "\n")
			return err
		}
		return p.record(f...)
	}
	var run func(ctx context.Context, kc *ktgrpc.Client) error
	switch op {
	case "put":
		if len(rest) < 2 {
			return usagef("table put: want KEY COLUMN=VALUE..., got %d argument(s)", len(rest))
		}
		key, err := cf.decode("KEY", rest[0])
		if err != nil {
			return err
		}
		cols := map[string][]byte{}
		for _, a := range rest[1:] {
			n, v, ok := strings.Cut(a, "=")
			if !ok {
				return usagef("column %q: want COLUMN=VALUE", a)
			}
			if cols[n], err = cf.decode("VALUE", v); err != nil {
				return err
			}
		}
		m := map[string]ktgrpc.PutMode{"overwrite": ktgrpc.PutOverwrite, "keep": ktgrpc.PutKeep, "concat": ktgrpc.PutConcat}[mode.value]
		run = func(ctx context.Context, kc *ktgrpc.Client) error {
			ok, err := kc.TablePut(ctx, string(key), cols, m)
			if err == nil && !ok {
				return notMet("row %s exists; not stored", cf.format.Quote(key))
			}
			return err
		}
	case "get", "out":
		if len(rest) != 1 {
			return usagef("table %s: want KEY, got %d argument(s)", op, len(rest))
		}
		key, err := cf.decode("KEY", rest[0])
		if err != nil {
			return err
		}
		run = func(ctx context.Context, kc *ktgrpc.Client) error {
			if op == "out" {
				ok, err := kc.Remove(ctx, string(key))
				if err == nil && !ok {
					return cf.notFound(key)
				}
				return err
			}
			row, err := kc.TableGet(ctx, string(key))
			if missing(err) {
				return cf.notFound(key)
			}
			if err != nil {
				return err
			}
			return printRow(row)
		}
	case "search":
		if len(rest) != 0 {
			return usagef("table search takes no arguments; conditions go in --where")
		}
		q := ktgrpc.NewQuery().Limit(*limit).Offset(*offset)
		for _, w := range where {
			f := strings.Fields(w)
			if len(f) < 2 {
				return usagef(`--where %q: want "COLUMN OPERATOR EXPR"`, w)
			}
			col, neg := f[0], false
			if strings.HasPrefix(col, "!") {
				col, neg = col[1:], true
			}
			if col == `""` {
				col = ""
			}
			o, err := ktgrpc.ParseOperator(f[1])
			if err != nil {
				return usagef("--where %q: %v", w, err)
			}
			expr := strings.Join(f[2:], " ")
			if neg {
				q.WhereNot(col, o, expr)
			} else {
				q.Where(col, o, expr)
			}
		}
		if *order != "" {
			f := strings.Fields(*order)
			if len(f) != 2 {
				return usagef(`--order %q: want "COLUMN TYPE"`, *order)
			}
			if f[0] == `""` {
				f[0] = ""
			}
			t, err := ktgrpc.ParseOrderType(f[1])
			if err != nil {
				return usagef("--order: %v", err)
			}
			q.OrderBy(f[0], t)
		}
		if *columns != "" {
			q.Columns(strings.Split(*columns, ",")...)
		}
		run = func(ctx context.Context, kc *ktgrpc.Client) error {
			switch {
			case *count, *del:
				var n int64
				var err error
				if *del {
					n, err = kc.TableDelete(ctx, q)
				} else {
					n, err = kc.TableCount(ctx, q)
				}
				if err != nil {
					return err
				}
				return p.record(intField("count", n))
			case *keys:
				ks, err := kc.TableSearchKeys(ctx, q)
				if err != nil {
					return err
				}
				for _, k := range ks {
					if err := p.record(bytesField("key", []byte(k))); err != nil {
						return err
					}
				}
				return nil
			}
			rows, err := kc.TableSearch(ctx, q)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if err := printRow(r); err != nil {
					return err
				}
			}
			return nil
		}
	default:
		return usagef("table %q: want put, get, out or search", op)
	}
	return cf.call(ctx, func(ctx context.Context, kc *ktgrpc.Client) error {
		err := run(ctx, kc)
		if ferr := p.Flush(); err == nil {
			err = ferr
		}
		return err
	})
}
