// Package embedded is an in-process key/value store with Kyoto Tycoon's
// semantics. It is the gateway's default backend and the store that the
// protocol test servers serve.
//
// A Store holds one or more databases, each an ordered B-tree. A Tree database
// supports every operation; a Hash database refuses backward cursor moves and
// reverse scans, like Kyoto Tycoon's hash databases, so that clients do not
// come to depend on an order the real servers do not give. A Table database
// holds rows of named columns with Tokyo Tyrant's table semantics
// (backend.Tabler; see table.go).
//
// Expired records are invisible to every read (Get, Check, Scan, cursors,
// MatchKeys, counts) from the moment they expire. A background sweep, and
// Vacuum, remove them later and log each removal as a REMOVE event, so that a
// subscriber's copy converges with the store.
//
// Every successful mutation appends an event to an in-memory update log, in
// the order the mutations took effect; the log keeps the newest events within
// a count and a byte bound (Options.LogCapacity, Options.LogBytes). Subscribe
// replays the log and then follows it. Events follow Kyoto Tycoon's update
// log: a write is logged as OpSet with the full resulting value (the final
// 8-byte counter of an increment, the whole value after an append), a removal
// as OpRemove and a clear as OpClear. A remove of a missing key changes
// nothing and is logged only with Options.LogMissingRemoves, which mimics
// Kyoto Tycoon.
// Event.Command names the operation that caused the event ("set",
// "increment", "cur_remove", "expire", ...).
package embedded
