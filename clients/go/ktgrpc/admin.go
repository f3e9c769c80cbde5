package ktgrpc

import (
	"context"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Status describes a database.
type Status struct {
	// Count is the number of records.
	Count int64
	// Size is the database's size in bytes.
	Size int64
	// Fields are every field the backend reported, as text.
	Fields map[string]string
}

// Status reports the record count, size and status fields of the database
// of WithDB.
func (c *Client) Status(ctx context.Context, opts ...Option) (Status, error) {
	s := c.settings(opts)
	resp, err := c.admin.Status(ctx, &ktgrpcv1.StatusRequest{Db: s.db})
	if err != nil {
		return Status{}, wrapErr("Status", err)
	}
	return Status{Count: resp.GetCount(), Size: resp.GetSize(), Fields: resp.GetFields()}, nil
}

// Report returns the backend server's report (Kyoto Tycoon report, Tokyo
// Tyrant stat).
func (c *Client) Report(ctx context.Context) (map[string]string, error) {
	resp, err := c.admin.Report(ctx, &ktgrpcv1.ReportRequest{})
	if err != nil {
		return nil, wrapErr("Report", err)
	}
	return resp.GetFields(), nil
}

// Clear removes every record of the database of WithDB.
func (c *Client) Clear(ctx context.Context, opts ...Option) error {
	s := c.settings(opts)
	_, err := c.admin.Clear(ctx, &ktgrpcv1.ClearRequest{Db: s.db})
	return wrapErr("Clear", err)
}

// Synchronize flushes the database of WithDB to its storage; hard flushes
// to the device too. command, when not "", names a program the backend runs
// afterwards from its command directory (Kyoto Tycoon).
func (c *Client) Synchronize(ctx context.Context, hard bool, command string, opts ...Option) error {
	s := c.settings(opts)
	_, err := c.admin.Synchronize(ctx, &ktgrpcv1.SynchronizeRequest{Db: s.db, Hard: hard, Command: command})
	return wrapErr("Synchronize", err)
}

// Vacuum purges expired records of the database of WithDB and, where the
// backend can, defragments; steps bounds the work (0: a full vacuum).
func (c *Client) Vacuum(ctx context.Context, steps int64, opts ...Option) error {
	s := c.settings(opts)
	_, err := c.admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{Db: s.db, Steps: steps})
	return wrapErr("Vacuum", err)
}

// Database describes one database of the gateway's backend.
type Database struct {
	// Index is the database's index, usable with WithDB.
	Index int32
	// Name is its name, also usable with WithDB where the backend accepts
	// names.
	Name string
	// Backend is the backend serving it, with its address.
	Backend string
	// Kind is the kind of database ("tree", "hash", "table", ...).
	Kind string
	// Healthy is whether the backend answered a health check.
	Healthy bool
	// Error says why the backend is unhealthy, when it is.
	Error string
}

// Databases lists the configured databases and their health.
func (c *Client) Databases(ctx context.Context) ([]Database, error) {
	resp, err := c.admin.Databases(ctx, &ktgrpcv1.DatabasesRequest{})
	if err != nil {
		return nil, wrapErr("Databases", err)
	}
	out := make([]Database, len(resp.GetDatabases()))
	for i, d := range resp.GetDatabases() {
		out[i] = Database{Index: d.GetIndex(), Name: d.GetName(), Backend: d.GetBackend(), Kind: d.GetKind(), Healthy: d.GetHealthy(), Error: d.GetError()}
	}
	return out, nil
}

// Optimize rebuilds the database of WithDB with tuning parameters in the
// backend's own syntax (Tokyo Tyrant).
func (c *Client) Optimize(ctx context.Context, params string, opts ...Option) error {
	s := c.settings(opts)
	_, err := c.admin.Optimize(ctx, &ktgrpcv1.OptimizeRequest{Db: s.db, Params: params})
	return wrapErr("Optimize", err)
}

// Copy copies the database file to path on the backend's host (Tokyo
// Tyrant; a leading "@" runs path as a command).
func (c *Client) Copy(ctx context.Context, path string, opts ...Option) error {
	s := c.settings(opts)
	_, err := c.admin.Copy(ctx, &ktgrpcv1.CopyRequest{Db: s.db, Path: path})
	return wrapErr("Copy", err)
}

// Restore replays the update-log directory path on the backend's host from
// position on (Tokyo Tyrant); checkConsistency stops at a replayed result
// that differs from the logged one.
func (c *Client) Restore(ctx context.Context, path string, position uint64, checkConsistency bool, opts ...Option) error {
	s := c.settings(opts)
	_, err := c.admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Db: s.db, Path: path, Position: position, CheckConsistency: checkConsistency})
	return wrapErr("Restore", err)
}

// SetMaster sets the replication master of a Tokyo Tyrant backend (host ""
// stops replication); position 0 keeps the saved one.
func (c *Client) SetMaster(ctx context.Context, host string, port uint32, position uint64, checkConsistency bool) error {
	_, err := c.admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{Host: host, Port: port, Position: position, CheckConsistency: checkConsistency})
	return wrapErr("SetMaster", err)
}

// TuneReplication changes a Kyoto Tycoon slave's master (host "" stops
// replication), position (0 keeps it) and polling interval (0 keeps it).
func (c *Client) TuneReplication(ctx context.Context, host string, port uint32, position uint64, interval time.Duration) error {
	req := &ktgrpcv1.TuneReplicationRequest{Host: host, Port: port, Position: position}
	if interval != 0 {
		req.Interval = durationpb.New(interval)
	}
	_, err := c.admin.TuneReplication(ctx, req)
	return wrapErr("TuneReplication", err)
}

// Misc calls a Tokyo Tyrant misc function by name and returns its results
// and whether it succeeded. It reads WithDB and WithNoUpdateLog.
func (c *Client) Misc(ctx context.Context, name string, args [][]byte, opts ...Option) ([][]byte, bool, error) {
	s := c.settings(opts)
	resp, err := c.admin.Misc(ctx, &ktgrpcv1.MiscRequest{Db: s.db, Name: name, Args: args, NoUpdateLog: s.noUpdateLog})
	if err != nil {
		return nil, false, wrapErr("Misc", err)
	}
	return resp.GetResults(), resp.GetSucceeded(), nil
}

// UpdateLog describes one update-log file of the backend.
type UpdateLog struct {
	// Path is the file's path on the backend's host.
	Path string
	// Size is the file's size in bytes.
	Size int64
	// MaxPosition is the position of the newest change in the file.
	MaxPosition uint64
}

// ListUpdateLogs lists the backend's update-log files, oldest first (Kyoto
// Tycoon).
func (c *Client) ListUpdateLogs(ctx context.Context) ([]UpdateLog, error) {
	resp, err := c.admin.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
	if err != nil {
		return nil, wrapErr("ListUpdateLogs", err)
	}
	out := make([]UpdateLog, len(resp.GetFiles()))
	for i, f := range resp.GetFiles() {
		out[i] = UpdateLog{Path: f.GetPath(), Size: f.GetSize(), MaxPosition: f.GetMaxPosition()}
	}
	return out, nil
}

// RemoveUpdateLogs deletes the update-log files whose newest change is at
// or before position (Kyoto Tycoon); the newest file is always kept.
func (c *Client) RemoveUpdateLogs(ctx context.Context, before uint64) error {
	_, err := c.admin.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{Before: &before})
	return wrapErr("RemoveUpdateLogs", err)
}

// ReplicationStatus reports the gateway's replication hub: its subscribers
// and what they cost the backend. The response is the API's message, whose
// fields the API documents one by one.
func (c *Client) ReplicationStatus(ctx context.Context) (*ktgrpcv1.ReplicationStatusResponse, error) {
	resp, err := c.admin.ReplicationStatus(ctx, &ktgrpcv1.ReplicationStatusRequest{})
	return resp, wrapErr("ReplicationStatus", err)
}

// Health asks the gateway's gRPC health service about service ("" is the
// gateway as a whole, which serves when its backend answers) and returns
// its status: "SERVING", "NOT_SERVING", ... A gateway that cannot be
// reached is an error matching ErrUnavailable.
func (c *Client) Health(ctx context.Context, service string) (string, error) {
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return "", wrapErr("Health", err)
	}
	return resp.GetStatus().String(), nil
}

// Capability is one feature beyond the core calls, and whether the
// gateway's backend offers it.
type Capability struct {
	// Name is the capability's name, as in the reason metadata of an
	// UNIMPLEMENTED error ("tables", "scripts", "expiry"…).
	Name string
	// Description says what the capability allows.
	Description string
	// Offered says whether the backend offers it.
	Offered bool
}

// Capabilities returns the backend's description and every capability the
// gateway knows, each marked offered or not, so a caller can branch before
// making a call the backend would refuse.
func (c *Client) Capabilities(ctx context.Context) (backend string, caps []Capability, err error) {
	resp, err := c.admin.Capabilities(ctx, &ktgrpcv1.CapabilitiesRequest{})
	if err != nil {
		return "", nil, wrapErr("Capabilities", err)
	}
	for _, x := range resp.GetCapabilities() {
		caps = append(caps, Capability{Name: x.GetName(), Description: x.GetDescription(), Offered: x.GetOffered()})
	}
	return resp.GetBackend(), caps, nil
}
