package embedded

import "github.com/ktgrpc/ktgrpc/backend"

// Capabilities lists what the embedded store offers beyond the core. It runs
// no scripts and has no server to administer. Tables work on databases
// declared as tables (dbs=name:table); on others the table calls fail with
// ErrUnsupported naming the database's kind, as on Tokyo Tyrant.
func (s *Store) Capabilities() []backend.Capability {
	return []backend.Capability{
		backend.CapAtomic,
		backend.CapTables,
		backend.CapExpiry,
		backend.CapMatchRegex,
		backend.CapMatchSimilar,
		backend.CapAppendKeepLast,
		backend.CapIncrementOptions,
	}
}
