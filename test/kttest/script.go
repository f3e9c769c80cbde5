package kttest

import (
	"context"
	"errors"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/embedded"
)

// ScriptStatus is what a procedure returns; the values are KT's RPC return
// codes, which the server maps to HTTP statuses (or to 0xBF in the binary
// protocol).
type ScriptStatus int

// The script statuses, in KT's numbering.
const (
	// ScriptOK is success (HTTP 200).
	ScriptOK ScriptStatus = iota
	// ScriptNotImplemented answers 501.
	ScriptNotImplemented
	// ScriptInvalid answers 400.
	ScriptInvalid
	// ScriptLogic is a logical failure, 450.
	ScriptLogic
	// ScriptTimeout answers 503.
	ScriptTimeout
	// ScriptInternal answers 500.
	ScriptInternal
)

// Script is a server-side procedure, the stand-in for a Lua function of
// ktserver's -scr file. It gets the input pairs (keys and values are byte
// strings) and the store, and returns output pairs and a status; the
// server drops the outputs of a failure, as KT does.
type Script func(ctx context.Context, store *embedded.Store, in map[string]string) (out map[string]string, status ScriptStatus)

var (
	errScriptingDisabled = errors.New("the scripting extention is disabled")
	errNoSuchProcedure   = errors.New("no such scripting procedure")
)

// runScript calls the named procedure. The error says the procedure could
// not be called at all.
func (s *Server) runScript(name string, in map[string]string) (map[string]string, ScriptStatus, error) {
	if s.scripts == nil {
		return nil, ScriptNotImplemented, errScriptingDisabled
	}
	fn, ok := s.scripts[name]
	if !ok {
		return nil, ScriptNotImplemented, errNoSuchProcedure
	}
	s.counters.script.Add(1)
	out, status := fn(s.ctx, s.store, in)
	if status != ScriptOK {
		return nil, status, nil
	}
	if out == nil {
		out = map[string]string{}
	}
	return out, ScriptOK, nil
}

// defaultScripts are the procedures of the golden recordings' Lua file.
func defaultScripts() map[string]Script {
	return map[string]Script{
		"echo": func(_ context.Context, _ *embedded.Store, in map[string]string) (map[string]string, ScriptStatus) {
			out := make(map[string]string, len(in))
			for k, v := range in {
				out[k] = v
			}
			return out, ScriptOK
		},
		"fail": func(context.Context, *embedded.Store, map[string]string) (map[string]string, ScriptStatus) {
			return map[string]string{"why": "requested failure"}, ScriptLogic
		},
		"invalid": func(context.Context, *embedded.Store, map[string]string) (map[string]string, ScriptStatus) {
			return nil, ScriptInvalid
		},
		"internal": func(context.Context, *embedded.Store, map[string]string) (map[string]string, ScriptStatus) {
			return nil, ScriptInternal
		},
		"put": func(ctx context.Context, store *embedded.Store, in map[string]string) (map[string]string, ScriptStatus) {
			key, okKey := in["key"]
			value, okValue := in["value"]
			if !okKey || !okValue {
				return nil, ScriptInvalid
			}
			if err := store.Set(ctx, "0", []byte(key), []byte(value), backend.Expiry{}, backend.WriteOptions{}); err != nil {
				return nil, ScriptInternal
			}
			return nil, ScriptOK
		},
	}
}
