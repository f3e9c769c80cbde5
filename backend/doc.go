// Package backend defines the storage interface that the gRPC services call,
// the values that cross it and the typed errors that the server maps to gRPC
// status codes in one place.
//
// Implementations live in sub-packages: embedded (an in-process store, the
// default), kt (Kyoto Tycoon) and tt (Tokyo Tyrant). None of them knows about
// gRPC, and nothing above this interface knows about a wire protocol.
//
// Conventions shared by every method:
//   - db names a database: "" is the backend's default, otherwise an index
//     ("1") or a backend-specific name.
//   - A condition that is not met (add on an existing key, a CAS mismatch, a
//     missing key) is a boolean result, never an error.
//   - Errors wrap one of the sentinel errors below with %w, so that callers
//     classify them with errors.Is.
package backend
