package kt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/internal/connpool"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// CallScript runs a Lua procedure of the server's -scr file. Kyoto Tycoon
// has no lock around procedures (the backend lacks CapScriptLocks), so a
// lock other than LockNone is refused with ErrUnsupported rather than
// ignored.
//
// Procedures with alphanumeric names go through RPC play_script, because
// only RPC says how a call failed: 450 (the procedure returned RVELOGIC) is
// succeeded=false, 400 (RVEINVALID) ErrInvalid, 500 (RVEINTERNAL)
// ErrFailed, and 501 ErrNotFound for an unknown procedure or ErrUnsupported
// when scripting is off. RPC refuses other names (a Lua function may be
// called my_proc), so those go through the binary play_script, whose only
// failure answer is 0xBF: it is reported as ErrFailed naming the procedure.
// Scripts are never retried: they may have written before failing.
func (b *Backend) CallScript(ctx context.Context, name string, args []backend.Pair, lock backend.LockMode) ([]backend.Pair, bool, error) {
	if name == "" {
		return nil, false, fmt.Errorf("kt play_script: %w: the procedure name must not be empty", backend.ErrInvalid)
	}
	if lock != backend.LockNone {
		return nil, false, backend.Unsupported(b, backend.CapScriptLocks, "CallScript with a lock")
	}
	if isAlnum(name) {
		return b.rpcScript(ctx, name, args)
	}
	return b.binaryScript(ctx, name, args)
}

func isAlnum(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (b *Backend) rpcScript(ctx context.Context, name string, args []backend.Pair) ([]backend.Pair, bool, error) {
	p := params{{Key: []byte("name"), Value: []byte(name)}}
	for _, a := range args {
		p.add("_"+string(a.Key), a.Value)
	}
	rep, err := b.rpc(ctx, "play_script", p, once)
	if err != nil {
		var re *rpcError
		if errors.As(err, &re) && re.status == 501 && strings.Contains(re.msg, "no such scripting procedure") {
			return nil, false, fmt.Errorf("kt play_script: %w: the server has no procedure %q", backend.ErrNotFound, name)
		}
		return nil, false, fmt.Errorf("kt play_script %q: %w", name, err)
	}
	if rep.logic() {
		return nil, false, nil
	}
	var out []backend.Pair
	for _, f := range rep.fields {
		if len(f.Key) > 0 && f.Key[0] == '_' {
			out = append(out, backend.Pair{Key: f.Key[1:], Value: f.Value})
		}
	}
	// The server sorts its lines by encoded name; the binary form, and the
	// procedure's own output map, are ordered by raw key.
	slices.SortFunc(out, func(a, b backend.Pair) int { return bytes.Compare(a.Key, b.Key) })
	return out, true, nil
}

func (b *Backend) binaryScript(ctx context.Context, name string, args []backend.Pair) ([]backend.Pair, bool, error) {
	in := make([]ktwire.Pair, len(args))
	for i, a := range args {
		in[i] = ktwire.Pair{Key: a.Key, Value: a.Value}
	}
	var results []ktwire.Pair
	err := b.roundTrip(ctx, "play_script", once, ktwire.AppendPlayScript(nil, 0, name, in), func(c *conn) error {
		var err error
		results, err = ktwire.ReadPlayScriptReply(c.BR)
		if err == ktwire.ErrServer {
			// The connection stays open after a script failure.
			return &connpool.AppError{Err: fmt.Errorf("kt play_script %q: %w: the procedure failed, does not exist, or scripting is off (the binary protocol gives no detail; names of letters and digits only get a precise answer over RPC)", name, backend.ErrFailed)}
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	out := make([]backend.Pair, len(results))
	for i, r := range results {
		out[i] = backend.Pair{Key: r.Key, Value: r.Value}
	}
	return out, true, nil
}
