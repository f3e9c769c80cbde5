package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// flagSet makes a command's flag set. -h prints the usage, which shows
// synopsis and about above the flags, to stderr; a parse error is reported
// by the caller in one line (parseArgs keeps package flag from printing).
func (c *cli) flagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	if c.onFlagSet != nil {
		// Flags are defined after flagSet returns: record them at parse.
		defer func() {
			usage := fs.Usage
			fs.Usage = func() { c.onFlagSet(fs); usage() }
		}()
	}
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: ktgrpc %s", name)
		if synopsis != "" {
			fmt.Fprintf(w, " %s", synopsis)
		}
		fmt.Fprintf(w, "\n\n%s\n", about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses args with flags allowed between the positional arguments
// (`ktgrpc set k v --ttl 10s`), which package flag alone does not do: it stops
// at the first argument that is not a flag. It returns the positional
// arguments. "--" ends the flags; everything after it is positional.
//
// -h prints the usage and returns flag.ErrHelp; a bad flag is a usageError
// of one line, without package flag's usage dump, which would hide it.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				fs.SetOutput(out)
				usage()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" && !takesValue(fs, args, used-2) {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// takesValue reports whether args[i] is a flag that consumed the next
// argument as its value, so that a "--" after it was a value, not the end of
// the flags.
func takesValue(fs *flag.FlagSet, args []string, i int) bool {
	if i < 0 {
		return false
	}
	a := args[i]
	if !strings.HasPrefix(a, "-") || a == "-" || a == "--" || strings.Contains(a, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(a, "-"))
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// byteSize is a size flag in bytes that also reads the binary suffixes K/KiB,
// M/MiB and G/GiB, because limits such as 64MiB are unreadable as digits.
type byteSize int

type sizeUnit struct {
	suffixes []string // the first one is printed
	n        int64
}

// sizeUnits lists the units largest first, so that String picks the largest
// one that divides the size.
func sizeUnits() []sizeUnit {
	return []sizeUnit{
		{[]string{"GiB", "G"}, 1 << 30},
		{[]string{"MiB", "M"}, 1 << 20},
		{[]string{"KiB", "K"}, 1 << 10},
		{[]string{"B", ""}, 1},
	}
}

func (s *byteSize) Set(v string) error {
	for _, u := range sizeUnits() {
		for _, suf := range u.suffixes {
			num, ok := strings.CutSuffix(v, suf)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil {
				// "12B" is cut by "B" and "" alike; only the last try reports.
				continue
			}
			if n <= 0 {
				return fmt.Errorf("size must be positive")
			}
			if n > math.MaxInt/u.n {
				return fmt.Errorf("size %s is too large", v)
			}
			*s = byteSize(n * u.n)
			return nil
		}
	}
	return fmt.Errorf("not a size: want bytes, optionally with K, M or G (KiB, MiB, GiB)")
}

func (s byteSize) String() string {
	for _, u := range sizeUnits()[:3] {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.suffixes[0]
		}
	}
	return strconv.Itoa(int(s))
}

// choice is a string flag restricted to a few values.
type choice struct {
	value   string
	allowed []string
}

func (c *choice) Set(v string) error {
	for _, a := range c.allowed {
		if strings.EqualFold(v, a) {
			c.value = a
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
}

func (c *choice) String() string { return c.value }
