package kttest

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/backend/kt/ktwire"
)

// serveREST answers the RESTful key interface: GET, HEAD, PUT and DELETE on
// /key or /db/key.
func (c *conn) serveREST(req *ktwire.Request) *httpResponse {
	s := c.srv
	switch req.Method {
	case "GET", "HEAD", "PUT", "DELETE":
	default:
		return &httpResponse{code: 501}
	}
	path := strings.TrimPrefix(req.Path, "/")
	db := 0
	if sel, rest, ok := strings.Cut(path, "/"); ok {
		idx, found := s.dbSelector(urlDecode(sel))
		if !found {
			return &httpResponse{code: 400, body: []byte(msgNoDB + "\n")}
		}
		db, path = idx, rest
	}
	key := []byte(urlDecode(path))
	name := dbName(db)
	resp := &httpResponse{headers: map[string]string{}}
	fail := func(code int, msg string) *httpResponse {
		resp.code = code
		resp.headers["x-kt-error"] = msg
		return resp
	}
	switch req.Method {
	case "GET", "HEAD":
		rec, found, err := s.store.Get(s.ctx, name, key)
		if err != nil {
			return fail(500, "DB: 15: miscellaneous error: "+err.Error())
		}
		tally(&s.counters.get, &s.counters.getMisses, found)
		if req.Method == "HEAD" {
			resp.headers["content-length"] = strconv.Itoa(len(rec.Value))
		}
		if !found {
			return fail(404, msgNoRecord)
		}
		resp.code, resp.body = 200, rec.Value
		if xt := xtOf(rec.ExpireTime); xt < xtMax {
			resp.headers["x-kt-xt"] = time.Unix(xt, 0).UTC().Format(ktwire.HTTPTime)
		}
		return resp
	case "PUT":
		exp := backend.Expiry{}
		if h, ok := req.Header["x-kt-xt"]; ok {
			// REST reads X-Kt-Xt as an absolute time only.
			if xt := parseKTTime(h, s.now()); xt > 0 && xt < xtMax {
				exp = s.expiryOf(-xt)
			}
		}
		var applied bool
		var err error
		switch mode := strings.ToLower(strings.TrimSpace(req.Header["x-kt-mode"])); mode {
		case "add":
			applied, err = s.store.Add(s.ctx, name, key, req.Body, exp)
			if err == nil && !applied {
				return fail(450, msgDuplicate)
			}
		case "replace":
			applied, err = s.store.Replace(s.ctx, name, key, req.Body, exp)
			if err == nil && !applied {
				return fail(450, msgNoRecord)
			}
		default:
			err = s.store.Set(s.ctx, name, key, req.Body, exp, backend.WriteOptions{})
		}
		if err != nil {
			return fail(500, "DB: 15: miscellaneous error: "+err.Error())
		}
		s.counters.set.Add(1)
		resp.code = 201
		resp.headers["location"] = "http://" + s.locationHost() + req.Target
		return resp
	default: // DELETE
		removed, err := s.store.Remove(s.ctx, name, key)
		if err != nil {
			return fail(500, "DB: 15: miscellaneous error: "+err.Error())
		}
		tally(&s.counters.remove, &s.counters.removeMisses, removed)
		if !removed {
			return fail(404, msgNoRecord)
		}
		resp.code = 204
		return resp
	}
}

// locationHost is the host part of a REST Location header: localhost and
// the port unless it is 80, as the recorded KT build writes it.
func (s *Server) locationHost() string {
	_, port, _ := net.SplitHostPort(s.Addr())
	if port == "80" {
		return "localhost"
	}
	return "localhost:" + port
}

// parseKTTime reads a time the way KT's strmktime does: decimal epoch
// seconds, 0x-prefixed hex, a decimal with a unit suffix (s, m, h, d; a
// duration, which REST still takes as an absolute time), W3CDTF,
// "YYYY/MM/DD hh:mm:ss" or an RFC 822/1123 date. It returns 0 when the text
// is not understood.
func parseKTTime(s string, now time.Time) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		n, err := strconv.ParseInt(s[2:], 16, 64)
		if err != nil {
			return 0
		}
		return n
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if last := s[len(s)-1]; len(s) > 1 && strings.IndexByte("smhdSMHD", last) >= 0 {
		if n, err := strconv.ParseFloat(s[:len(s)-1], 64); err == nil {
			unit := 1.0
			switch last | 0x20 {
			case 'm':
				unit = 60
			case 'h':
				unit = 3600
			case 'd':
				unit = 86400
			}
			return int64(n * unit)
		}
	}
	for _, layout := range []string{
		time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006/01/02 15:04:05", "2006/01/02",
		time.RFC1123Z, time.RFC1123, time.RFC822Z, time.RFC822, "Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST",
	} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t.Unix()
		}
	}
	return 0
}
