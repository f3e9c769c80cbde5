// Package ktwire holds pure encoders and decoders for the Kyoto Tycoon wire
// formats: the binary protocol (set_bulk, remove_bulk, get_bulk, play_script),
// the replication stream and its update-log messages, TSV-RPC bodies with
// their column encodings, and the minimal HTTP/1.1 framing that TSV-RPC runs
// on.
//
// Both halves of each exchange live here: the client's (requests encoded,
// replies decoded; package kt) and the server's (requests decoded in
// binserver.go and httpserver.go, replies encoded; the test server
// test/kttest), so that every byte layout is written once and the golden
// captures check it from both sides.
//
// Nothing here opens a connection: encoders append to byte slices and
// decoders read from an io.Reader. All integers are big-endian, as on the
// wire.
package ktwire
