// Command ktgrpc runs the ktgrpc gateway (ktgrpc serve) and talks to it from
// the command line (get, set, remove, scan, watch, subscribe, status).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"text/tabwriter"

	"google.golang.org/grpc/status"
)

// envPrefix starts the name of every environment variable the binary reads.
const envPrefix = "KTGRPC_"

func main() {
	// The first SIGINT or SIGTERM cancels the context: serve shuts down
	// gracefully and watch ends; stop restores the default handling so that a
	// second signal kills a process that is stuck.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed, or found nothing
	exitUsage = 2 // the command line is wrong
)

// cli is one invocation's view of the outside world; commands reach the
// process only through it, so that tests can run them in-process.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// onFlagSet, when set, sees every flag set a command makes, for
	// completion, which lists the flags of every command.
	onFlagSet func(*flag.FlagSet)
}

// command is a subcommand. run returns nil, a usageError, an exitCodeError
// or any other error, which run's caller turns into an exit code.
type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway", (*cli).serve},
		{"get", "print the value of a record", (*cli).get},
		{"set", "store a record", (*cli).set},
		{"add", "store a record only if its key is new", (*cli).add},
		{"replace", "store a record only if its key exists", (*cli).replace},
		{"append", "append to a record's value", (*cli).appendCmd},
		{"cas", "compare and swap a record's value", (*cli).cas},
		{"remove", "delete a record", (*cli).remove},
		{"incr", "add to a counter (integer, or --float) and print the new value", (*cli).incr},
		{"seize", "print a record's value and delete it, atomically", (*cli).seize},
		{"check", "print records' value sizes and expirations", (*cli).check},
		{"match", "list the keys matching a prefix, a regex or a similar key", (*cli).match},
		{"bulk", "get, set or remove many records in one call", (*cli).bulk},
		{"scan", "list the records of a key range", (*cli).scan},
		{"watch", "print the records with a prefix, then their changes, resuming across gateway restarts", (*cli).watch},
		{"subscribe", "print the update log's changes as they happen, resuming across gateway restarts", (*cli).subscribe},
		{"script", "run a server-side procedure", (*cli).script},
		{"table", "put, get, delete and search rows of a table database", (*cli).table},
		{"status", "print a database's record count, size and status fields", (*cli).status},
		{"report", "print the backend server's report", (*cli).reportCmd},
		{"databases", "list the databases and their health", (*cli).databases},
		{"capabilities", "list what the backend offers beyond the core calls", (*cli).capabilities},
		{"clear", "remove every record of a database", (*cli).clear},
		{"sync", "flush a database to its storage", (*cli).sync},
		{"vacuum", "purge expired records", (*cli).vacuum},
		{"health", "check that the gateways serve", (*cli).health},
		{"token", "make a bearer token and its tokens-file line", (*cli).token},
		{"completion", "print a shell completion script (bash, zsh or fish)", (*cli).completion},
		{"version", "print the version (also: ktgrpc --version)", (*cli).version},
		{"help", "show help for a command", nil},
	}
}

func lookup(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// run executes the command line args (without the program name) and returns
// the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		c.usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return c.help(ctx, rest)
	case "--version", "-version":
		name = "version"
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "ktgrpc: unknown command %q (see 'ktgrpc --help')\n", name)
		return exitUsage
	}
	return c.report(cmd.name, cmd.run(c, ctx, rest))
}

// help prints the overview, or one command's usage, to stdout.
func (c *cli) help(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stdout)
		return exitOK
	}
	cmd, ok := lookup(args[0])
	if !ok || cmd.run == nil {
		fmt.Fprintf(c.stderr, "ktgrpc: help: unknown command %q\nRun 'ktgrpc help' for the list of commands.\n", args[0])
		return exitUsage
	}
	// A command prints its usage to stderr on -h; asked for by name, it goes
	// to stdout so that it can be paged.
	out := *c
	out.stderr = c.stdout
	return out.report(cmd.name, cmd.run(&out, ctx, []string{"-h"}))
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `ktgrpc is a gRPC gateway for Kyoto Tycoon and Tokyo Tyrant, and a command-line
client for it.

Usage:
  ktgrpc <command> [flags] [arguments]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, cmd := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.name, cmd.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Flags may come before or after the arguments; "--" ends the flags. Flags also
read KTGRPC_<FLAG> environment variables (see each command's help); a flag on
the command line wins.

Client commands print one record per line with bytes escaped (-w simple, the
default), one JSON object per line (-w json) or an aligned table (-w table).
--endpoints a:7878,b:7878 spreads calls over several gateways of one backend.
Exit codes: 0 done, 1 failed, missing or condition not met, 2 bad command line.

Run 'ktgrpc help <command>' for a command's flags.
`)
}

// usageError is a command line that cannot work; it exits with exitUsage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// exitCodeError exits with code after printing msg, for outcomes that are not
// failures of the call, such as a missing key.
type exitCodeError struct {
	code int
	msg  string
}

func (e exitCodeError) Error() string { return e.msg }

// report prints err the way a person expects and returns the exit code.
func (c *cli) report(name string, err error) int {
	var (
		uerr usageError
		cerr exitCodeError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(c.stderr, "ktgrpc: %s: %s (see 'ktgrpc %s --help')\n", name, uerr.msg, name)
		return exitUsage
	case errors.As(err, &cerr):
		fmt.Fprintf(c.stderr, "ktgrpc: %s: %s\n", name, cerr.msg)
		return cerr.code
	}
	if st, ok := status.FromError(err); ok {
		fmt.Fprintf(c.stderr, "ktgrpc: %s: %v: %s\n", name, st.Code(), st.Message())
		return exitError
	}
	fmt.Fprintf(c.stderr, "ktgrpc: %s: %v\n", name, err)
	return exitError
}

func (c *cli) version(_ context.Context, args []string) error {
	fs := c.flagSet("version", "", "Print the version of this binary.")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("version takes no arguments")
	}
	fmt.Fprintln(c.stdout, versionString())
	return nil
}

// buildRevision is the VCS revision, set by `make build` with -ldflags
// "-X main.buildRevision=..." where the toolchain cannot read it itself (a
// linked git worktree); the revision the toolchain embeds wins.
var buildRevision string

// versionString describes the build from the information the Go toolchain
// embeds: the module version ("(devel)" for a build from a checkout, the
// tag for `go install ...@v1.2.3`) and the VCS revision, which is
// "revision unknown" when the binary was built without it (-buildvcs=false,
// as GOFLAGS may say, or a copy without .git).
func versionString() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = buildRevision
	}
	s := "ktgrpc " + v
	switch {
	case rev == "":
		s += " revision unknown"
	default:
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " " + rev
		if dirty {
			s += "+dirty"
		}
	}
	return fmt.Sprintf("%s %s %s/%s", s, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
