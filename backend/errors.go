package backend

import "errors"

// Sentinel errors. Implementations wrap them with %w and a message a person can
// act on, for example
//
//	fmt.Errorf("kt: jump_back on hash database %q: %w", db, backend.ErrUnsupported)
var (
	// ErrNotFound: the named thing (procedure, record where the operation
	// has no "found" result, update-log position) does not exist. An unknown
	// database is ErrInvalid: the request named something the backend was
	// never configured with.
	ErrNotFound = errors.New("not found")
	// ErrExists: the thing to create already exists.
	ErrExists = errors.New("already exists")
	// ErrMismatch: a precondition the caller stated does not hold.
	ErrMismatch = errors.New("mismatch")
	// ErrIncompatible: the stored value cannot take the operation (for
	// example incrementing a value that is not a number).
	ErrIncompatible = errors.New("incompatible value")
	// ErrUnsupported: the backend or this database cannot do the operation.
	ErrUnsupported = errors.New("unsupported")
	// ErrInvalid: the request is malformed for this backend.
	ErrInvalid = errors.New("invalid argument")
	// ErrUnavailable: the backend cannot be reached or failed mid-request; the
	// outcome of a write is unknown.
	ErrUnavailable = errors.New("unavailable")
	// ErrTimeout: the backend did not answer in time.
	ErrTimeout = errors.New("timeout")
	// ErrExhausted: a bounded resource of the gateway's own ran out (open
	// cursors, connections, the buffer of a subscriber that reads too
	// slowly); the message names the limit and how to go on.
	ErrExhausted = errors.New("resource exhausted")
	// ErrFailed: the backend reported an internal failure.
	ErrFailed = errors.New("backend failure")
	// ErrOutOfRange: an update-log position older than the log the backend
	// still retains. The message names the oldest position available.
	ErrOutOfRange = errors.New("out of range")
)
