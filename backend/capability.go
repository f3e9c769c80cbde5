package backend

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Capability names something a backend may offer beyond the core Backend
// interface: a feature interface (Atomic, Scripter, Tabler, TTAdmin,
// KTAdmin) or an option of a core call that not every backend honours. Backends list theirs in Capabilities; the server checks one
// before using it, through Use or Has, so that every "not on this backend"
// answer names the capability in the same words.
type Capability string

// The capabilities. The strings are part of the API: clients read them from
// Admin.Capabilities and from the metadata of UNIMPLEMENTED statuses.
const (
	// CapAtomic: Replace, Seize and CompareAndSwap, each done atomically
	// (the Atomic interface).
	CapAtomic Capability = "atomic"
	// CapScripts: server-side procedures (the Scripter interface).
	CapScripts Capability = "scripts"
	// CapScriptLocks: CallScript honours LockRecord and LockGlobal. A
	// backend with CapScripts and without this runs every procedure without
	// a lock and refuses the others.
	CapScriptLocks Capability = "script_locks"
	// CapTables: table databases, rows of named columns with queries and
	// indexes (the Tabler interface), on databases of the table kind.
	CapTables Capability = "tables"
	// CapMaintenance: optimising, copying and restoring a database, setting
	// a replication master, and miscellaneous server functions (the
	// TTAdmin interface, named after the server whose calls these are).
	CapMaintenance Capability = "maintenance"
	// CapReplicationAdmin: tuning replication and listing or removing
	// update-log files (the KTAdmin interface, named after the server whose
	// calls these are).
	CapReplicationAdmin Capability = "replication_admin"
	// CapExpiry: records carry an expiration (TTL or time) on writes.
	CapExpiry Capability = "expiry"
	// CapMatchRegex: MatchKeys with a regular expression.
	CapMatchRegex Capability = "match_regex"
	// CapMatchSimilar: MatchKeys by edit distance.
	CapMatchSimilar Capability = "match_similar"
	// CapAppendKeepLast: Append with keepLast > 0.
	CapAppendKeepLast Capability = "append_keep_last"
	// CapIncrementOptions: Increment and IncrementDouble with MustExist or a
	// non-zero Initial.
	CapIncrementOptions Capability = "increment_options"
)

// capabilityText says what each capability is, for messages.
var capabilityText = map[Capability]string{
	CapAtomic:           "atomic replace, seize and compare-and-swap",
	CapScripts:          "server-side scripts",
	CapScriptLocks:      "record and global locks around scripts",
	CapTables:           "table databases",
	CapMaintenance:      "database maintenance: optimize, copy, restore, set master, misc",
	CapReplicationAdmin: "replication administration: tune replication, list and remove update-log files",
	CapExpiry:           "record expiration",
	CapMatchRegex:       "regular-expression key matching",
	CapMatchSimilar:     "similarity key matching",
	CapAppendKeepLast:   "append keeping only the last bytes",
	CapIncrementOptions: "increment with must_exist or an initial value",
}

// AllCapabilities lists every capability, in the order of the constants.
func AllCapabilities() []Capability {
	return []Capability{CapAtomic, CapScripts, CapScriptLocks, CapTables, CapMaintenance, CapReplicationAdmin,
		CapExpiry, CapMatchRegex, CapMatchSimilar, CapAppendKeepLast, CapIncrementOptions}
}

// Describe says in words what c is.
func (c Capability) Describe() string {
	if d, ok := capabilityText[c]; ok {
		return d
	}
	return string(c)
}

// Has reports whether b lists c among its capabilities.
func Has(b Backend, c Capability) bool {
	return slices.Contains(b.Capabilities(), c)
}

// Use returns b as the feature interface T when b lists capability c, and
// otherwise an *UnsupportedError naming call and c. It is the one way the
// gateway reaches an optional feature: a backend that embeds Base satisfies
// every feature interface, so the capability, not the method set, says what
// the backend offers.
func Use[T any](b Backend, c Capability, call string) (T, error) {
	var zero T
	if !Has(b, c) {
		return zero, Unsupported(b, c, call)
	}
	f, ok := b.(T)
	if !ok {
		// A backend that lists c must implement its interface; say so
		// rather than pretend the capability is missing.
		return zero, fmt.Errorf("%s lists capability %q but does not implement %T: %w", b.Name(), c, &zero, ErrFailed)
	}
	return f, nil
}

// UnsupportedError is the error for a call that needs a capability the
// backend does not have. It wraps ErrUnsupported.
type UnsupportedError struct {
	// Backend is the backend's Name.
	Backend string
	// Capability is what the call needs.
	Capability Capability
	// Call names the call, such as "Table.Put" or "Seize".
	Call string
}

// Unsupported returns the *UnsupportedError for call on b.
func Unsupported(b Backend, c Capability, call string) *UnsupportedError {
	return &UnsupportedError{Backend: b.Name(), Capability: c, Call: call}
}

// Error is the one wording of "not on this backend":
//
//	Table.Put needs capability "tables" (table databases), which embedded does not offer
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s needs capability %q (%s), which %s does not offer; Admin.Capabilities lists what it offers",
		e.Call, e.Capability, e.Capability.Describe(), e.Backend)
}

// Unwrap makes the error match ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// Base answers every method of the feature interfaces with an
// *UnsupportedError, and lists no capability. Backends embed it so that a
// method added to a feature interface does not break the backends that do
// not offer the feature; they override what they offer and list it in
// Capabilities. Base does not know the embedding backend's name, so its
// errors say "this backend"; the server never reaches them, since it checks
// the capability with Use first and names the backend itself.
type Base struct{}

func (Base) unsupported(c Capability, call string) error {
	return &UnsupportedError{Backend: "this backend", Capability: c, Call: call}
}

// Capabilities lists nothing.
func (Base) Capabilities() []Capability { return nil }

// Replace answers ErrUnsupported.
func (b Base) Replace(context.Context, string, []byte, []byte, Expiry) (bool, error) {
	return false, b.unsupported(CapAtomic, "Replace")
}

// Seize answers ErrUnsupported.
func (b Base) Seize(context.Context, string, []byte) (Record, bool, error) {
	return Record{}, false, b.unsupported(CapAtomic, "Seize")
}

// CompareAndSwap answers ErrUnsupported.
func (b Base) CompareAndSwap(context.Context, string, []byte, []byte, []byte, Expiry) (bool, error) {
	return false, b.unsupported(CapAtomic, "CompareAndSwap")
}

// CallScript answers ErrUnsupported.
func (b Base) CallScript(context.Context, string, []Pair, LockMode) ([]Pair, bool, error) {
	return nil, false, b.unsupported(CapScripts, "Script.Call")
}

// TablePut answers ErrUnsupported.
func (b Base) TablePut(context.Context, string, []byte, map[string][]byte, PutMode) (bool, error) {
	return false, b.unsupported(CapTables, "Table.Put")
}

// TableGet answers ErrUnsupported.
func (b Base) TableGet(context.Context, string, []byte) (map[string][]byte, bool, error) {
	return nil, false, b.unsupported(CapTables, "Table.Get")
}

// TableSearch answers ErrUnsupported.
func (b Base) TableSearch(context.Context, string, Query) (SearchResult, error) {
	return SearchResult{}, b.unsupported(CapTables, "Table.Search")
}

// TableSetIndex answers ErrUnsupported.
func (b Base) TableSetIndex(context.Context, string, string, IndexType, bool) (bool, error) {
	return false, b.unsupported(CapTables, "Table.SetIndex")
}

// TableGenerateID answers ErrUnsupported.
func (b Base) TableGenerateID(context.Context, string) (int64, error) {
	return 0, b.unsupported(CapTables, "Table.GenerateID")
}

// Optimize answers ErrUnsupported.
func (b Base) Optimize(context.Context, string, string) error {
	return b.unsupported(CapMaintenance, "Optimize")
}

// Copy answers ErrUnsupported.
func (b Base) Copy(context.Context, string, string) error {
	return b.unsupported(CapMaintenance, "Copy")
}

// Restore answers ErrUnsupported.
func (b Base) Restore(context.Context, string, string, uint64, bool) error {
	return b.unsupported(CapMaintenance, "Restore")
}

// SetMaster answers ErrUnsupported.
func (b Base) SetMaster(context.Context, string, int, uint64, bool) error {
	return b.unsupported(CapMaintenance, "SetMaster")
}

// Misc answers ErrUnsupported.
func (b Base) Misc(context.Context, string, string, [][]byte, bool) ([][]byte, bool, error) {
	return nil, false, b.unsupported(CapMaintenance, "Misc")
}

// TuneReplication answers ErrUnsupported.
func (b Base) TuneReplication(context.Context, string, int, uint64, time.Duration) error {
	return b.unsupported(CapReplicationAdmin, "TuneReplication")
}

// ListUpdateLogs answers ErrUnsupported.
func (b Base) ListUpdateLogs(context.Context) ([]UpdateLogFile, error) {
	return nil, b.unsupported(CapReplicationAdmin, "ListUpdateLogs")
}

// RemoveUpdateLogs answers ErrUnsupported.
func (b Base) RemoveUpdateLogs(context.Context, *uint64) error {
	return b.unsupported(CapReplicationAdmin, "RemoveUpdateLogs")
}

var (
	_ Atomic   = Base{}
	_ Scripter = Base{}
	_ Tabler   = Base{}
	_ TTAdmin  = Base{}
	_ KTAdmin  = Base{}
)
