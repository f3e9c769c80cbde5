package tt

import (
	"context"
	"fmt"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
)

// CallScript calls the Lua function name(key, value) with ext. The first
// argument's key and value are the function's key and value (none: both
// empty); the function takes no more. The single result carries the
// returned string under an empty key. A function that returns nil or false,
// raises an error or does not exist, a name starting with "_", and a server
// without -ext all give succeeded=false: the server does not tell them
// apart.
//
// LockRecord holds the server's mutex for the key around the call and
// LockGlobal holds all of them; they exclude other locked ext calls only,
// not plain commands.
func (b *Backend) CallScript(ctx context.Context, name string, args []backend.Pair, lock backend.LockMode) ([]backend.Pair, bool, error) {
	if name == "" {
		return nil, false, fmt.Errorf("%s: ext: empty function name: %w", b.name, backend.ErrInvalid)
	}
	if len(args) > 1 {
		return nil, false, fmt.Errorf("%s: ext %s: Tokyo Tyrant functions take one key and one value; pass at most one argument, not %d: %w", b.name, name, len(args), backend.ErrInvalid)
	}
	req := &ttwire.Request{Cmd: ttwire.CmdExt, Name: name}
	if len(args) == 1 {
		req.Key, req.Value = args[0].Key, args[0].Value
	}
	opts, ok := extLocks[lock]
	if !ok {
		return nil, false, fmt.Errorf("%s: ext %s: unknown lock mode %d: %w", b.name, name, lock, backend.ErrInvalid)
	}
	req.Opts = opts
	rep, err := b.one(ctx, "ext "+name, false, req)
	if err != nil {
		return nil, false, err
	}
	if !rep.OK() {
		return nil, false, nil
	}
	return []backend.Pair{{Key: []byte{}, Value: rep.Value}}, true, nil
}
