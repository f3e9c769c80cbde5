package tt_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ktgrpc/ktgrpc/backend/tt"
	"github.com/ktgrpc/ktgrpc/backend/tt/ttwire"
	"github.com/ktgrpc/ktgrpc/test/golden"
)

// A scripted server: it expects exact request bytes and answers with exact
// reply bytes, taken from the golden recordings of the real server. It
// checks that the adapter sends what ttserver was sent and understands what
// ttserver answered.

type exchange struct {
	send  []byte // what the adapter must send
	reply []byte // what the server answers
	// hangUp closes the connection after reading send, without replying.
	hangUp bool
	// stall reads send and then answers nothing until the client gives up.
	stall bool
	// closeAfter closes the connection after the reply.
	closeAfter bool
}

type scriptServer struct {
	t    *testing.T
	lis  net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	left []exchange
	// accepted counts connections.
	accepted int
	// got receives a value each time the server has read an exchange's
	// request.
	got chan struct{}
}

func startScript(t *testing.T, exs ...exchange) *scriptServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{t: t, lis: lis, left: exs, got: make(chan struct{}, len(exs)+1)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		_ = lis.Close()
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.left) > 0 {
			t.Errorf("script: %d exchanges never happened; next expected %x", len(s.left), s.left[0].send)
		}
	})
	return s
}

func (s *scriptServer) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.lis.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer nc.Close()
			br := bufio.NewReader(nc)
			for {
				s.mu.Lock()
				if len(s.left) == 0 {
					s.mu.Unlock()
					// Anything more is unexpected; wait for the client to
					// hang up.
					if b, err := br.ReadByte(); err == nil {
						s.t.Errorf("script: unexpected byte %02x after the last exchange", b)
					}
					return
				}
				ex := s.left[0]
				s.mu.Unlock()
				got := make([]byte, len(ex.send))
				if _, err := io.ReadFull(br, got); err != nil {
					return // the client hung up; the next connection goes on
				}
				s.mu.Lock()
				s.left = s.left[1:]
				s.mu.Unlock()
				s.got <- struct{}{}
				if !bytes.Equal(got, ex.send) {
					s.t.Errorf("script: request\n got %x\nwant %x", got, ex.send)
					return
				}
				switch {
				case ex.hangUp:
					return
				case ex.stall:
					_, _ = br.ReadByte() // until the client closes
					return
				}
				if _, err := nc.Write(ex.reply); err != nil || ex.closeAfter {
					return
				}
			}
		}()
	}
}

func (s *scriptServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// goldenIndex holds the steps of tt-binary.jsonl and tt-replication.jsonl
// by case name (names are unique across the files). It is filled once:
// some forty lookups would otherwise parse the files again each time.
var goldenIndex struct {
	once  sync.Once
	steps map[string][]golden.Step
}

func loadGoldenCases(t *testing.T) map[string][]golden.Step {
	t.Helper()
	goldenIndex.once.Do(func() {
		steps := map[string][]golden.Step{}
		for _, c := range golden.Load(t, "tt-binary.jsonl", "tt-replication.jsonl") {
			steps[c.Name] = c.Steps
		}
		goldenIndex.steps = steps
	})
	if goldenIndex.steps == nil {
		// The first Load skipped or failed its test, which ended it inside
		// Do; this one skips or fails t the same way.
		golden.Load(t, "tt-binary.jsonl", "tt-replication.jsonl")
		t.Fatal("golden captures could not be loaded")
	}
	return goldenIndex.steps
}

// g returns the exchanges of the given steps of a recorded case.
func g(t *testing.T, name string, steps ...int) []exchange {
	t.Helper()
	c, ok := loadGoldenCases(t)[name]
	if !ok {
		t.Fatalf("no golden case %q", name)
	}
	var out []exchange
	for _, i := range steps {
		out = append(out, exchange{send: golden.Hex(t, c[i].SendHex), reply: golden.Hex(t, c[i].ExpectHex)})
	}
	return out
}

// noLog sets a misc request's opts to 1 (no update log): the recordings
// send reads with opts 0, the adapter sends them with 1.
func noLog(exs []exchange) []exchange {
	for i := range exs {
		s := bytes.Clone(exs[i].send)
		s[9] = 1 // C8 90, nsiz:4, opts:4 -> opts low byte at offset 9
		exs[i].send = s
	}
	return exs
}

// emptyValueCheck is the search that precedes a lexical or decimal
// setindex on col: one key of a row whose col is empty, not using an index,
// answered with no rows.
func emptyValueCheck(t *testing.T, col string) []exchange {
	t.Helper()
	cond, err := ttwire.CondDirective(col, ttwire.OpStrEq|ttwire.FlagNoIndex, "")
	if err != nil {
		t.Fatal(err)
	}
	req, err := ttwire.AppendRequest(nil, &ttwire.Request{
		Cmd: ttwire.CmdMisc, Name: "search", Opts: ttwire.MiscNoUpdateLog,
		Args: [][]byte{cond, ttwire.LimitDirective(1, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return []exchange{{send: req, reply: []byte{0, 0, 0, 0, 0}}}
}

func cat(parts ...[]exchange) []exchange {
	var out []exchange
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// scripted opens an adapter on a scripted server. kind skips the type
// detection, which would cost a stat exchange.
func scripted(t *testing.T, kind string, exs ...exchange) (*tt.Backend, *scriptServer) {
	t.Helper()
	s := startScript(t, exs...)
	b, err := tt.New(s.lis.Addr().String(), tt.Options{Kind: kind, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
