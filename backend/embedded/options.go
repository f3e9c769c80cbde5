package embedded

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
)

// Defaults applied by New for zero Options fields.
const (
	// DefaultSweepInterval is how often expired records are purged.
	DefaultSweepInterval = time.Second
	// DefaultLogCapacity is how many update-log events are retained.
	DefaultLogCapacity = 1 << 20
	// DefaultLogBytes bounds the memory the update log holds: small enough
	// for a laptop, where the process's footprint is about twice the live
	// heap under Go's default GOGC.
	DefaultLogBytes = 64 << 20
	// DefaultServerID is the origin server id stamped on logged events.
	DefaultServerID = 1
)

// Kind is the type of a database.
type Kind int

// The database kinds.
const (
	// Tree is an ordered database: cursors and scans work in both
	// directions.
	Tree Kind = iota
	// Hash is an unordered database: backward cursor moves and reverse scans
	// are refused with backend.ErrUnsupported.
	Hash
	// Table is a database of rows of named columns with Tokyo Tyrant's
	// table semantics (backend.Tabler). It is unordered like Hash.
	Table
)

// String returns the kind's name as Status and Databases report it.
func (k Kind) String() string {
	switch k {
	case Tree:
		return "tree"
	case Hash:
		return "hash"
	case Table:
		return "table"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// parseKind reads a kind name as written in an embedded URL.
func parseKind(s string) (Kind, bool) {
	switch strings.ToLower(s) {
	case "tree":
		return Tree, true
	case "hash":
		return Hash, true
	case "table":
		return Table, true
	}
	return 0, false
}

// ordered reports whether the kind keeps a backward order for cursors and
// reverse scans.
func (k Kind) ordered() bool { return k == Tree }

// DBConfig describes one database of a Store.
type DBConfig struct {
	// Name addresses the database besides its index. Empty means the index
	// in decimal. A name made of digits must be the database's own index, so
	// that a number always means the same database.
	Name string
	// Kind is Tree (the zero value), Hash or Table.
	Kind Kind
}

// Options configure New. The zero value is a usable configuration.
type Options struct {
	// Databases lists the databases in index order. Empty means two Tree
	// databases named "0" and "1".
	Databases []DBConfig
	// Now is the clock for expiration and log positions; nil means
	// time.Now. Tests inject a fake clock here instead of sleeping.
	Now func() time.Time
	// SweepInterval is how often a background goroutine purges expired
	// records: 0 means DefaultSweepInterval, negative disables the sweep
	// (expired records stay invisible; Vacuum still purges them).
	SweepInterval time.Duration
	// LogCapacity is how many update-log events are retained, oldest dropped
	// first; 0 means DefaultLogCapacity.
	LogCapacity int
	// LogBytes bounds the memory the update log holds, oldest events
	// dropped first; 0 means DefaultLogBytes. It counts what the log keeps
	// reachable: the arrays behind every event's key, value and arguments
	// (capacity, not length) and the log's own array of events, spare
	// slots included. The newest event is always kept. The log holds the
	// values of records long overwritten or removed, so a count alone would
	// let a run of large writes exhaust memory.
	LogBytes int64
	// ServerID is stamped on logged events as their origin; 0 means
	// DefaultServerID.
	ServerID uint32
	// LogMissingRemoves logs a REMOVE even for a key that did not exist, as
	// Kyoto Tycoon's update log does. Off by default, so that a subscriber
	// sees only real changes; the KT protocol test server turns it on.
	LogMissingRemoves bool
}

// Open creates a Store from an embedded URL:
//
//	embedded:                       two Tree databases named "0" and "1"
//	embedded:?dbs=users,cache:hash  databases named by position; ":hash",
//	                                ":tree" or ":table" sets the kind
//	                                (default tree)
//	embedded:?log_bytes=16MiB       memory bound of the update log
//	                                (Options.LogBytes; B, KiB, MiB, GiB or
//	                                KB, MB, GB; default 64MiB)
//	embedded:?log_events=100000     event bound of the update log
//	                                (Options.LogCapacity; default 1048576)
//
// Unknown parameters and kinds are errors wrapping backend.ErrInvalid.
func Open(u *url.URL) (*Store, error) {
	if u == nil {
		return nil, fmt.Errorf("embedded: nil URL: %w", backend.ErrInvalid)
	}
	if u.Scheme != "embedded" {
		return nil, fmt.Errorf("embedded: URL scheme is %q, want \"embedded\": %w", u.Scheme, backend.ErrInvalid)
	}
	if u.Opaque != "" || u.Host != "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("embedded: URL %q takes no address or path, only ?dbs=: %w", u.Redacted(), backend.ErrInvalid)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("embedded: bad URL query %q: %v: %w", u.RawQuery, err, backend.ErrInvalid)
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	var opts Options
	for _, name := range names {
		values := q[name]
		switch name {
		case "dbs":
			if len(values) != 1 {
				return nil, fmt.Errorf("embedded: parameter dbs given %d times, want once: %w", len(values), backend.ErrInvalid)
			}
			dbs, err := parseDBs(values[0])
			if err != nil {
				return nil, err
			}
			opts.Databases = dbs
		case "log_bytes", "log_events":
			if len(values) != 1 {
				return nil, fmt.Errorf("embedded: parameter %s given %d times, want once: %w", name, len(values), backend.ErrInvalid)
			}
			if name == "log_events" {
				n, err := strconv.Atoi(values[0])
				if err != nil || n < 1 {
					return nil, fmt.Errorf("embedded: log_events=%q: want a positive event count: %w", values[0], backend.ErrInvalid)
				}
				opts.LogCapacity = n
				continue
			}
			n, err := parseSize(values[0])
			if err != nil {
				return nil, fmt.Errorf("embedded: log_bytes=%q: %v: %w", values[0], err, backend.ErrInvalid)
			}
			opts.LogBytes = n
		default:
			return nil, fmt.Errorf("embedded: unknown URL parameter %q (known: dbs, log_bytes, log_events): %w", name, backend.ErrInvalid)
		}
	}
	return New(opts)
}

// parseDBs reads the dbs parameter: comma-separated names, each optionally
// followed by ":tree", ":hash" or ":table".
func parseDBs(v string) ([]DBConfig, error) {
	if v == "" {
		return nil, fmt.Errorf("embedded: dbs is empty; list database names like dbs=users,cache:hash: %w", backend.ErrInvalid)
	}
	var dbs []DBConfig
	for i, item := range strings.Split(v, ",") {
		name, kind := item, Tree
		if at := strings.LastIndexByte(item, ':'); at >= 0 {
			k, ok := parseKind(item[at+1:])
			if !ok {
				return nil, fmt.Errorf("embedded: database %q has unknown kind %q (want tree, hash or table): %w", item[:at], item[at+1:], backend.ErrInvalid)
			}
			name, kind = item[:at], k
		}
		if name == "" {
			return nil, fmt.Errorf("embedded: database %d in dbs=%q has an empty name: %w", i, v, backend.ErrInvalid)
		}
		dbs = append(dbs, DBConfig{Name: name, Kind: kind})
	}
	return dbs, nil
}

// isDecimal reports whether s is a non-empty run of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sizeUnits are the suffixes parseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// parseSize reads a positive byte count such as 65536, 64MiB or 1GB.
func parseSize(v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as 65536, 64MiB or 1GB")
	}
	return n * mult, nil
}
