// Package envflag lets environment variables supply the flags that a command
// line leaves unset, so that a deployment can configure the binary without
// wrapping its arguments. The command line always wins.
package envflag

import (
	"flag"
	"fmt"
	"strings"
)

// Name is the environment variable read for a flag: prefix followed by the
// flag's name in upper case with '-' replaced by '_' (prefix "KTGRPC_" and
// flag "log-level" give KTGRPC_LOG_LEVEL).
func Name(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply sets each flag of fs that the command line did not set from its
// environment variable, read through getenv. It must run after fs.Parse. Only
// the flags named in names are bound; nil names binds every flag of fs. An
// empty variable counts as unset, so that `KTGRPC_X=` cannot erase a default.
//
// The error names both the variable and the flag, because a person reading it
// may not know that the value came from the environment.
func Apply(fs *flag.FlagSet, getenv func(string) string, prefix string, names []string) error {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	each(fs, names, func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := Name(prefix, f.Name)
		v := getenv(env)
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value %q for %s (--%s): %w", v, env, f.Name, e)
		}
	})
	return err
}

// Describe appends the environment variable to the usage text of each bound
// flag (the same names rule as Apply), so that -h shows it.
func Describe(fs *flag.FlagSet, prefix string, names []string) {
	each(fs, names, func(f *flag.Flag) {
		f.Usage += " (env " + Name(prefix, f.Name) + ")"
	})
}

func each(fs *flag.FlagSet, names []string, fn func(*flag.Flag)) {
	if names == nil {
		fs.VisitAll(fn)
		return
	}
	for _, n := range names {
		if f := fs.Lookup(n); f != nil {
			fn(f)
		}
	}
}
