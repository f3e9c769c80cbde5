package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// commandFlags returns the flags of a command, by asking it for its usage
// with a flag set that records them instead of printing.
func (c *cli) commandFlags(ctx context.Context, cmd command) []string {
	rec := &flagRecorder{}
	quiet := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }, onFlagSet: rec.record}
	_ = cmd.run(quiet, ctx, []string{"-h"})
	return rec.names
}

// flagRecorder collects the flag names of the flag sets a command makes.
type flagRecorder struct{ names []string }

func (r *flagRecorder) record(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) { r.names = append(r.names, "--"+f.Name) })
	slices.Sort(r.names)
}

func (c *cli) completion(ctx context.Context, args []string) error {
	fs := c.flagSet("completion", "bash|zsh|fish", `Print a script that completes ktgrpc's commands and their flags in the shell:
  bash: source <(ktgrpc completion bash)
  zsh:  source <(ktgrpc completion zsh)
  fish: ktgrpc completion fish | source`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want bash, zsh or fish, got %d argument(s)", len(pos))
	}
	var names []string
	flags := map[string][]string{}
	for _, cmd := range commands() {
		names = append(names, cmd.name)
		if cmd.run != nil {
			flags[cmd.name] = c.commandFlags(ctx, cmd)
		}
	}
	var sb strings.Builder
	switch pos[0] {
	case "bash", "zsh":
		if pos[0] == "zsh" {
			sb.WriteString("#compdef ktgrpc\nautoload -U +X bashcompinit && bashcompinit\n")
		}
		sb.WriteString("# ktgrpc completion for " + pos[0] + "\n_ktgrpc() {\n\tlocal cur=${COMP_WORDS[COMP_CWORD]}\n")
		fmt.Fprintf(&sb, "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(append(names, "--version", "--help"), " "))
		sb.WriteString("\tcase ${COMP_WORDS[1]} in\n")
		for _, n := range names {
			if fl, ok := flags[n]; ok {
				fmt.Fprintf(&sb, "\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", n, strings.Join(fl, " "))
			}
		}
		fmt.Fprintf(&sb, "\thelp) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", strings.Join(names, " "))
		sb.WriteString("\tesac\n}\ncomplete -o default -F _ktgrpc ktgrpc\n")
	case "fish":
		sb.WriteString("# ktgrpc completion for fish\ncomplete -c ktgrpc -f\n")
		for _, cmd := range commands() {
			fmt.Fprintf(&sb, "complete -c ktgrpc -n __fish_use_subcommand -a %s -d %s\n", cmd.name, fishQuote(cmd.summary))
		}
		for _, n := range names {
			for _, f := range flags[n] {
				fmt.Fprintf(&sb, "complete -c ktgrpc -n '__fish_seen_subcommand_from %s' -l %s\n", n, strings.TrimPrefix(f, "--"))
			}
		}
	default:
		return usagef("shell %q: want bash, zsh or fish", pos[0])
	}
	_, err = io.WriteString(c.stdout, sb.String())
	return err
}

// fishQuote quotes s for fish, where only \ and ' are special in '...'.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
