// Package connpool is the connection layer the protocol adapters (kt, tt)
// share: a bounded pool of TCP connections to one server, and the round
// trip on one of them. Each adapter keeps only its protocol: how to encode
// a request, read a reply and name an error.
//
// What the pool does for every adapter alike:
//
//   - limits: at most Config.Size connections open; a call that finds all
//     of them in use waits (bounded by its context) and is counted in
//     Stats.Waits;
//   - idle checks: an idle connection is probed before reuse and dropped
//     when the server closed it or it holds unread bytes;
//   - stale retry: an idempotent call that failed on a reused connection
//     the server had closed is sent once more on a new one (Pool.Do);
//   - deadlines and cancellation: an exchange runs under its deadline and
//     is interrupted when its context ends (Conn.Exchange); a connection
//     left in an unknown state is closed, never reused;
//   - late-reply recovery: a call whose caller gave up before any of the
//     reply arrived leaves its connection in step, and the reply is read in
//     the background so that the connection is kept (Pool.Recover);
//   - streams: long-lived connections (replication) outside the slots,
//     closed by Close (Pool.DialStream);
//   - counts for metrics (Stats, Stats.Backend): open, idle, in use,
//     streams, waits, dials, discards, recovered; the gateway exports them
//     as the ktgrpc_backend_pool_* series.
//
// # URL options
//
// Options and ParseQuery are the backend URL vocabulary both adapters take,
// one meaning per name (the README's "Backend URL options" section has the
// defaults of each adapter):
//
//	pool              most connections open at once for calls
//	timeout           limit of a call whose context has no deadline, the
//	                  wait for a pooled connection included
//	connect_timeout   limit of one TCP connect
//	sid               server id presented when subscribing
//	repl_timeout      silence tolerated on a replication stream
//	repl_backoff      first pause before reopening a broken stream, doubled
//	                  per failure
//	repl_max_backoff  cap of that pause
//	repl_reconnects   failed reopenings in a row before Subscribe gives up
//	coalesce          on/off: merge concurrent single-key calls
//	coalesce_wait     longest a call waits for others to join its batch
//	coalesce_max      most calls in one batch
//
// Durations use Go syntax; a bare number means seconds. kt's deprecated
// backoff, max_backoff and reconnects are read as repl_backoff,
// repl_max_backoff and repl_reconnects.
package connpool
