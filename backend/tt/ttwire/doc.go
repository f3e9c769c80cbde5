// Package ttwire encodes and decodes Tokyo Tyrant's binary protocol: the
// requests and replies of all 26 commands (magic 0xC8), the adddouble number
// form, table-database column and query encodings, and the records of the
// replication stream.
//
// The package is pure: it works on byte slices and io.Readers and never opens
// a connection. Both halves live here, so that every byte layout has one
// definition: the client adapter (package tt) encodes requests and decodes
// replies and stream frames, the test server (test/tttest) decodes requests
// with the server's own leniency and encodes replies, frames and update-log
// payloads.
//
// All integers on the wire are big-endian. Lengths are 32-bit and the server
// rejects anything above MaxArgSize; encoders here refuse such requests up
// front, because the server answers a malformed request with silence (or by
// reading the leftover bytes as a text line), which a client could only
// notice by timing out.
package ttwire
