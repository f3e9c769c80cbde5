package kttest

// The update-log and replication procedures: tune_replication, ulog_list
// and ulog_remove.

import (
	"fmt"
	"math"
	"strconv"
)

func rpcTuneReplication(r *rpcCall) rv {
	if !r.s.rts {
		return r.fail(ScriptNotImplemented, msgNoRTS)
	}
	// There is no master to follow; the settings are accepted and ignored.
	return ScriptOK
}

func rpcUlogList(r *rpcCall) rv {
	if !r.s.ulog {
		return r.fail(ScriptInvalid, msgNoUpdateLog)
	}
	files, err := r.s.ulogFiles()
	if err != nil {
		return r.failErr(err)
	}
	for _, f := range files {
		r.out[f.path()] = fmt.Sprintf("%d:%d", f.size, f.maxTS)
	}
	return ScriptOK
}

func rpcUlogRemove(r *rpcCall) rv {
	if !r.s.ulog {
		return r.fail(ScriptInvalid, msgNoUpdateLog)
	}
	// Absent means every file; "now" the log's clock; text that is no
	// number reads as 0, as KT's atoi does.
	ts := uint64(math.MaxUint64)
	switch v, ok := r.in["ts"]; {
	case !ok:
	case v == "now":
		ts = pureClock(r.s.now())
	default:
		ts, _ = strconv.ParseUint(v, 10, 64)
	}
	if err := r.s.removeUlogs(ts); err != nil {
		return r.failErr(err)
	}
	return ScriptOK
}
