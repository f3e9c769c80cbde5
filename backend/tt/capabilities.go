package tt

import "github.com/ktgrpc/ktgrpc/backend"

// Capabilities lists what Tokyo Tyrant offers beyond the core. Records do
// not expire, keys match only by prefix, increments always start missing
// records at 0, and there is no atomic read-modify-write (see the package
// doc). Tables work on a server whose database is a table; on others the
// table calls fail with ErrUnsupported naming the database's kind.
func (b *Backend) Capabilities() []backend.Capability {
	return []backend.Capability{
		backend.CapScripts,
		backend.CapScriptLocks,
		backend.CapTables,
		backend.CapMaintenance,
		backend.CapAppendKeepLast,
	}
}
