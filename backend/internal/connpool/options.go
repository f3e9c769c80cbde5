package connpool

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are the backend URL options both adapters share; each name has
// one meaning in both (see the package documentation for the table).
type Options struct {
	// Pool is the most connections open at once for calls (pool).
	Pool int
	// Timeout bounds a call whose context has no deadline, the wait for a
	// pooled connection included (timeout).
	Timeout time.Duration
	// ConnectTimeout bounds one TCP connect (connect_timeout).
	ConnectTimeout time.Duration
	// SID is the server id presented when subscribing (sid).
	SID uint32
	// ReplTimeout is the silence tolerated on a replication stream before
	// it is reopened (repl_timeout).
	ReplTimeout time.Duration
	// ReplBackoff is the first pause before reopening a broken replication
	// stream, doubled per failure up to ReplMaxBackoff (repl_backoff,
	// repl_max_backoff).
	ReplBackoff, ReplMaxBackoff time.Duration
	// ReplReconnects is how many failed reopenings in a row a subscription
	// tolerates before it gives up (repl_reconnects).
	ReplReconnects int
	// Coalesce merges concurrent single-key calls into one request
	// (coalesce); CoalesceWait bounds how long a call waits for others to
	// join it and CoalesceMax how many join (coalesce_wait, coalesce_max).
	Coalesce     bool
	CoalesceWait time.Duration
	CoalesceMax  int
}

// Limits of the options whose range depends on the protocol.
type Limits struct {
	// MaxSID is the largest server id the protocol carries.
	MaxSID uint32
}

// aliases are the deprecated names still accepted, by URL scheme, with
// the option each stands for. (tt's repl_backoff alone, which once named
// the longest pause, is mapped by the tt adapter.)
var aliases = map[string]map[string]string{
	"kt": {"backoff": "repl_backoff", "max_backoff": "repl_max_backoff", "reconnects": "repl_reconnects"},
}

// shared lists the options every adapter takes.
var shared = []string{"pool", "timeout", "connect_timeout", "sid", "repl_timeout", "repl_backoff", "repl_max_backoff", "repl_reconnects", "coalesce", "coalesce_wait", "coalesce_max"}

// ParseQuery reads u's query into o (which holds the defaults). Names
// other than the shared ones go to extra, which reports whether it knows
// the name (own lists them for the error message). Errors name the option
// and what it takes; the adapter wraps them.
func ParseQuery(u *url.URL, lim Limits, o *Options, own []string, extra func(name, value string) (bool, error)) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("query: %v", err)
	}
	seen := map[string]string{}
	for given, values := range q {
		if len(values) != 1 {
			return fmt.Errorf("option %s given %d times", given, len(values))
		}
		v := values[0]
		name := given
		if to, ok := aliases[u.Scheme][given]; ok {
			name = to
		}
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("options %s and %s both set %s; give one", prev, given, name)
		}
		seen[name] = given
		bad := func(want string) error { return fmt.Errorf("%s=%q: want %s", given, v, want) }
		switch name {
		case "pool":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return bad("a connection count from 1 to 10000")
			}
			o.Pool = n
		case "timeout", "connect_timeout", "repl_timeout", "repl_backoff", "repl_max_backoff", "coalesce_wait":
			d, err := ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("a positive duration such as 500ms or 30s")
			}
			switch name {
			case "timeout":
				o.Timeout = d
			case "connect_timeout":
				o.ConnectTimeout = d
			case "repl_timeout":
				o.ReplTimeout = d
			case "repl_backoff":
				o.ReplBackoff = d
			case "repl_max_backoff":
				o.ReplMaxBackoff = d
			case "coalesce_wait":
				o.CoalesceWait = d
			}
		case "sid":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n < 1 || n > uint64(lim.MaxSID) {
				return bad(fmt.Sprintf("a server id from 1 to %d", lim.MaxSID))
			}
			o.SID = uint32(n)
		case "repl_reconnects":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > math.MaxInt32 {
				return bad(fmt.Sprintf("a count from 0 to %d", math.MaxInt32))
			}
			o.ReplReconnects = n
		case "coalesce":
			switch v {
			case "on":
				o.Coalesce = true
			case "off":
				o.Coalesce = false
			default:
				return bad("on or off")
			}
		case "coalesce_max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 2 || n > 10000 {
				return bad("a request count from 2 to 10000")
			}
			o.CoalesceMax = n
		default:
			known := false
			if extra != nil {
				if known, err = extra(name, v); err != nil {
					return err
				}
			}
			if !known {
				all := append(slices.Clone(shared), own...)
				return fmt.Errorf("unknown option %q (known: %s)", given, strings.Join(all, ", "))
			}
		}
	}
	if o.ReplMaxBackoff < o.ReplBackoff {
		// The pause given wins over a default: a cap below the default
		// first pause lowers it, a first pause above the default cap
		// raises that.
		if _, ok := seen["repl_backoff"]; ok {
			o.ReplMaxBackoff = o.ReplBackoff
		} else {
			o.ReplBackoff = o.ReplMaxBackoff
		}
	}
	return nil
}

// ParseDuration reads a duration in Go syntax ("250ms", "1m"); a bare
// number means seconds.
func ParseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}
