// Package ktgrpc is a small client for the ktgrpc gateway, the gRPC front of
// Kyoto Tycoon and Tokyo Tyrant.
//
// It wraps the generated stubs of package
// github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1 with the conveniences of a
// key/value client: string keys, byte or string values, bulk operations
// over maps, per-call and per-client options (WithDB, WithTTL, ...), a Scan
// iterator, an update-log subscription that can be resumed from a
// position (Subscribe) or that resumes by itself across gateway restarts
// and network failures (Watch), errors that work with errors.Is, and typed
// values through pluggable codecs (Raw, String, JSON, Gob).
//
// Keys are Go strings, which hold arbitrary bytes: convert a []byte key with
// string(key). A missing record is ErrNotFound from Get, while conditional
// writes (Add, Replace) report whether they applied, as the gateway does.
//
// Everything the convenience methods leave out is reachable through the
// generated clients returned by KV, Cursor, Replication and Admin.
package ktgrpc
