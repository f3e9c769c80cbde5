package embedded

import "github.com/ktgrpc/ktgrpc/backend"

// Capabilities lists what the embedded store offers beyond the core. It runs
// no scripts and has no server to administer.
func (s *Store) Capabilities() []backend.Capability {
	return []backend.Capability{
		backend.CapAtomic,
		backend.CapExpiry,
		backend.CapMatchRegex,
		backend.CapMatchSimilar,
		backend.CapAppendKeepLast,
		backend.CapIncrementOptions,
	}
}
