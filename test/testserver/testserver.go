// Package testserver holds what the protocol test servers kttest and tttest
// share beyond the worker pool: the statistics they report.
package testserver

// Stats is a snapshot of what a test server is serving.
type Stats struct {
	// Conns is the number of open client connections.
	Conns int
	// Replications is the number of replication sessions being served;
	// each holds a worker.
	Replications int
	// BusyWorkers is the number of workers running a request, replication
	// sessions included.
	BusyWorkers int
	// Workers is the size of the worker pool.
	Workers int
}
