package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/cmd/ktgrpc/internal/codec"
	"github.com/ktgrpc/ktgrpc/cmd/ktgrpc/internal/envflag"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
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
	return []string{"addr", "db", "timeout", "format", "tls", "tls-ca", "tls-server-name", "token-file"}
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
	addr    string
	db      string
	timeout time.Duration
	format  codec.Format
	tls     clientTLS
	// tokenFile holds the bearer token; KTGRPC_TOKEN may hold it instead.
	tokenFile string
	token     string
}

// clientCommand starts a client command's flag set with the common flags.
func (c *cli) clientCommand(name, synopsis, about string) (*flag.FlagSet, *clientFlags) {
	fs := c.flagSet(name, synopsis, about)
	cf := &clientFlags{}
	fs.StringVar(&cf.addr, "addr", defaultAddr, "gateway `address`, host:port")
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
	envflag.Describe(fs, envPrefix, clientEnvFlags())
	envflag.Describe(fs, clientCertEnvPrefix, clientCertEnvFlags())
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
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
	if len(pos) < minArgs || len(pos) > len(names) {
		want := strings.Join(names, " ")
		if want == "" {
			return nil, usagef("%s takes no arguments, got %d", fs.Name(), len(pos))
		}
		return nil, usagef("want %s, got %d argument(s)", want, len(pos))
	}
	return pos, nil
}

// dial makes the connection, which is only attempted by the first call. It
// reads the TLS files, so their errors come before any call.
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
	conn, err := grpc.NewClient(cf.addr, opts...)
	if err != nil {
		return nil, usagef("--addr %q: %v", cf.addr, err)
	}
	return conn, nil
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

func (c *cli) get(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("get", "[flags] KEY",
		"Print the value of the record KEY, followed by a newline. A missing key\nprints \"not found\" on stderr and exits 1.")
	pos, err := c.parse(fs, cf, args, 1, "KEY")
	if err != nil {
		return err
	}
	key, err := cf.decode("KEY", pos[0])
	if err != nil {
		return err
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	resp, err := ktgrpcv1.NewKVClient(conn).Get(ctx, &ktgrpcv1.GetRequest{Db: cf.db, Key: key})
	if err != nil {
		return err
	}
	if !resp.GetFound() {
		return cf.notFound(key)
	}
	_, err = fmt.Fprintln(c.stdout, cf.format.Encode(resp.GetValue()))
	return err
}

func (c *cli) set(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("set", "[flags] KEY [VALUE]",
		"Store VALUE under KEY, replacing any value it had. Without VALUE the value is\nread from standard input (in --format, to its end).")
	ttl := fs.Duration("ttl", 0, "expire the record this long from now (0: never)")
	pos, err := c.parse(fs, cf, args, 1, "KEY", "[VALUE]")
	if err != nil {
		return err
	}
	if *ttl < 0 {
		return usagef("--ttl %v: must not be negative", *ttl)
	}
	key, err := cf.decode("KEY", pos[0])
	if err != nil {
		return err
	}
	var value []byte
	if len(pos) == 2 {
		if value, err = cf.decode("VALUE", pos[1]); err != nil {
			return err
		}
	} else {
		in, err := io.ReadAll(c.stdin)
		if err != nil {
			return fmt.Errorf("read value from standard input: %w", err)
		}
		if value, err = cf.format.Decode(string(in)); err != nil {
			return usagef("value on standard input: %v", err)
		}
	}
	req := &ktgrpcv1.SetRequest{Db: cf.db, Key: key, Value: value}
	if *ttl > 0 {
		req.Expiration = &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(*ttl)}
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	_, err = ktgrpcv1.NewKVClient(conn).Set(ctx, req)
	return err
}

func (c *cli) remove(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("remove", "[flags] KEY",
		"Delete the record KEY. A missing key prints \"not found\" on stderr and exits 1.")
	pos, err := c.parse(fs, cf, args, 1, "KEY")
	if err != nil {
		return err
	}
	key, err := cf.decode("KEY", pos[0])
	if err != nil {
		return err
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	resp, err := ktgrpcv1.NewKVClient(conn).Remove(ctx, &ktgrpcv1.RemoveRequest{Db: cf.db, Key: key})
	if err != nil {
		return err
	}
	if !resp.GetRemoved() {
		return cf.notFound(key)
	}
	return nil
}

func (c *cli) scan(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("scan", "[flags]",
		"Print the records of a key range, one per line as KEY<TAB>VALUE, in key order\n(on hash databases, in the backend's order). --timeout bounds the whole scan.")
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
	req := &ktgrpcv1.ScanRequest{Db: cf.db, Reverse: *reverse, Limit: *limit, KeysOnly: *keysOnly}
	var err error
	if req.Prefix, err = cf.decode("--prefix", *prefix); err != nil {
		return err
	}
	if req.StartKey, err = cf.decode("--start", *start); err != nil {
		return err
	}
	if req.EndKey, err = cf.decode("--end", *end); err != nil {
		return err
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	stream, err := ktgrpcv1.NewCursorClient(conn).Scan(ctx, req)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(c.stdout)
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return w.Flush()
		}
		if err != nil {
			// What arrived before the failure is still worth printing.
			_ = w.Flush()
			return err
		}
		for _, r := range resp.GetRecords() {
			w.WriteString(cf.format.Encode(r.GetKey()))
			if !*keysOnly {
				w.WriteByte('\t')
				w.WriteString(cf.format.Encode(r.GetValue()))
			}
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

func (c *cli) subscribe(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("subscribe", "[flags]",
		`Print the update log's changes as they happen, until interrupted, one per
line as "POSITION OP KEY VALUE" (remove has no VALUE; increments print the
amount added as VALUE; clear, sync and optimize have neither; misc prints its
command as KEY), or as JSON objects with --json. Without --after only changes
from now on are printed; resume with --after set to the last POSITION seen.
--timeout bounds connecting only.`)
	prefix := fs.String("prefix", "", "only changes to keys that start with this")
	after := fs.Uint64("after", 0, "print the changes after this position (0: the whole retained log)")
	progress := fs.Bool("progress", false, `also print "POSITION progress" lines as the stream advances`)
	interval := fs.Duration("progress-interval", 0, "how often the gateway reports progress (0: its default, 1s)")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	keyPrefix, err := cf.decode("--prefix", *prefix)
	if err != nil {
		return err
	}
	req := &ktgrpcv1.SubscribeRequest{KeyPrefix: keyPrefix, Start: &ktgrpcv1.SubscribeRequest_Now{Now: true}}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "after" {
			req.Start = &ktgrpcv1.SubscribeRequest_After{After: *after}
		}
	})
	if cf.db != "" {
		req.Dbs = []string{cf.db}
	}
	if *interval < 0 {
		return usagef("--progress-interval %v: must not be negative", *interval)
	}
	if *interval > 0 {
		req.ProgressInterval = durationpb.New(*interval)
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := cf.probe(ctx, conn); err != nil {
		return err
	}
	stream, err := ktgrpcv1.NewReplicationClient(conn).Subscribe(ctx, req)
	if err != nil {
		return interrupted(ctx, err)
	}
	out := lineWriter{w: c.stdout, cf: cf, json: *asJSON, progress: *progress}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return interrupted(ctx, err)
		}
		switch k := resp.GetKind().(type) {
		case *ktgrpcv1.SubscribeResponse_Event:
			err = out.event(k.Event)
		case *ktgrpcv1.SubscribeResponse_Progress:
			err = out.progressLine(k.Progress.GetPosition())
		}
		if err != nil {
			return err
		}
	}
}

// Backoff of watch between attempts to resume.
const (
	watchBackoff    = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

func (c *cli) watch(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("watch", "[flags]",
		`Print the records with a key prefix (or one key, with --key), then every
change to them, until interrupted: first "POSITION record KEY VALUE" lines,
the snapshot, read at POSITION; then the changes after it, one per line as
subscribe prints them, or JSON objects with --json. A change made while the
snapshot is read may show in both. When the gateway restarts or ends the
stream because this reader fell behind, watch resumes after the last
position it printed, waiting up to 5s between attempts; --after starts there
without a snapshot. --timeout bounds connecting only.`)
	prefix := fs.String("prefix", "", "watch the keys that start with this (empty: every key)")
	key := fs.String("key", "", "watch this key only, instead of a prefix")
	after := fs.Uint64("after", 0, "skip the snapshot and print the changes after this position")
	progress := fs.Bool("progress", false, `also print "POSITION progress" lines as the stream advances`)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	req := &ktgrpcv1.WatchRequest{Db: cf.db, After: *after}
	var keyFlag bool
	fs.Visit(func(f *flag.Flag) { keyFlag = keyFlag || f.Name == "key" })
	if keyFlag {
		k, err := cf.decode("--key", *key)
		if err != nil {
			return err
		}
		req.Target = &ktgrpcv1.WatchRequest_Key{Key: k}
	} else {
		p, err := cf.decode("--prefix", *prefix)
		if err != nil {
			return err
		}
		req.Target = &ktgrpcv1.WatchRequest_Prefix{Prefix: p}
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := cf.probe(ctx, conn); err != nil {
		return err
	}
	client := ktgrpcv1.NewReplicationClient(conn)
	out := lineWriter{w: c.stdout, cf: cf, json: *asJSON, progress: *progress}
	backoff := watchBackoff
	for {
		pos, err := out.watchOnce(ctx, client, req)
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.ResourceExhausted:
		default:
			return err
		}
		if pos != 0 {
			// Resuming: no second snapshot, the changes after what was
			// printed.
			req.After, backoff = pos, watchBackoff
		}
		fmt.Fprintf(c.stderr, "ktgrpc: watch: %v; resuming after position %d in %v\n", err, req.After, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, watchMaxBackoff)
		conn.Connect()
	}
}

// watchOnce runs one Watch stream and returns the last position printed.
func (w *lineWriter) watchOnce(ctx context.Context, client ktgrpcv1.ReplicationClient, req *ktgrpcv1.WatchRequest) (uint64, error) {
	var pos uint64
	stream, err := client.Watch(ctx, req)
	if err != nil {
		return pos, err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return pos, nil
		}
		if err != nil {
			return pos, err
		}
		switch k := resp.GetKind().(type) {
		case *ktgrpcv1.WatchResponse_Snapshot:
			for _, r := range k.Snapshot.GetRecords() {
				if err := w.record(k.Snapshot.GetPosition(), r); err != nil {
					return pos, err
				}
			}
			if k.Snapshot.GetLast() {
				pos = k.Snapshot.GetPosition()
			}
		case *ktgrpcv1.WatchResponse_Event:
			if err := w.event(k.Event); err != nil {
				return pos, err
			}
			pos = k.Event.GetPosition()
		case *ktgrpcv1.WatchResponse_Progress:
			if err := w.progressLine(k.Progress.GetPosition()); err != nil {
				return pos, err
			}
			pos = max(pos, k.Progress.GetPosition())
		}
	}
}

// lineWriter prints a stream's messages, one per line, as text or JSON.
// Unbuffered: a person or a pipe wants each change as it happens.
type lineWriter struct {
	w        io.Writer
	cf       *clientFlags
	json     bool
	progress bool
}

// jsonLine is the JSON form of a line; keys and values are in --format.
type jsonLine struct {
	Position  uint64   `json:"position"`
	Kind      string   `json:"kind"`
	DB        string   `json:"db,omitempty"`
	Key       *string  `json:"key,omitempty"`
	Value     *string  `json:"value,omitempty"`
	Delta     *string  `json:"delta,omitempty"`
	Command   string   `json:"command,omitempty"`
	Args      []string `json:"args,omitempty"`
	OriginSID uint32   `json:"origin_server_id,omitempty"`
}

func (w *lineWriter) write(line string) error {
	_, err := io.WriteString(w.w, line+"\n")
	return err
}

func (w *lineWriter) writeJSON(l jsonLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return w.write(string(b))
}

func (w *lineWriter) enc(b []byte) *string {
	s := w.cf.format.Encode(b)
	return &s
}

func (w *lineWriter) event(e *ktgrpcv1.Event) error {
	if !w.json {
		return w.write(w.cf.eventLine(e))
	}
	l := jsonLine{
		Position: e.GetPosition(), DB: e.GetDb(), Command: e.GetCommand(), OriginSID: e.GetOriginServerId(),
		Kind: strings.ToLower(strings.TrimPrefix(e.GetOperation().String(), "OPERATION_")),
	}
	switch e.GetOperation() {
	case ktgrpcv1.Operation_OPERATION_SET, ktgrpcv1.Operation_OPERATION_APPEND:
		l.Key, l.Value = w.enc(e.GetKey()), w.enc(e.GetValue())
	case ktgrpcv1.Operation_OPERATION_REMOVE:
		l.Key = w.enc(e.GetKey())
	case ktgrpcv1.Operation_OPERATION_INCREMENT:
		d := strconv.FormatInt(e.GetIntDelta(), 10)
		l.Key, l.Delta = w.enc(e.GetKey()), &d
	case ktgrpcv1.Operation_OPERATION_INCREMENT_DOUBLE:
		d := strconv.FormatFloat(e.GetDoubleDelta(), 'g', -1, 64)
		l.Key, l.Delta = w.enc(e.GetKey()), &d
	}
	for _, a := range e.GetArgs() {
		l.Args = append(l.Args, w.cf.format.Encode(a))
	}
	return w.writeJSON(l)
}

func (w *lineWriter) record(pos uint64, r *ktgrpcv1.Record) error {
	if w.json {
		return w.writeJSON(jsonLine{Position: pos, Kind: "record", Key: w.enc(r.GetKey()), Value: w.enc(r.GetValue())})
	}
	return w.write(strings.Join([]string{strconv.FormatUint(pos, 10), "record", w.cf.format.Encode(r.GetKey()), w.cf.format.Encode(r.GetValue())}, " "))
}

func (w *lineWriter) progressLine(pos uint64) error {
	if !w.progress {
		return nil
	}
	if w.json {
		return w.writeJSON(jsonLine{Position: pos, Kind: "progress"})
	}
	return w.write(strconv.FormatUint(pos, 10) + " progress")
}

// interrupted turns the cancellation that ends a watch into success.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil && status.Code(err) == codes.Canceled {
		return nil
	}
	return err
}

// probe checks within --timeout that the gateway answers, because the stream
// that follows has no deadline and would otherwise wait for an unreachable
// address as long as the connection attempt lasts. Any answer, even an
// unhealthy one, proves the gateway is there; the stream reports the rest.
func (cf *clientFlags) probe(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return err
	}
	return nil
}

// eventLine renders a change as "POSITION OP KEY VALUE", leaving out the
// fields the operation does not have.
func (cf *clientFlags) eventLine(e *ktgrpcv1.Event) string {
	op := strings.ToLower(strings.TrimPrefix(e.GetOperation().String(), "OPERATION_"))
	f := []string{strconv.FormatUint(e.GetPosition(), 10), op}
	switch e.GetOperation() {
	case ktgrpcv1.Operation_OPERATION_SET, ktgrpcv1.Operation_OPERATION_APPEND:
		f = append(f, cf.format.Encode(e.GetKey()), cf.format.Encode(e.GetValue()))
	case ktgrpcv1.Operation_OPERATION_REMOVE:
		f = append(f, cf.format.Encode(e.GetKey()))
	case ktgrpcv1.Operation_OPERATION_INCREMENT:
		f = append(f, cf.format.Encode(e.GetKey()), strconv.FormatInt(e.GetIntDelta(), 10))
	case ktgrpcv1.Operation_OPERATION_INCREMENT_DOUBLE:
		f = append(f, cf.format.Encode(e.GetKey()), strconv.FormatFloat(e.GetDoubleDelta(), 'g', -1, 64))
	case ktgrpcv1.Operation_OPERATION_MISC:
		f = append(f, e.GetCommand())
	}
	return strings.Join(f, " ")
}

func (c *cli) status(ctx context.Context, args []string) error {
	fs, cf := c.clientCommand("status", "[flags]",
		"Print a database's record count and size, then every status field the\nbackend reports, sorted by name, one \"NAME: VALUE\" per line.")
	if _, err := c.parse(fs, cf, args, 0); err != nil {
		return err
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := cf.callContext(ctx)
	defer cancel()
	resp, err := ktgrpcv1.NewAdminClient(conn).Status(ctx, &ktgrpcv1.StatusRequest{Db: cf.db})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(c.stdout)
	fmt.Fprintf(w, "count: %d\nsize: %d\n", resp.GetCount(), resp.GetSize())
	fields := resp.GetFields()
	for _, n := range slices.Sorted(maps.Keys(fields)) {
		fmt.Fprintf(w, "%s: %s\n", n, fields[n])
	}
	return w.Flush()
}
