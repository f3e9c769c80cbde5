// Package ktwire holds pure encoders and decoders for the Kyoto Tycoon wire
// formats: the binary protocol (set_bulk, remove_bulk, get_bulk, play_script),
// the replication stream and its update-log messages, TSV-RPC bodies with
// their column encodings, and the minimal HTTP/1.1 framing that TSV-RPC runs
// on.
//
// Nothing here opens a connection: encoders append to byte slices and
// decoders read from an io.Reader, so that the same code serves the client
// adapter (package kt), test servers and unit tests replaying recorded
// exchanges. All integers are big-endian, as on the wire.
package ktwire
