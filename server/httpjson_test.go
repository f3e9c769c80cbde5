package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// startHTTP serves srv's HTTP/JSON handler on loopback.
func startHTTP(t *testing.T, srv *server.Server) string {
	t.Helper()
	h, err := srv.HTTPHandler()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

// post sends body to path with token (none when empty) and returns the
// status and the decoded JSON answer.
func post(t *testing.T, ctx context.Context, base, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: answer %q is not one JSON object: %v", path, raw, err)
	}
	return resp.StatusCode, out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// A record written over HTTP reads back over HTTP and over gRPC, and a
// missing one says found=false outright.
func TestHTTPJSONUnaryRoundTrip(t *testing.T) {
	srv, conn := gatewaytest.StartServer(t, newStore(t), quiet)
	base := startHTTP(t, srv)
	ctx := t.Context()

	code, out := post(t, ctx, base, "/v1/kv/set", "", `{"key":"`+b64("greeting")+`","value":"`+b64("hello")+`"}`)
	if code != http.StatusOK || len(out) != 0 {
		t.Fatalf("set: %d %v", code, out)
	}
	code, out = post(t, ctx, base, "/v1/kv/get", "", `{"key":"`+b64("greeting")+`"}`)
	if code != http.StatusOK || out["found"] != true || out["value"] != b64("hello") {
		t.Fatalf("get: %d %v", code, out)
	}
	got, err := ktgrpcv1.NewKVClient(conn).Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("greeting")})
	if err != nil || string(got.GetValue()) != "hello" {
		t.Fatalf("gRPC get of the record set over HTTP: %v, %v", got, err)
	}
	code, out = post(t, ctx, base, "/v1/kv/get", "", `{"key":"`+b64("absent")+`"}`)
	if code != http.StatusOK || out["found"] != false {
		t.Fatalf("get of a missing key: %d %v", code, out)
	}
	code, out = post(t, ctx, base, "/v1/kv/increment", "", `{"key":"`+b64("n")+`","delta":"5"}`)
	if code != http.StatusOK || out["value"] != "5" {
		t.Fatalf("increment: %d %v", code, out)
	}
}

// Errors answer with the HTTP status of their gRPC code and the gRPC status
// in the body; a bad JSON body is the caller's mistake too.
func TestHTTPJSONErrors(t *testing.T) {
	srv, _ := gatewaytest.StartServer(t, newStore(t), quiet)
	base := startHTTP(t, srv)
	for _, tc := range []struct {
		path, body string
		status     int
		code       float64
		msg        string
	}{
		{"/v1/kv/get", `{}`, http.StatusBadRequest, 3, "key"},
		{"/v1/kv/get", `{"key":`, http.StatusBadRequest, 3, ""},
		{"/v1/kv/get", `{"nosuchfield":1}`, http.StatusBadRequest, 3, "nosuchfield"},
		{"/v1/kv/get", `{"key":"a2V5","db":"nosuchdb"}`, http.StatusBadRequest, 3, "nosuchdb"},
		{"/v1/script/call", `{"name":"x"}`, http.StatusNotImplemented, 12, ""},
	} {
		code, out := post(t, t.Context(), base, tc.path, "", tc.body)
		msg, _ := out["message"].(string)
		if code != tc.status || out["code"] != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("POST %s %s: %d %v; want HTTP %d, gRPC code %v, message naming %q", tc.path, tc.body, code, out, tc.status, tc.code, tc.msg)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/kv/nosuchcall", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", resp.StatusCode)
	}
}

// An HTTP caller's bearer token meets the same checks as a gRPC caller's.
func TestHTTPJSONAuthentication(t *testing.T) {
	srv, _ := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Access: tokenTable(t)})
	base := startHTTP(t, srv)
	set := `{"key":"` + b64("k") + `","value":"` + b64("v") + `"}`
	for _, tc := range []struct {
		token  string
		status int
		code   float64
		msg    string
	}{
		{"", http.StatusUnauthorized, 16, "no credential"},
		{"bogus", http.StatusUnauthorized, 16, "unknown bearer token"},
		{"read-token", http.StatusForbidden, 7, `caller "read" lacks the write right`},
		{"write-token", http.StatusOK, 0, ""},
	} {
		code, out := post(t, t.Context(), base, "/v1/kv/set", tc.token, set)
		msg, _ := out["message"].(string)
		if code != tc.status || (tc.code != 0 && out["code"] != tc.code) || !strings.Contains(msg, tc.msg) {
			t.Errorf("token %q: %d %v; want HTTP %d, gRPC code %v, message naming %q", tc.token, code, out, tc.status, tc.code, tc.msg)
		}
	}
}

// Every RPC but the bidirectional ones (Cursor.Open, KV.Pipeline) has a route: a call without a
// token reaches the gRPC server, whose authentication refuses it, instead of
// the router's 404.
func TestHTTPJSONEveryMethodRouted(t *testing.T) {
	srv, _ := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Access: tokenTable(t)})
	base := startHTTP(t, srv)
	for _, m := range ktgrpcMethods() {
		if m.stream != nil && m.stream.ClientStreams {
			continue
		}
		svc, name, _ := strings.Cut(strings.TrimPrefix(m.full, "/ktgrpc.v1."), "/")
		path := "/v1/" + strings.ToLower(svc) + "/" + kebab(name)
		var code int
		var out map[string]any
		if m.stream != nil {
			resp, sc := streamLines(t, t.Context(), base, path, "{}")
			code = resp.StatusCode
			out = nextLine(t, sc).Error
		} else {
			code, out = post(t, t.Context(), base, path, "", "{}")
		}
		if code != http.StatusUnauthorized && (m.stream == nil || code != http.StatusOK) || out["code"] != float64(16) {
			t.Errorf("%s (%s): HTTP %d %v, want the gRPC server's UNAUTHENTICATED", path, m.full, code, out)
		}
	}
}

// kebab spells a method name as its route does: GetBulk is get-bulk,
// GenerateID generate-id.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && !(s[i-1] >= 'A' && s[i-1] <= 'Z') {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// streamLines posts body to path and returns a reader of the answer's lines.
func streamLines(t *testing.T, ctx context.Context, base, path, body string) (*http.Response, *bufio.Scanner) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewScanner(resp.Body)
}

// streamed is one line of a server stream: a result or the error that ended
// it.
type streamed struct {
	Result map[string]any `json:"result"`
	Error  map[string]any `json:"error"`
}

func nextLine(t *testing.T, sc *bufio.Scanner) streamed {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("stream ended early: %v", sc.Err())
	}
	var s streamed
	if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
		t.Fatalf("line %q: %v", sc.Text(), err)
	}
	return s
}

// Scan streams one JSON object per batch, in key order; an error ends the
// stream with the gRPC status in its last line.
func TestHTTPJSONScanStreams(t *testing.T) {
	srv, conn := gatewaytest.StartServer(t, newStore(t), quiet)
	base := startHTTP(t, srv)
	kv := ktgrpcv1.NewKVClient(conn)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte(k), Value: []byte("v" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	resp, sc := streamLines(t, t.Context(), base, "/v1/cursor/scan", `{"batch_size":2}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scan: HTTP %d", resp.StatusCode)
	}
	var keys []string
	for sc.Scan() {
		var s struct {
			Result struct {
				Records []struct{ Key, Value string } `json:"records"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if n := len(s.Result.Records); n == 0 || n > 2 {
			t.Fatalf("batch of %d records in line %q, want 1 or 2", n, sc.Text())
		}
		for _, r := range s.Result.Records {
			k, _ := base64.StdEncoding.DecodeString(r.Key)
			keys = append(keys, string(k))
		}
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("scanned keys %v, want a,b,c", keys)
	}

	_, sc = streamLines(t, t.Context(), base, "/v1/cursor/scan", `{"limit":-1}`)
	if s := nextLine(t, sc); s.Error == nil || s.Error["code"] != float64(3) {
		t.Fatalf("scan with a negative limit: %+v, want an error line with code 3", s)
	}
}

// Subscribe follows new changes line by line until the gateway stops, which
// ends the HTTP answer too.
func TestHTTPJSONSubscribeFollowsAndEndsOnStop(t *testing.T) {
	srv, conn := gatewaytest.StartServer(t, newStore(t), quiet)
	base := startHTTP(t, srv)
	kv := ktgrpcv1.NewKVClient(conn)
	if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("before"), Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	_, sc := streamLines(t, t.Context(), base, "/v1/replication/subscribe", `{"after":"0"}`)
	first := nextLine(t, sc)
	ev, _ := first.Result["event"].(map[string]any)
	if ev == nil || ev["key"] != b64("before") {
		t.Fatalf("first line %+v, want the replayed set of \"before\"", first)
	}
	// After the replay a progress line follows; then the live change.
	for {
		s := nextLine(t, sc)
		if s.Result["progress"] != nil {
			break
		}
	}
	if _, err := kv.Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("after"), Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	for {
		s := nextLine(t, sc)
		if ev, _ := s.Result["event"].(map[string]any); ev != nil {
			if ev["key"] != b64("after") || ev["operation"] != "OPERATION_SET" {
				t.Fatalf("live event %+v, want the set of \"after\"", ev)
			}
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop with an HTTP subscriber: %v", err)
	}
	for sc.Scan() {
		var s streamed
		if err := json.Unmarshal(sc.Bytes(), &s); err == nil && s.Error != nil {
			if s.Error["code"] != float64(14) {
				t.Errorf("the stream ended with %v, want UNAVAILABLE", s.Error)
			}
		}
	}
	if _, err := srv.HTTPHandler(); err == nil {
		t.Error("HTTPHandler after Stop: no error")
	}
}

// A body larger than a message may be is refused before it is read whole,
// with a status that says so.
func TestHTTPJSONBodyLimit(t *testing.T) {
	srv, _ := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, MaxMessageSize: 3000, MaxValueSize: 1000, MaxKeySize: 100})
	base := startHTTP(t, srv)
	big := strings.Repeat("A", 20000)
	code, out := post(t, t.Context(), base, "/v1/kv/set", "", `{"key":"aw==","value":"`+big+`"}`)
	msg, _ := out["message"].(string)
	if code != http.StatusBadRequest || out["code"] != float64(3) || !strings.Contains(msg, "too large") {
		t.Errorf("oversized body: %d %v; want 400 INVALID_ARGUMENT saying it is too large", code, out)
	}
	// Within the limit but above --max-value-size: the service's own check.
	code, out = post(t, t.Context(), base, "/v1/kv/set", "", `{"key":"aw==","value":"`+strings.Repeat("A", 2000)+`"}`)
	if code != http.StatusBadRequest || out["code"] != float64(3) {
		t.Errorf("value above the value limit: %d %v; want 400 INVALID_ARGUMENT", code, out)
	}
}

// HTTP callers share one in-process connection, so a per-connection stream
// limit must not make one caller's stream refuse another's.
func TestHTTPJSONStreamsNotLimitedPerConnection(t *testing.T) {
	srv, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Limits: server.Limits{MaxStreamsPerConnection: 1}})
	base := startHTTP(t, srv)
	if _, err := ktgrpcv1.NewKVClient(conn).Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, sc := streamLines(t, t.Context(), base, "/v1/replication/subscribe", `{"after":"0"}`)
		if s := nextLine(t, sc); s.Result["event"] == nil {
			t.Fatalf("subscription %d while %d are open: %+v, want the replayed event", i+1, i, s)
		}
	}
}
