package tttest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/internal/ttstore"
)

// extLockCount is the number of record mutexes ext's lock options pick
// from, as in TT.
const extLockCount = 31

// Lock options of ext.
const (
	extLockRecord = 1
	extLockGlobal = 2
)

// ulogDir is the update-log directory of the golden configurations, the
// only directory restore can read.
const ulogDir = "ulog"

// builtinExts are the functions of the golden configurations' Lua script.
func (s *Server) builtinExts() map[string]ExtFunc {
	return map[string]ExtFunc{
		"echo": func(key, value []byte) ([]byte, bool) {
			return append(append([]byte{}, key...), value...), true
		},
		"fail": func(key, value []byte) ([]byte, bool) { return nil, false },
		"put": func(key, value []byte) ([]byte, bool) {
			ok, err := s.db.Put(s.ctx, ttstore.PutOver, key, value, 0)
			if err != nil || !ok {
				return nil, false
			}
			return []byte("ok"), true
		},
		"get": func(key, value []byte) ([]byte, bool) {
			v, found, err := s.db.Get(s.ctx, key)
			if err != nil || !found {
				return nil, false
			}
			return v, true
		},
	}
}

// callExt runs an ext function under the requested lock. Names starting
// with "_" are refused, as are all names when the server has no extension
// functions.
func (s *Server) callExt(name string, opts uint32, key, value []byte) ([]byte, bool) {
	if !s.cfg.ext || name == "" || name[0] == '_' {
		return nil, false
	}
	fn, ok := s.exts[name]
	if !ok {
		return nil, false
	}
	switch {
	case opts&extLockGlobal != 0:
		for i := range s.extLocks {
			s.extLocks[i].Lock()
		}
		defer func() {
			for i := range s.extLocks {
				s.extLocks[i].Unlock()
			}
		}()
	case opts&extLockRecord != 0:
		h := fnv.New32a()
		h.Write(key)
		m := &s.extLocks[h.Sum32()%extLockCount]
		m.Lock()
		defer m.Unlock()
	}
	return fn(key, value)
}

// path resolves a path sent by a client against the server's directory.
func (s *Server) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}

// copyTo writes a backup: every record as a TT put request, in key order.
// A path starting with "@" would run a command on a real server; it is
// refused here.
func (s *Server) copyTo(p string) error {
	if p == "" || strings.HasPrefix(p, "@") {
		return fmt.Errorf("tttest: copy to %q: commands are not run", p)
	}
	keys, err := s.db.FwmKeys(s.ctx, nil, -1)
	if err != nil {
		return err
	}
	var dump []byte
	if len(keys) > 0 {
		pairs, ok, err := s.db.Misc(s.ctx, "getlist", keys, true)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("tttest: copy: reading the records failed")
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			if dump, err = ttwire.AppendRequest(dump, &ttwire.Request{Cmd: ttwire.CmdPut, Key: pairs[i], Value: pairs[i+1]}); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(s.path(p), dump, 0o644)
}

// restoreFrom replays the server's own update log from ts (inclusive): the
// records there when it starts, each logged again with its origin. Other
// directories cannot be read. With check, it stops with an error at the
// first record whose outcome differs from the logged one.
func (s *Server) restoreFrom(p string, ts uint64, check bool) error {
	if !s.cfg.ulog || s.cfg.sid == 0 || filepath.Clean(s.path(p)) != filepath.Join(s.dir, ulogDir) {
		return fmt.Errorf("tttest: restore from %q: no update log there", p)
	}
	end := s.db.LogSeq()
	var after uint64
	for after < end {
		recs, err := s.db.ReadLog(s.ctx, after, replBatch)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Seq > end {
				return nil
			}
			after = r.Seq
			if r.TS < ts {
				continue
			}
			consistent, err := s.db.Redo(s.ctx, r, r.MasterSID)
			if err != nil {
				return err
			}
			if check && !consistent {
				return fmt.Errorf("tttest: restore: record %d is inconsistent", r.Seq)
			}
		}
	}
	return nil
}

// setMaster records the replication master set by setmst.
func (s *Server) setMaster(host string, port int, ts uint64) {
	s.master.Lock()
	defer s.master.Unlock()
	s.master.host, s.master.port = host, port
	if ts > 0 {
		s.master.ts = ts
	}
}

// statText builds stat's TSV text; a masked stat has only the counters.
func (s *Server) statText(masked bool) ([]byte, error) {
	var b strings.Builder
	line := func(name, value string) {
		b.WriteString(name)
		b.WriteByte('\t')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	if !masked {
		rnum, err := s.db.RNum(s.ctx)
		if err != nil {
			return nil, err
		}
		size, err := s.db.Size(s.ctx)
		if err != nil {
			return nil, err
		}
		now := s.clock.Now()
		line("version", "1.1.41")
		line("libver", "324")
		line("protver", "0.91")
		line("os", "Linux")
		line("time", strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64))
		line("pid", strconv.Itoa(os.Getpid()))
		line("sid", strconv.FormatUint(uint64(s.cfg.sid), 10))
		line("type", s.cfg.typ.String())
		line("path", s.cfg.path)
		line("rnum", strconv.FormatInt(rnum, 10))
		line("size", strconv.FormatInt(size, 10))
		line("bigend", "0")
		s.master.Lock()
		if s.master.host != "" {
			line("mhost", s.master.host)
			line("mport", strconv.Itoa(s.master.port))
			line("rts", strconv.FormatUint(s.master.ts, 10))
			delay := 0.0
			if s.master.ts > 0 {
				delay = float64(now.UnixMicro()-int64(s.master.ts)) / 1e6
			}
			line("delay", strconv.FormatFloat(delay, 'f', 6, 64))
		}
		s.master.Unlock()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		line("fd", strconv.Itoa(s.ConnCount()))
		line("loadavg", "0.000000")
		line("memsize", strconv.FormatUint(ms.Sys, 10))
		line("memrss", strconv.FormatUint(ms.HeapInuse, 10))
		line("ru_user", "0.000000")
		line("ru_sys", "0.000000")
		line("ru_real", strconv.FormatFloat(now.Sub(s.start).Seconds(), 'f', 6, 64))
	}
	for i, name := range counterNames {
		line("cnt_"+name, strconv.FormatInt(s.counts[i].Load(), 10))
	}
	return []byte(b.String()), nil
}
