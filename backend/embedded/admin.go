package embedded

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Status describes a database: Count and Size (key plus value bytes) of its
// live records, and Fields "count", "size", "type" ("tree", "hash" or "table"),
// "name" and "index".
func (s *Store) Status(ctx context.Context, db string) (backend.Status, error) {
	d, err := s.database(db)
	if err != nil {
		return backend.Status{}, err
	}
	var st backend.Status
	err = s.view(ctx, d, func(d *database, now time.Time) error {
		st.Count, st.Size = d.stats(now)
		return nil
	})
	if err != nil {
		return backend.Status{}, err
	}
	st.Fields = map[string]string{
		"count": strconv.FormatInt(st.Count, 10),
		"size":  strconv.FormatInt(st.Size, 10),
		"type":  d.kind.String(),
		"name":  d.name,
		"index": strconv.Itoa(d.index),
	}
	return st, nil
}

// Report returns "db_<i>" = "count=N size=M name=X" per database,
// "db_total_count", "db_total_size", "serv_current_time" (epoch seconds with
// microseconds), "serv_server_id", "log_position" (LogPosition), and the
// update log's size and bounds (LogStats): "log_events",
// "log_events_limit", "log_bytes", "log_bytes_limit" and
// "log_oldest_position".
func (s *Store) Report(ctx context.Context) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	now := s.now()
	rep := make(map[string]string, len(s.dbs)+10)
	var totalCount, totalSize int64
	for _, d := range s.dbs {
		count, size := d.stats(now)
		totalCount += count
		totalSize += size
		rep["db_"+strconv.Itoa(d.index)] = fmt.Sprintf("count=%d size=%d name=%s", count, size, d.name)
	}
	rep["db_total_count"] = strconv.FormatInt(totalCount, 10)
	rep["db_total_size"] = strconv.FormatInt(totalSize, 10)
	rep["serv_current_time"] = strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64)
	rep["serv_server_id"] = strconv.FormatUint(uint64(s.serverID), 10)
	rep["log_position"] = strconv.FormatUint(s.log.last, 10)
	ls := s.log.stats()
	rep["log_events"] = strconv.Itoa(ls.Events)
	rep["log_events_limit"] = strconv.Itoa(ls.EventLimit)
	rep["log_bytes"] = strconv.FormatInt(ls.Bytes, 10)
	rep["log_bytes_limit"] = strconv.FormatInt(ls.ByteLimit, 10)
	rep["log_oldest_position"] = strconv.FormatUint(ls.Oldest, 10)
	return rep, nil
}

// Clear removes every record of db and logs one OpClear.
func (s *Store) Clear(ctx context.Context, db string) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	return s.update(ctx, d, "clear", func(t *txn) error {
		d.clear()
		t.log(backend.OpClear, nil, nil, time.Time{})
		return nil
	})
}

// Synchronize does nothing: the store lives in memory only. A command is
// refused with backend.ErrUnsupported, since there is nothing to run it on.
func (s *Store) Synchronize(ctx context.Context, db string, hard bool, command string) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	if command != "" {
		return fmt.Errorf("embedded: synchronize cannot run command %q: the embedded store has no files and no command directory: %w", command, backend.ErrUnsupported)
	}
	return s.view(ctx, d, func(*database, time.Time) error { return nil })
}

// Vacuum removes up to steps expired records of db now (0: all of them),
// logging a REMOVE for each.
func (s *Store) Vacuum(ctx context.Context, db string, steps int64) error {
	d, err := s.database(db)
	if err != nil {
		return err
	}
	if steps < 0 {
		return fmt.Errorf("embedded: vacuum steps %d is negative (0 means all): %w", steps, backend.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	limit := int(steps)
	if int64(limit) != steps || limit < 0 {
		limit = 0
	}
	_, err = s.sweep(d, limit)
	return err
}

// Databases lists the databases in index order.
func (s *Store) Databases(ctx context.Context) ([]backend.DatabaseInfo, error) {
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	out := make([]backend.DatabaseInfo, len(s.dbs))
	for i, d := range s.dbs {
		out[i] = backend.DatabaseInfo{Index: d.index, Name: d.name, Backend: "embedded", Kind: d.kind.String(), Healthy: true}
	}
	return out, nil
}
