package ktgrpc

import (
	"context"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// Pair is an ordered key/value pair: a script's argument or result.
type Pair struct {
	Key   string
	Value []byte
}

// LockMode is how Tokyo Tyrant locks around a script (ext) call.
type LockMode int

// The lock modes.
const (
	// LockNone takes no lock, the default.
	LockNone LockMode = iota
	// LockRecord locks the record named by the first argument's key.
	LockRecord
	// LockGlobal locks the whole database.
	LockGlobal
)

// CallScript runs the server-side procedure name with args and returns its
// results and whether it succeeded: false is the procedure's own logical
// failure (Kyoto Tycoon's RVELOGIC, a Tokyo Tyrant function that returned
// nothing), with no results, not an error. On Kyoto Tycoon the arguments
// are the procedure's input map; on Tokyo Tyrant the first argument's key
// and value are the function's key and value. It reads WithLock.
func (c *Client) CallScript(ctx context.Context, name string, args []Pair, opts ...Option) ([]Pair, bool, error) {
	s := c.settings(opts)
	req := &ktgrpcv1.CallRequest{Name: name}
	switch s.lock {
	case LockRecord:
		req.Lock = ktgrpcv1.LockMode_LOCK_MODE_RECORD
	case LockGlobal:
		req.Lock = ktgrpcv1.LockMode_LOCK_MODE_GLOBAL
	}
	for _, a := range args {
		req.Args = append(req.Args, &ktgrpcv1.Pair{Key: []byte(a.Key), Value: a.Value})
	}
	resp, err := c.script.Call(ctx, req)
	if err != nil {
		return nil, false, wrapErr("Script.Call", err)
	}
	out := make([]Pair, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = Pair{Key: string(r.GetKey()), Value: r.GetValue()}
	}
	return out, resp.GetSucceeded(), nil
}
