// Package backend defines the storage interface that the gRPC services call,
// the values that cross it and the typed errors that the server maps to gRPC
// status codes in one place.
//
// Implementations live in sub-packages: embedded (an in-process store, the
// default), kt (Kyoto Tycoon) and tt (Tokyo Tyrant). None of them knows about
// gRPC, and nothing above this interface knows about a wire protocol.
//
// Backend is the core every store honours. What only some backends offer is
// a Capability: a feature interface (Atomic, Scripter, Tabler, TTAdmin,
// KTAdmin) or an option of a core call (expiry, regex matching, ...).
// Backends embed Base, which answers ErrUnsupported for every feature
// method, override what they offer and list it in Capabilities; callers
// reach a feature only through Use (or check an option with Has), so the
// list, not the method set, says what a backend offers, and every refusal
// is an UnsupportedError in one wording. The table and lock enums are the
// gateway's own values; adapters map them to their protocol.
//
// Conventions shared by every method:
//   - db names a database: "" is the backend's default, otherwise an index
//     ("1") or a backend-specific name.
//   - A condition that is not met (add on an existing key, a CAS mismatch, a
//     missing key) is a boolean result, never an error.
//   - Errors wrap one of the sentinel errors below with %w, so that callers
//     classify them with errors.Is.
package backend
