package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/ktgrpc/ktgrpc/clients/go/ktgrpc"
	"github.com/ktgrpc/ktgrpc/cmd/ktgrpc/internal/codec"
	"github.com/ktgrpc/ktgrpc/cmd/ktgrpc/internal/envflag"
)

// Client defaults.
const (
	defaultAddr    = "127.0.0.1:7878"
	defaultTimeout = 5 * time.Second
	// clientMaxMessage matches the gateway's default message limit, so that a
	// large value the gateway accepts can also be read back; gRPC's own
	// client default (4 MiB) is far below the gateway's value limit.
	clientMaxMessage = 128 << 20
)

// clientEnvFlags are the client flags read from the environment. The other
// client flags select what one call does, and reading them from the
// environment would change results behind a person's back.
func clientEnvFlags() []string {
	return []string{"addr", "endpoints", "db", "timeout", "format", "write-out", "tls", "tls-ca", "tls-server-name", "token-file"}
}

// clientCertEnvPrefix starts the variables of the client's --tls-cert and
// --tls-key (KTGRPC_CLIENT_TLS_CERT): serve's --tls-cert and --tls-key own
// KTGRPC_TLS_CERT and KTGRPC_TLS_KEY, and a client run where the gateway's
// environment is set (a shell in its container) must not present the
// gateway's own key pair as a client certificate.
const clientCertEnvPrefix = envPrefix + "CLIENT_"

// clientCertEnvFlags are the client flags read from clientCertEnvPrefix
// variables.
func clientCertEnvFlags() []string { return []string{"tls-cert", "tls-key"} }

// clientFlags are the flags every client command takes.
type clientFlags struct {
	addr      string
	endpoints string
	db        string
	timeout   time.Duration
	format    codec.Format
	writeOut  choice
	tls       clientTLS
	// tokenFile holds the bearer token; KTGRPC_TOKEN may hold it instead.
	tokenFile string
	token     string
}

// clientCommand starts a client command's flag set with the common flags.
func (c *cli) clientCommand(name, synopsis, about string) (*flag.FlagSet, *clientFlags) {
	fs := c.flagSet(name, synopsis, about)
	cf := &clientFlags{writeOut: choice{value: writeSimple, allowed: writeModes()}}
	fs.StringVar(&cf.addr, "addr", defaultAddr, "gateway `address`, host:port")
	fs.StringVar(&cf.endpoints, "endpoints", "", "several gateways, `host:port,...`, instead of --addr: calls go round-robin to those that are up")
	fs.Var(&cf.writeOut, "write-out", "output `mode`: simple (one record per line, bytes escaped), json (one object per line) or table")
	fs.Var(&cf.writeOut, "w", "short for --write-out")
	fs.StringVar(&cf.db, "db", "", "`database`, by index or name (empty: the default database)")
	fs.DurationVar(&cf.timeout, "timeout", defaultTimeout, "deadline of each call (0: none)")
	fs.Var(&cf.format, "format", "`format` of keys and values in arguments and output: text (the default), hex or base64")
	fs.BoolVar(&cf.tls.enabled, "tls", false, "connect over TLS, verifying the gateway with the system's CA certificates")
	fs.StringVar(&cf.tls.ca, "tls-ca", "", "verify the gateway with the PEM CA certificate(s) in `file` instead (implies --tls)")
	fs.StringVar(&cf.tls.cert, "tls-cert", "", "present the PEM client certificate in `file`, for gateways that require one (implies --tls; needs --tls-key)")
	fs.StringVar(&cf.tls.key, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.StringVar(&cf.tls.serverName, "tls-server-name", "", "`name` the gateway's certificate must carry, when --addr does not (implies --tls)")
	fs.StringVar(&cf.tokenFile, "token-file", "", "send the bearer token in `file` with every call (KTGRPC_TOKEN may hold the token itself)")
	return fs, cf
}

// parse parses a client command line into fs and cf, applies the
// environment and checks the number of positional arguments, whose names are
// given for the message.
func (c *cli) parse(fs *flag.FlagSet, cf *clientFlags, args []string, minArgs int, names ...string) ([]string, error) {
	pos, err := c.parseFlags(fs, cf, args)
	if err != nil {
		return nil, err
	}
	if len(pos) < minArgs || len(pos) > len(names) {
		want := strings.Join(names, " ")
		if want == "" {
			return nil, usagef("%s takes no arguments, got %d", fs.Name(), len(pos))
		}
		return nil, usagef("want %s, got %d argument(s)", want, len(pos))
	}
	return pos, nil
}

// parseMany is parse for commands that take one or more arguments.
func (c *cli) parseMany(fs *flag.FlagSet, cf *clientFlags, args []string, want string) ([]string, error) {
	pos, err := c.parseFlags(fs, cf, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 {
		return nil, usagef("want %s, got 0 arguments", want)
	}
	return pos, nil
}

// parseFlags parses the flags, applies the environment and checks the
// combination of TLS flags and the token.
func (c *cli) parseFlags(fs *flag.FlagSet, cf *clientFlags, args []string) ([]string, error) {
	envflag.Describe(fs, envPrefix, clientEnvFlags())
	envflag.Describe(fs, clientCertEnvPrefix, clientCertEnvFlags())
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if w := fs.Lookup("w"); w != nil {
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "w" {
				// -w is --write-out: the environment must not override it.
				_ = fs.Set("write-out", w.Value.String())
			}
		})
	}
	if err := envflag.Apply(fs, c.getenv, envPrefix, clientEnvFlags()); err != nil {
		return nil, usageError{err.Error()}
	}
	if err := envflag.Apply(fs, c.getenv, clientCertEnvPrefix, clientCertEnvFlags()); err != nil {
		return nil, usageError{err.Error()}
	}
	explicitOff := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "tls" {
			explicitOff = !cf.tls.enabled
		}
	})
	if err := cf.tls.check(explicitOff); err != nil {
		return nil, err
	}
	if err := cf.readToken(c.getenv); err != nil {
		return nil, err
	}
	return pos, nil
}

// targets returns the gateways to call: --endpoints, else --addr.
func (cf *clientFlags) targets() []string {
	var out []string
	for _, e := range strings.Split(cf.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		out = []string{cf.addr}
	}
	return out
}

// dial makes the connection, which is only attempted by the first call. It
// reads the TLS files, so their errors come before any call.
//
// Several endpoints make one connection that spreads calls round-robin over
// the gateways it can reach (gRPC's round_robin balancer): a gateway that is
// down is skipped until it answers again, and a watch cut off from one
// resumes on another. They must serve the same backend, since positions
// and records are the backend's.
func (cf *clientFlags) dial() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if cf.tls.enabled {
		var err error
		if creds, err = cf.tls.credentials(); err != nil {
			return nil, err
		}
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("ktgrpc-cli"),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(clientMaxMessage), grpc.MaxCallSendMsgSize(clientMaxMessage)),
	}
	if cf.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(cf.token)))
	}
	targets := cf.targets()
	target := targets[0]
	if len(targets) > 1 {
		r := manual.NewBuilderWithScheme("ktgrpc-endpoints")
		addrs := make([]resolver.Address, len(targets))
		for i, t := range targets {
			addrs[i] = resolver.Address{Addr: t}
		}
		r.InitialState(resolver.State{Addresses: addrs})
		target = r.Scheme() + ":///endpoints"
		opts = append(opts, grpc.WithResolvers(r),
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
		if cf.tls.enabled && cf.tls.serverName == "" {
			// TLS verifies the name the call is addressed to; with several
			// gateways that is the first one's host.
			host, _, err := net.SplitHostPort(targets[0])
			if err != nil {
				return nil, usagef("--endpoints %q: %v", targets[0], err)
			}
			opts = append(opts, grpc.WithAuthority(host))
		}
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		if len(targets) > 1 {
			return nil, usagef("--endpoints %q: %v", cf.endpoints, err)
		}
		return nil, usagef("--addr %q: %v", cf.addr, err)
	}
	return conn, nil
}

// call dials, bounds ctx by --timeout and runs fn with a client whose
// calls use --db.
func (cf *clientFlags) call(ctx context.Context, fn func(ctx context.Context, kc *ktgrpc.Client) error) error {
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	return fn(ctx, ktgrpc.New(conn, ktgrpc.WithDB(cf.db)))
}

// printer returns the output of --write-out; sep separates the fields of a
// record in simple mode.
func (c *cli) printer(cf *clientFlags, sep string) *printer {
	return newPrinter(c.stdout, cf.writeOut.value, cf.format, sep)
}

// missing reports whether err is the client's own "no such record", as
// opposed to a gateway status (such as NOT_FOUND for an unknown procedure).
func missing(err error) bool {
	var gw *ktgrpc.Error
	return errors.Is(err, ktgrpc.ErrNotFound) && !errors.As(err, &gw)
}

// callContext bounds one call by --timeout.
func (cf *clientFlags) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if cf.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, cf.timeout)
}

// decode reads a key or value argument in the chosen format.
func (cf *clientFlags) decode(what, s string) ([]byte, error) {
	b, err := cf.format.Decode(s)
	if err != nil {
		return nil, usagef("%s %q: %v", what, s, err)
	}
	return b, nil
}

// notFound is the outcome of get and remove on a missing key: not a failure
// of the call, but a result a script must be able to tell apart.
func (cf *clientFlags) notFound(key []byte) error {
	return exitCodeError{code: exitError, msg: fmt.Sprintf("key %s not found", cf.format.Quote(key))}
}
