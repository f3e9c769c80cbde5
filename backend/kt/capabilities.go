package kt

import "github.com/ktgrpc/ktgrpc/backend"

// Capabilities lists what Kyoto Tycoon offers beyond the core. It has no
// tables and no Tokyo Tyrant maintenance calls, runs procedures without
// locks, and cannot keep only the last bytes of an appended value.
func (b *Backend) Capabilities() []backend.Capability {
	return []backend.Capability{
		backend.CapAtomic,
		backend.CapScripts,
		backend.CapReplicationAdmin,
		backend.CapExpiry,
		backend.CapMatchRegex,
		backend.CapMatchSimilar,
		backend.CapIncrementOptions,
	}
}
