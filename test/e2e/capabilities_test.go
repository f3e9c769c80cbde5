package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
)

// offered calls Admin.Capabilities and returns the names offered, after
// checking that every known capability is listed once, described.
func offered(t *testing.T, ctx context.Context, admin ktgrpcv1.AdminClient, wantBackend string) []string {
	t.Helper()
	resp, err := admin.Capabilities(ctx, &ktgrpcv1.CapabilitiesRequest{})
	if err != nil {
		t.Fatalf("Capabilities: %v", err)
	}
	if !strings.HasPrefix(resp.GetBackend(), wantBackend) {
		t.Errorf("backend = %q, want it to start with %q", resp.GetBackend(), wantBackend)
	}
	var names, out []string
	for _, c := range resp.GetCapabilities() {
		if c.GetDescription() == "" {
			t.Errorf("capability %q has no description", c.GetName())
		}
		names = append(names, c.GetName())
		if c.GetOffered() {
			out = append(out, c.GetName())
		}
	}
	want := []string{"atomic", "scripts", "script_locks", "tables", "maintenance", "replication_admin",
		"expiry", "match_regex", "match_similar", "append_keep_last", "increment_options"}
	if !slices.Equal(names, want) {
		t.Errorf("capabilities listed = %q, want every known one in order %q", names, want)
	}
	return out
}

func TestCapabilitiesEmbedded(t *testing.T) {
	e := newEmbEnv(t, server.Options{})
	got := offered(t, t.Context(), e.admin, "embedded")
	want := []string{"atomic", "tables", "expiry", "match_regex", "match_similar", "append_keep_last", "increment_options"}
	if !slices.Equal(got, want) {
		t.Fatalf("embedded offers %q, want %q", got, want)
	}
}

func TestCapabilitiesKT(t *testing.T) {
	e := startKT(t, "", nil)
	got := offered(t, e.ctx, e.admin, "kt://")
	want := []string{"atomic", "scripts", "replication_admin", "expiry", "match_regex", "match_similar", "increment_options"}
	if !slices.Equal(got, want) {
		t.Fatalf("Kyoto Tycoon offers %q, want %q", got, want)
	}
	// What it does not offer is refused in the one wording, naming the
	// capability.
	_, err := e.script.Call(e.ctx, &ktgrpcv1.CallRequest{Name: "echo", Lock: ktgrpcv1.LockMode_LOCK_MODE_GLOBAL})
	wantCapabilityMissing(t, err, "script_locks", "Script.Call with lock LOCK_MODE_GLOBAL")
	_, err = e.table.Get(e.ctx, &ktgrpcv1.TableGetRequest{Key: []byte("k")})
	wantCapabilityMissing(t, err, "tables", "Table.Get")
	_, err = e.admin.Optimize(e.ctx, &ktgrpcv1.OptimizeRequest{})
	wantCapabilityMissing(t, err, "maintenance", "Admin.Optimize")
	_, err = e.kv.Append(e.ctx, &ktgrpcv1.AppendRequest{Key: []byte("k"), Value: []byte("v"), KeepLast: 1})
	wantCapabilityMissing(t, err, "append_keep_last", "KV.Append with keep_last")
}

func TestCapabilitiesTT(t *testing.T) {
	want := []string{"scripts", "script_locks", "tables", "maintenance", "append_keep_last"}
	for _, config := range []string{"tt-hash", "tt-btree", "tt-table"} {
		t.Run(config, func(t *testing.T) {
			e := startTT(t, config, "")
			ctx := testCtx(t)
			if got := offered(t, ctx, e.admin, "tt://"); !slices.Equal(got, want) {
				t.Fatalf("Tokyo Tyrant offers %q, want %q", got, want)
			}
			_, err := e.kv.Seize(ctx, &ktgrpcv1.SeizeRequest{Key: []byte("k")})
			wantCapabilityMissing(t, err, "atomic", "KV.Seize")
			_, err = e.admin.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
			wantCapabilityMissing(t, err, "replication_admin", "Admin.ListUpdateLogs")
			_, err = e.kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(time.Minute)}})
			wantCapabilityMissing(t, err, "expiry", "ttl")
			_, err = e.kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "k"}})
			wantCapabilityMissing(t, err, "match_regex", "KV.MatchKeys by regex")
		})
	}
}

// wantCapabilityMissing checks the one shape of "not on this backend": code
// UNIMPLEMENTED, the wording naming call and capability, and an ErrorInfo
// with the reason and the capability in its metadata.
func wantCapabilityMissing(t *testing.T, err error, capability, call string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Unimplemented {
		t.Fatalf("%s: code %v (%v), want Unimplemented", call, st.Code(), err)
	}
	if want := call + ` needs capability "` + capability + `"`; !strings.HasPrefix(st.Message(), want) {
		t.Errorf("%s: message %q, want it to start %q", call, st.Message(), want)
	}
	for _, scheme := range []string{"kt://", "tt://"} {
		if strings.Contains(st.Message(), "needs a "+scheme) || strings.Contains(st.Message(), "("+scheme+")") {
			t.Errorf("%s: message %q asks for a URL scheme instead of a capability", call, st.Message())
		}
	}
	if r := rpctypes.ReasonOf(err); r != rpctypes.ReasonCapabilityMissing {
		t.Errorf("%s: reason %q, want %q", call, r, rpctypes.ReasonCapabilityMissing)
	}
	if md := rpctypes.Metadata(err); md[rpctypes.MetaCapability] != capability || md[rpctypes.MetaCall] != call {
		t.Errorf("%s: ErrorInfo metadata %v, want capability %q and call %q", call, md, capability, call)
	}
}
