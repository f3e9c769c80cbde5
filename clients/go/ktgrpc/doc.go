// Package ktgrpc is a small client for the ktgrpc gateway, the gRPC front of
// Kyoto Tycoon and Tokyo Tyrant.
//
// It wraps the generated stubs of package
// github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1 with the conveniences of a
// key/value client: string keys, byte or string values, conditional and
// atomic writes (Add, Replace, CompareAndSwap, Seize, Increment,
// IncrementFloat), bulk operations over maps, key matching (prefix, regular
// expression, similarity), per-call and per-client options (WithDB,
// WithTTL, ...), a Scan iterator and a stateful Cursor, server-side scripts
// (CallScript), table databases with a query builder (Query, TableSearch),
// administration (Status, Clear, Vacuum, Databases, ...), an update-log
// subscription that can be resumed from a position (Subscribe) or that
// resumes by itself across gateway restarts and network failures (Watch),
// errors that work with errors.Is, and typed values through pluggable
// codecs (Raw, String, JSON, Gob).
//
// The package is the module github.com/ktgrpc/ktgrpc/clients/go, whose
// dependencies are gRPC, protobuf and the generated stubs
// (github.com/ktgrpc/ktgrpc/gen), nothing of the gateway itself.
//
// Keys are Go strings, which hold arbitrary bytes: convert a []byte key with
// string(key). A missing record is ErrNotFound from Get, while conditional
// writes (Add, Replace) report whether they applied, as the gateway does.
//
// Every call of the API has a method; the generated clients returned by KV,
// Cursor, Replication, Admin, Script and Table reach the fields the methods
// leave out.
package ktgrpc
