package tt

import (
	"net/url"
	"testing"
	"time"
)

// The URL options shared with kt mean the same here; repl_backoff alone
// keeps its old meaning, the longest pause.
func TestTTURLVocabulary(t *testing.T) {
	parse := func(s string) Options {
		t.Helper()
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		_, o, err := parseURL(u)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return o
	}
	o := parse("tt://h:1?timeout=2&repl_backoff=10ms&repl_max_backoff=3s&repl_reconnects=0&coalesce=on&coalesce_wait=50us&coalesce_max=8")
	if o.Timeout != 2*time.Second || o.ReplBackoff != 10*time.Millisecond || o.ReplMaxBackoff != 3*time.Second ||
		o.ReplReconnects != -1 || !o.Coalesce || o.CoalesceWait != 50*time.Microsecond || o.CoalesceMax != 8 {
		t.Errorf("shared names: %+v", o)
	}
	o = parse("tt://h:1?repl_backoff=2s")
	if o.ReplBackoff != 100*time.Millisecond || o.ReplMaxBackoff != 2*time.Second {
		t.Errorf("deprecated repl_backoff: first pause %v, longest %v; want 100ms and 2s", o.ReplBackoff, o.ReplMaxBackoff)
	}
	o = parse("tt://h:1?repl_backoff=20ms")
	if o.ReplBackoff != 20*time.Millisecond || o.ReplMaxBackoff != 20*time.Millisecond {
		t.Errorf("deprecated repl_backoff below the first pause: first pause %v, longest %v; want 20ms and 20ms", o.ReplBackoff, o.ReplMaxBackoff)
	}
}
