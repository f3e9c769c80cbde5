package kttest

// The scripting procedure play_script.

import (
	"strings"
)

func rpcPlayScript(r *rpcCall) rv {
	name, ok := r.in["name"]
	if !ok || name == "" || strings.IndexFunc(name, notAlnum) >= 0 {
		return r.fail(ScriptInvalid, msgInvalid)
	}
	args := map[string]string{}
	for _, k := range r.underscored() {
		args[k] = r.in["_"+k]
	}
	out, status, err := r.s.runScript(name, args)
	if err != nil {
		return r.fail(ScriptNotImplemented, err.Error())
	}
	if status != ScriptOK {
		return r.fail(status, msgScriptFailed)
	}
	for k, v := range out {
		r.out["_"+k] = v
	}
	return ScriptOK
}

// notAlnum reports whether c is outside A-Z, a-z and 0-9: procedure names
// are made of those only.
func notAlnum(c rune) bool {
	return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
}
