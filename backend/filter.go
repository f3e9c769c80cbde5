package backend

import (
	"bytes"
	"slices"
)

// Match reports whether f lets e through. Events without a key pass the key
// prefix test, so that a CLEAR reaches every consumer that watches its
// database.
func (f Filter) Match(e *Event) bool {
	if len(f.DBs) > 0 && !slices.Contains(f.DBs, e.DB) {
		return false
	}
	if len(f.Ops) > 0 && !slices.Contains(f.Ops, e.Op) {
		return false
	}
	if len(f.KeyPrefix) > 0 && e.Key != nil && !bytes.HasPrefix(e.Key, f.KeyPrefix) {
		return false
	}
	if f.Key != nil && e.Key != nil && !bytes.Equal(e.Key, f.Key) {
		return false
	}
	if f.NotOrigin != 0 && e.OriginSID == f.NotOrigin {
		return false
	}
	return true
}
