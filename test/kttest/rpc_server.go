package kttest

// The server-wide procedures: void, echo, report, and the database
// maintenance ones (status, clear, synchronize, vacuum).

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

func rpcVoid(*rpcCall) rv { return ScriptOK }

func rpcEcho(r *rpcCall) rv {
	for k, v := range r.in {
		r.out[k] = v
	}
	return ScriptOK
}

// kcStatusFields are what KC reports for an in-memory cache database with
// default tuning, apart from count, path and the sizes; they do not depend
// on the contents.
func kcStatusFields(hash bool) map[string]string {
	f := map[string]string{
		"capcnt": "-1", "capsiz": "-1", "chksum": "255", "fmtver": "5", "ktcapcnt": "-1", "ktcapsiz": "-1",
		"ktopts": "0", "librev": "13", "libver": "16", "opts": "0", "recovered": "0", "reorganized": "0",
	}
	if hash {
		f["bnum"], f["realtype"], f["type"] = "1048583", "32", "32"
		return f
	}
	for k, v := range map[string]string{
		"bnum": "65536", "first": "1", "icnt": "0", "last": "1", "lcnt": "1", "pccap": "67108864",
		"pnum": "2", "psiz": "8192", "rcomp": "lexical", "realtype": "33", "root": "1", "type": "33",
	} {
		f[k] = v
	}
	return f
}

// Sizes modelled on KC's in-memory databases: a cache hash DB costs a fixed
// bucket array plus 40 bytes of record header and KT's 5-byte xt per
// record; a cache tree DB reports a fixed size until pages are written out,
// and a cache usage of its single leaf.
const (
	hashBaseSize      = 8390592
	hashRecordExtra   = 40 + 5
	treeBaseSize      = 526693
	treeLeafBase      = 8
	treeRecordExtra   = 8 + 5
	reportThreadCount = 16
)

// dbStatus returns the KC-style status fields of a database.
func (s *Server) dbStatus(idx int) (map[string]string, backend.Status, error) {
	st, err := s.store.Status(s.ctx, dbName(idx))
	if err != nil {
		return nil, st, err
	}
	fields := kcStatusFields(s.dbHash[idx])
	fields["count"], fields["path"] = strconv.FormatInt(st.Count, 10), s.dbNames[idx]
	if s.dbHash[idx] {
		fields["size"] = strconv.FormatInt(hashBaseSize+hashRecordExtra*st.Count+st.Size, 10)
	} else {
		fields["size"] = strconv.Itoa(treeBaseSize)
		fields["cusage"] = strconv.FormatInt(treeLeafBase+treeRecordExtra*st.Count+st.Size, 10)
	}
	return fields, st, nil
}

func rpcStatus(r *rpcCall) rv {
	fields, _, err := r.s.dbStatus(r.db)
	if err != nil {
		return r.failErr(err)
	}
	r.out = fields
	return ScriptOK
}

func rpcReport(r *rpcCall) rv {
	s := r.s
	var totalCount, totalSize int64
	for i := range s.dbNames {
		fields, _, err := s.dbStatus(i)
		if err != nil {
			return r.failErr(err)
		}
		count, _ := strconv.ParseInt(fields["count"], 10, 64)
		size, _ := strconv.ParseInt(fields["size"], 10, 64)
		totalCount += count
		totalSize += size
		r.out["db_"+strconv.Itoa(i)] = fmt.Sprintf("count=%d size=%d path=%s", count, size, s.dbNames[i])
	}
	r.out["db_total_count"] = strconv.FormatInt(totalCount, 10)
	r.out["db_total_size"] = strconv.FormatInt(totalSize, 10)
	c := &s.counters
	for name, v := range map[string]int64{
		"cnt_set": c.set.Load(), "cnt_set_misses": c.setMisses.Load(),
		"cnt_remove": c.remove.Load(), "cnt_remove_misses": c.removeMisses.Load(),
		"cnt_get": c.get.Load(), "cnt_get_misses": c.getMisses.Load(),
		"cnt_script": c.script.Load(), "cnt_misc": c.misc.Load(),
	} {
		r.out[name] = strconv.FormatInt(v, 10)
	}
	r.out["conf_kc_features"] = "(atomic)(zlib)(lzo)(lzma)"
	r.out["conf_kc_version"] = "1.2.76a (16.13)"
	r.out["conf_kt_features"] = "(epoll)(lua)"
	r.out["conf_kt_version"] = "0.9.56b (2.19)"
	r.out["conf_os_name"] = "Linux"
	now := s.now()
	r.out["serv_conn_count"] = strconv.Itoa(s.ConnCount())
	r.out["serv_current_time"] = strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64)
	r.out["serv_proc_id"] = strconv.Itoa(os.Getpid())
	r.out["serv_running_term"] = strconv.FormatFloat(now.Sub(s.started).Seconds(), 'f', 6, 64)
	r.out["serv_task_count"] = "0"
	r.out["serv_thread_count"] = strconv.Itoa(reportThreadCount)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.out["sys_mem_cached"] = "0"
	r.out["sys_mem_free"] = "0"
	r.out["sys_mem_peak"] = strconv.FormatUint(ms.Sys, 10)
	r.out["sys_mem_rss"] = strconv.FormatUint(ms.HeapInuse+ms.StackInuse, 10)
	r.out["sys_mem_size"] = strconv.FormatUint(ms.Sys, 10)
	r.out["sys_mem_total"] = "0"
	r.out["sys_ru_stime"] = "0.000000"
	r.out["sys_ru_utime"] = "0.000000"
	return ScriptOK
}

func rpcClear(r *rpcCall) rv {
	if err := r.s.store.Clear(r.s.ctx, dbName(r.db)); err != nil {
		return r.failErr(err)
	}
	return ScriptOK
}

func rpcSynchronize(r *rpcCall) rv {
	if err := r.s.store.Synchronize(r.s.ctx, dbName(r.db), r.has("hard"), ""); err != nil {
		return r.failErr(err)
	}
	// There is no command directory (-cmd), so every command fails, as on
	// a server started without one.
	if r.has("command") {
		return r.fail(ScriptInternal, msgPostprocess)
	}
	return ScriptOK
}

func rpcVacuum(r *rpcCall) rv {
	if err := r.s.store.Vacuum(r.s.ctx, dbName(r.db), max(0, ktwire.Atoi(r.in["step"]))); err != nil {
		return r.failErr(err)
	}
	return ScriptOK
}
