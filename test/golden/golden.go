// Package golden reads the golden captures: byte-exact request/reply
// exchanges recorded from a real Kyoto Tycoon 0.9.56b and a real Tokyo
// Tyrant 1.1.41. Each line of kt-*.jsonl and tt-*.jsonl is one Case: a
// named server configuration started fresh, then every exchange made
// against it. Tests replay them against the protocol test servers, feed
// them to the wire encoders and decoders and script the adapters with them,
// so that all of these are checked against what the real servers did
// without running either server.
//
// The captures are not part of the module. A generator kept outside the
// repository recorded them once (twice, to find the bytes that vary), and
// they live in shared/golden beside the repository, that is
// <repository root>/../shared/golden, next to a README.md that describes the
// servers, their configurations, the record format and how to replay a
// case; the types here follow that format field by field. To use captures
// kept elsewhere, set KTGRPC_GOLDEN_DIR to their directory (the older
// KT_GOLDEN_DIR is read too); a variable that names no directory fails
// the test. Without either variable and without ../shared/golden, tests
// that need the captures skip, except when the CI variable is set: then
// they fail, because CI must never pass without the byte-exact checks.
//
// The package is for tests only: import it from _test.go files and from
// the test helpers under test/, never from the gateway's own code.
package golden

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// DirEnv names the environment variable that points at the directory of
// the captures, overriding the search beside the repository.
const DirEnv = "KTGRPC_GOLDEN_DIR"

// legacyDirEnv is the variable the KT wire tests read before DirEnv
// existed; it still works when DirEnv is unset.
const legacyDirEnv = "KT_GOLDEN_DIR"

// Case is one recorded case: one line of a .jsonl file.
type Case struct {
	// Name is unique across all files, e.g. "kt-bin/set_bulk/one-record".
	Name string `json:"name"`
	// Server is "kt" or "tt".
	Server string `json:"server"`
	// Config names the server configuration (README, "Server
	// configurations"), e.g. "kt-main" or "tt-table".
	Config string `json:"config"`
	// DBConfig and InitialState describe the databases and their (always
	// fresh) state in words.
	DBConfig     string `json:"db_config"`
	InitialState string `json:"initial_state"`
	Description  string `json:"description"`
	// Steps run in order.
	Steps []Step `json:"steps"`
}

// Step is one step of a case: a binary exchange, an HTTP exchange or an
// action. Action steps have Action set and use only Seconds or Conn.
type Step struct {
	// Action is "" for an exchange, "sleep" (wait Seconds) or "close"
	// (the client closes connection Conn).
	Action  string  `json:"action"`
	Seconds float64 `json:"seconds"`
	// Conn names a TCP connection within the case; its first use opens it.
	Conn int `json:"conn"`
	// SendHex holds the exact bytes to write, as recorded; it may be empty
	// (the step only reads).
	SendHex string `json:"send_hex"`
	// Patch rewrites parts of SendHex from earlier captures before sending.
	Patch []Patch `json:"patch"`
	// HalfClose shuts down the client's sending side after sending.
	HalfClose bool `json:"half_close"`
	// ExpectHex holds the exact bytes of a binary reply ("" = none).
	ExpectHex string `json:"expect_hex"`
	// Mask lists [offset, length] ranges of ExpectHex that vary from run
	// to run and are not compared.
	Mask [][2]int `json:"mask"`
	// Capture remembers parts of the reply for later patches.
	Capture []Capture `json:"capture"`
	// TextRegex is set when the reply ends in a variable-length text.
	TextRegex *TextRegex `json:"text_regex"`
	// NoReply means the server sends nothing for SilenceS seconds.
	NoReply  bool    `json:"no_reply"`
	SilenceS float64 `json:"silence_s"`
	// Closes reports whether the server closes the connection after this
	// step's reply (or with no reply).
	Closes bool `json:"closes"`
	// MoreFollows means another reply is already on its way on this
	// connection, so silence is not checked.
	MoreFollows bool   `json:"more_follows"`
	Note        string `json:"note"`
	// Request is a readable copy of an HTTP request; SendHex stays the
	// authority on the bytes.
	Request *Request `json:"request"`
	// Response is the recorded HTTP response, nil on binary steps and on
	// HTTP steps where the server closed without answering.
	Response *Response `json:"response"`
	// HTTP is true on HTTP steps: those with a request or a response in
	// the record, even a null one. A step that reads the second response
	// of a pipelined write has a response but no request.
	HTTP bool `json:"-"`
}

// Patch replaces SendHex[Offset:Offset+Len] (in bytes) with the big-endian
// value of capture Var plus Add, Len bytes wide.
type Patch struct {
	Offset int    `json:"offset"`
	Len    int    `json:"len"`
	Var    string `json:"var"`
	Add    int64  `json:"add"`
}

// Capture remembers the received bytes [Offset, Offset+Len) as the
// big-endian number Name.
type Capture struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Len    int    `json:"len"`
}

// TextRegex describes a reply with a variable-length text tail: the 4
// bytes before Offset hold its length (big-endian) and the text from
// Offset on must fully match Regex (RE2, anchored).
type TextRegex struct {
	Offset int    `json:"offset"`
	Regex  string `json:"regex"`
}

// Request is the readable copy of a recorded HTTP request.
type Request struct {
	Method  string `json:"method"`
	Target  string `json:"target"`
	Version string `json:"version"`
	// Headers are [name, value] pairs as sent, in order.
	Headers [][2]string `json:"headers"`
	// At most one of BodyText (printable ASCII) and BodyHex is set.
	BodyText *string `json:"body_text"`
	BodyHex  *string `json:"body_hex"`
}

// Response is a recorded HTTP response.
type Response struct {
	Status int    `json:"status"`
	Reason string `json:"reason"`
	// Headers are [name, value] pairs in the server's order, without Date
	// (KT sends it right after Server; TT sends none).
	Headers [][2]string `json:"headers"`
	// At most one of BodyText (printable ASCII, TAB, LF, CR) and BodyHex
	// is set.
	BodyText *string `json:"body_text"`
	BodyHex  *string `json:"body_hex"`
	// BodyRegex, when set, replaces the comparison of the body: the body
	// varies and must fully match it.
	BodyRegex string `json:"body_regex"`
	// VolatileHeaders names headers whose values are not compared.
	VolatileHeaders []string `json:"volatile_headers"`
}

// UnmarshalJSON decodes a step strictly and sets HTTP, which depends on
// whether the record has a "response" key at all.
func (s *Step) UnmarshalJSON(b []byte) error {
	type fields Step // drops the methods, so decoding does not recurse
	var aux struct {
		fields
		// Response shadows fields.Response to see a null response.
		Response json.RawMessage `json:"response"`
	}
	if err := decodeStrict(b, &aux); err != nil {
		return err
	}
	*s = Step(aux.fields)
	s.HTTP = s.Request != nil || aux.Response != nil
	if aux.Response != nil {
		if err := decodeStrict(aux.Response, &s.Response); err != nil {
			return fmt.Errorf("response: %w", err)
		}
	}
	return nil
}

// decodeStrict decodes one JSON value and refuses unknown fields and
// trailing data: a field this package does not know could be a new
// constraint on the bytes, which tests must not silently ignore.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Load returns the cases of the given capture files, in file order and
// line order. Each name is a file name or a filepath.Match pattern within
// the captures' directory ("kt-*.jsonl"); no names means every *.jsonl
// file, and a file named twice is read once. A name that matches no file, a file that cannot be parsed or holds
// no case, a case without a name or steps, and a case name seen twice fail
// t. When the directory cannot be found, Load skips t, or fails it when CI
// is set (see the package documentation).
func Load(t testing.TB, files ...string) []Case {
	t.Helper()
	dir := findDir(t)
	if len(files) == 0 {
		files = []string{"*.jsonl"}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	var cases []Case
	seen := map[string]string{} // case name -> file
	loaded := map[string]bool{} // file names
	for _, pattern := range files {
		matched := false
		for _, e := range entries {
			ok, err := filepath.Match(pattern, e.Name())
			if err != nil {
				t.Fatalf("golden: bad file pattern %q: %v", pattern, err)
			}
			if !ok || e.IsDir() {
				continue
			}
			matched = true
			if loaded[e.Name()] {
				continue // named by an earlier pattern too
			}
			loaded[e.Name()] = true
			path := filepath.Join(dir, e.Name())
			cs, err := readFile(path)
			if err != nil {
				t.Fatalf("golden: %v", err)
			}
			for _, c := range cs {
				if prev, dup := seen[c.Name]; dup {
					t.Fatalf("golden: case %q is in %s and in %s; names must be unique", c.Name, prev, path)
				}
				seen[c.Name] = path
			}
			cases = append(cases, cs...)
		}
		if !matched {
			t.Fatalf("golden: no capture file %s in %s", pattern, dir)
		}
	}
	return cases
}

// readFile parses one .jsonl file.
func readFile(path string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []Case
	n := 0
	for line := range bytes.Lines(data) {
		n++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var c Case
		if err := decodeStrict(line, &c); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if c.Name == "" || len(c.Steps) == 0 {
			return nil, fmt.Errorf("%s:%d: a case needs a name and steps", path, n)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s holds no case", path)
	}
	return cases, nil
}

// findDir returns the captures' directory, or skips or fails t when there
// is none.
func findDir(t testing.TB) string {
	t.Helper()
	dir, missing, err := locate(os.Getenv, os.Getwd)
	switch {
	case err != nil:
		t.Fatalf("golden: %v", err)
	case missing != "" && os.Getenv("CI") != "":
		t.Fatalf("golden: %s; CI is set, so the byte-exact checks fail instead of skipping (set %s to the directory of the *.jsonl files)", missing, DirEnv)
	case missing != "":
		t.Skipf("golden: %s: skipping the checks against the real servers' recordings (set %s to the directory of the *.jsonl files)", missing, DirEnv)
	}
	return dir
}

// locate finds the captures' directory. missing explains why there is
// none when the search found nothing; err is set when a variable names a
// directory that does not exist, which is a mistake rather than an absent
// checkout.
func locate(getenv func(string) string, getwd func() (string, error)) (dir, missing string, err error) {
	for _, env := range []string{DirEnv, legacyDirEnv} {
		d := getenv(env)
		if d == "" {
			continue
		}
		if !isDir(d) {
			return "", "", fmt.Errorf("%s=%s is not a directory", env, d)
		}
		return d, "", nil
	}
	wd, err := getwd()
	if err != nil {
		return "", "", err
	}
	root := wd
	for !isFile(filepath.Join(root, "go.mod")) {
		parent := filepath.Dir(root)
		if parent == root {
			return "", fmt.Sprintf("no captures: %s is unset and there is no go.mod above %s to find ../shared/golden from", DirEnv, wd), nil
		}
		root = parent
	}
	d := filepath.Join(filepath.Dir(root), "shared", "golden")
	if !isDir(d) {
		return "", fmt.Sprintf("no captures: %s is unset and there is no %s beside the repository", DirEnv, d), nil
	}
	return d, "", nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Hex decodes hex text from a capture (send_hex, expect_hex, body_hex) or
// a test's literal, failing t when it is not valid hex.
func Hex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// MaskedDiff compares got with want, skipping the [offset, length] ranges
// of masks (indices into want; ranges past the end are cut). It returns
// the index of the first byte that differs outside the masks, the length
// of the shorter one when one is a prefix of the other, or -1 when they
// are equal.
func MaskedDiff(got, want []byte, masks [][2]int) int {
	masked := make([]bool, max(len(got), len(want)))
	for _, m := range masks {
		for i := max(m[0], 0); i < m[0]+m[1] && i < len(masked); i++ {
			masked[i] = true
		}
	}
	n := min(len(got), len(want))
	for i := range n {
		if !masked[i] && got[i] != want[i] {
			return i
		}
	}
	if len(got) != len(want) {
		return n
	}
	return -1
}

// MaskedEqual reports whether got and want have the same length and the
// same bytes outside masks (see MaskedDiff).
func MaskedEqual(got, want []byte, masks [][2]int) bool {
	return MaskedDiff(got, want, masks) < 0
}
