package tt

import (
	"context"
	"fmt"

	"github.com/ktgrpc/ktgrpc/backend"
)

// dbKind is the type of the server's database, as stat's "type" line names
// it.
type dbKind int32

const (
	kindUnknown dbKind = iota
	kindMemHash
	kindMemTree
	kindHash
	kindBTree
	kindFixed
	kindTable
	kindSkeleton
	kindVoid
)

// statTypes maps stat's "type" values to kinds.
var statTypes = map[string]dbKind{
	"on-memory hash": kindMemHash,
	"on-memory tree": kindMemTree,
	"hash":           kindHash,
	"B+ tree":        kindBTree,
	"fixed-length":   kindFixed,
	"table":          kindTable,
	"skeleton":       kindSkeleton,
	"void":           kindVoid,
}

var optionKinds = map[string]dbKind{
	"hash":        kindHash,
	"btree":       kindBTree,
	"table":       kindTable,
	"memory-hash": kindMemHash,
	"memory-tree": kindMemTree,
	"fixed":       kindFixed,
}

func kindFromOption(s string) (dbKind, bool) {
	k, ok := optionKinds[s]
	return k, ok
}

// String is the server's own name for the type.
func (k dbKind) String() string {
	for name, v := range statTypes {
		if v == k {
			return name
		}
	}
	return "unknown"
}

// ordered reports whether fwmkeys returns keys sorted.
func (k dbKind) ordered() bool { return k == kindBTree || k == kindMemTree }

// hasRange reports whether misc "range" can find records without the
// server's shared iterator. A B+ tree's range opens a cursor of its own; an
// on-memory tree's walks the database's single iterator, the one iterinit
// and iternext move, so concurrent calls would disturb each other.
func (k dbKind) hasRange() bool { return k == kindBTree }

// dbKind returns the database type, asking stat once when the URL did not
// name it.
func (b *Backend) dbKind(ctx context.Context) (dbKind, error) {
	if k := dbKind(b.kind.Load()); k != kindUnknown {
		return k, nil
	}
	st, err := b.stat(ctx)
	if err != nil {
		return kindUnknown, err
	}
	return b.learnKind(st)
}

// learnKind records the type named by a stat reply.
func (b *Backend) learnKind(st map[string]string) (dbKind, error) {
	t, ok := st["type"]
	if !ok {
		return kindUnknown, fmt.Errorf("%s: stat has no type line; set kind= in the URL: %w", b.name, backend.ErrFailed)
	}
	k, ok := statTypes[t]
	if !ok {
		return kindUnknown, fmt.Errorf("%s: unknown database type %q; set kind= in the URL: %w", b.name, t, backend.ErrFailed)
	}
	b.kind.CompareAndSwap(int32(kindUnknown), int32(k))
	return k, nil
}
