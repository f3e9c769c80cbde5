package ktgrpc

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// DefaultAddress is where the gateway listens unless told otherwise.
const DefaultAddress = "127.0.0.1:7878"

// maxMessageSize matches the gateway's default limit, so that a value the
// gateway accepts can also be read back; gRPC's own default is 4 MiB.
const maxMessageSize = 128 << 20

// Client talks to one gateway. It is safe for concurrent use. A Client is
// cheap to derive with With, which shares the connection.
type Client struct {
	conn        *grpc.ClientConn // set only when Dial opened the connection
	kv          ktgrpcv1.KVClient
	cursor      ktgrpcv1.CursorClient
	replication ktgrpcv1.ReplicationClient
	admin       ktgrpcv1.AdminClient
	script      ktgrpcv1.ScriptClient
	table       ktgrpcv1.TableClient
	health      healthpb.HealthClient
	defaults    []Option
	// reconnect asks the connection to dial again at once, when it can
	// (a *grpc.ClientConn can); nil otherwise.
	reconnect func()
}

// Dial connects to the gateway at target (host:port, or any gRPC target
// such as "dns:///gw.example:7878") and returns a Client that owns the
// connection; Close releases it.
//
// The connection is plaintext unless opts carry transport credentials:
// opts are applied after Dial's own defaults and so override them.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageSize),
			grpc.MaxCallSendMsgSize(maxMessageSize),
		),
	}, opts...)
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("ktgrpc: dial %s: %w", target, err)
	}
	c := New(conn)
	c.conn = conn
	return c, nil
}

// New returns a Client over an existing connection, which stays the
// caller's to close. The options become the defaults of every call; options
// given to a call override them.
func New(conn grpc.ClientConnInterface, opts ...Option) *Client {
	c := &Client{
		kv:          ktgrpcv1.NewKVClient(conn),
		cursor:      ktgrpcv1.NewCursorClient(conn),
		replication: ktgrpcv1.NewReplicationClient(conn),
		admin:       ktgrpcv1.NewAdminClient(conn),
		script:      ktgrpcv1.NewScriptClient(conn),
		table:       ktgrpcv1.NewTableClient(conn),
		health:      healthpb.NewHealthClient(conn),
		defaults:    opts,
	}
	if r, ok := conn.(interface{ ResetConnectBackoff() }); ok {
		c.reconnect = r.ResetConnectBackoff
	}
	return c
}

// With returns a Client that shares c's connection and applies opts on top
// of c's defaults, for example one Client per database:
//
//	users := c.With(ktgrpc.WithDB("users"))
func (c *Client) With(opts ...Option) *Client {
	d := *c
	d.defaults = append(append([]Option(nil), c.defaults...), opts...)
	return &d
}

// Close closes the connection when Dial opened it, which also ends the use
// of every Client derived from it with With. For a Client made by New it
// does nothing: the connection belongs to the caller.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// KV returns the generated KV client, for fields of the API the methods of
// Client do not expose.
func (c *Client) KV() ktgrpcv1.KVClient { return c.kv }

// Cursor returns the generated Cursor client; OpenCursor and Scan wrap it.
func (c *Client) Cursor() ktgrpcv1.CursorClient { return c.cursor }

// Script returns the generated Script client; CallScript wraps it.
func (c *Client) Script() ktgrpcv1.ScriptClient { return c.script }

// Table returns the generated Table client; the Table methods wrap it.
func (c *Client) Table() ktgrpcv1.TableClient { return c.table }

// Replication returns the generated Replication client.
func (c *Client) Replication() ktgrpcv1.ReplicationClient { return c.replication }

// Admin returns the generated Admin client.
func (c *Client) Admin() ktgrpcv1.AdminClient { return c.admin }

// settings folds the client's defaults and a call's options into one value.
func (c *Client) settings(opts []Option) settings {
	var s settings
	for _, o := range c.defaults {
		o(&s)
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}
