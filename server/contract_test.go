package server_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ktgrpc/ktgrpc/backend"
	"github.com/ktgrpc/ktgrpc/clients/go/rpctypes"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// limited is the fake with only the capabilities listed in caps: its
// methods are all there, so whatever the gateway refuses, it refuses from
// the capability list alone.
type limited struct {
	*fake
	caps []backend.Capability
}

func (l limited) Capabilities() []backend.Capability { return l.caps }

// TestEveryMissingCapabilityIsOneShape calls every RPC that needs a
// capability on a backend that lists none, and checks that each answer has
// the same shape: UNIMPLEMENTED, the one wording naming the call and the
// capability (never a URL scheme), and an ErrorInfo with the reason and
// the capability, backend and call in its metadata.
func TestEveryMissingCapabilityIsOneShape(t *testing.T) {
	f := &fake{}
	_, conn := gatewaytest.StartServer(t, limited{fake: f}, quiet)
	ctx := t.Context()
	kv, admin := ktgrpcv1.NewKVClient(conn), ktgrpcv1.NewAdminClient(conn)
	table, script := ktgrpcv1.NewTableClient(conn), ktgrpcv1.NewScriptClient(conn)
	k := []byte("k")
	calls := []struct {
		call, capability string
		do               func(context.Context) error
	}{
		{"KV.Replace", "atomic", func(ctx context.Context) error {
			_, err := kv.Replace(ctx, &ktgrpcv1.ReplaceRequest{Key: k, Value: k})
			return err
		}},
		{"KV.Seize", "atomic", func(ctx context.Context) error { _, err := kv.Seize(ctx, &ktgrpcv1.SeizeRequest{Key: k}); return err }},
		{"KV.CompareAndSwap", "atomic", func(ctx context.Context) error {
			_, err := kv.CompareAndSwap(ctx, &ktgrpcv1.CompareAndSwapRequest{Key: k, NewValue: k})
			return err
		}},
		{"ttl", "expiry", func(ctx context.Context) error {
			_, err := kv.Set(ctx, &ktgrpcv1.SetRequest{Key: k, Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(time.Minute)}})
			return err
		}},
		{"records[1].expire_time", "expiry", func(ctx context.Context) error {
			_, err := kv.SetBulk(ctx, &ktgrpcv1.SetBulkRequest{Records: []*ktgrpcv1.SetBulkRequest_Entry{
				{Key: k}, {Key: k, Expiration: &ktgrpcv1.SetBulkRequest_Entry_ExpireTime{ExpireTime: timestamppb.New(time.Unix(2e9, 0))}},
			}})
			return err
		}},
		{"KV.Append with keep_last", "append_keep_last", func(ctx context.Context) error {
			_, err := kv.Append(ctx, &ktgrpcv1.AppendRequest{Key: k, Value: k, KeepLast: 4})
			return err
		}},
		{"KV.Increment with must_exist", "increment_options", func(ctx context.Context) error {
			_, err := kv.Increment(ctx, &ktgrpcv1.IncrementRequest{Key: k, Delta: 1, MustExist: true})
			return err
		}},
		{"KV.IncrementDouble with a non-zero initial", "increment_options", func(ctx context.Context) error {
			initial := 1.5
			_, err := kv.IncrementDouble(ctx, &ktgrpcv1.IncrementDoubleRequest{Key: k, Delta: 1, Initial: &initial})
			return err
		}},
		{"KV.MatchKeys by regex", "match_regex", func(ctx context.Context) error {
			_, err := kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Regex{Regex: "a"}})
			return err
		}},
		{"KV.MatchKeys by similarity", "match_similar", func(ctx context.Context) error {
			_, err := kv.MatchKeys(ctx, &ktgrpcv1.MatchKeysRequest{Pattern: &ktgrpcv1.MatchKeysRequest_Similar{Similar: &ktgrpcv1.Similarity{Origin: k}}})
			return err
		}},
		{"Script.Call", "scripts", func(ctx context.Context) error {
			_, err := script.Call(ctx, &ktgrpcv1.CallRequest{Name: "echo"})
			return err
		}},
		{"Table.Put", "tables", func(ctx context.Context) error {
			_, err := table.Put(ctx, &ktgrpcv1.TablePutRequest{Key: k})
			return err
		}},
		{"Table.Get", "tables", func(ctx context.Context) error {
			_, err := table.Get(ctx, &ktgrpcv1.TableGetRequest{Key: k})
			return err
		}},
		{"Table.Search", "tables", func(ctx context.Context) error {
			_, err := table.Search(ctx, &ktgrpcv1.TableSearchRequest{})
			return err
		}},
		{"Table.SetIndex", "tables", func(ctx context.Context) error {
			_, err := table.SetIndex(ctx, &ktgrpcv1.TableSetIndexRequest{Column: "c", Type: ktgrpcv1.IndexType_INDEX_TYPE_LEXICAL})
			return err
		}},
		{"Table.GenerateID", "tables", func(ctx context.Context) error {
			_, err := table.GenerateID(ctx, &ktgrpcv1.TableGenerateIDRequest{})
			return err
		}},
		{"Admin.Optimize", "maintenance", func(ctx context.Context) error {
			_, err := admin.Optimize(ctx, &ktgrpcv1.OptimizeRequest{})
			return err
		}},
		{"Admin.Copy", "maintenance", func(ctx context.Context) error {
			_, err := admin.Copy(ctx, &ktgrpcv1.CopyRequest{Path: "/x"})
			return err
		}},
		{"Admin.Restore", "maintenance", func(ctx context.Context) error {
			_, err := admin.Restore(ctx, &ktgrpcv1.RestoreRequest{Path: "/x"})
			return err
		}},
		{"Admin.SetMaster", "maintenance", func(ctx context.Context) error {
			_, err := admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{})
			return err
		}},
		{"Admin.Misc", "maintenance", func(ctx context.Context) error {
			_, err := admin.Misc(ctx, &ktgrpcv1.MiscRequest{Name: "putlist"})
			return err
		}},
		{"Admin.TuneReplication", "replication_admin", func(ctx context.Context) error {
			_, err := admin.TuneReplication(ctx, &ktgrpcv1.TuneReplicationRequest{Interval: durationpb.New(0)})
			return err
		}},
		{"Admin.ListUpdateLogs", "replication_admin", func(ctx context.Context) error {
			_, err := admin.ListUpdateLogs(ctx, &ktgrpcv1.ListUpdateLogsRequest{})
			return err
		}},
		{"Admin.RemoveUpdateLogs", "replication_admin", func(ctx context.Context) error {
			_, err := admin.RemoveUpdateLogs(ctx, &ktgrpcv1.RemoveUpdateLogsRequest{})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.call, func(t *testing.T) {
			wantMissing(t, c.do(ctx), c.call, c.capability)
		})
	}
	if n := len(f.calls); n != 0 {
		t.Fatalf("the backend was called %d times for calls it cannot serve: %v", n, f.calls)
	}

	// A script backend without locks refuses a lock instead of running the
	// procedure unlocked.
	_, conn = gatewaytest.StartServer(t, limited{fake: f, caps: []backend.Capability{backend.CapScripts}}, quiet)
	_, err := ktgrpcv1.NewScriptClient(conn).Call(ctx, &ktgrpcv1.CallRequest{Name: "echo", Lock: ktgrpcv1.LockMode_LOCK_MODE_RECORD})
	wantMissing(t, err, "Script.Call with lock LOCK_MODE_RECORD", "script_locks")
	if _, err := ktgrpcv1.NewScriptClient(conn).Call(ctx, &ktgrpcv1.CallRequest{Name: "echo"}); err != nil {
		t.Fatalf("a call without a lock on a backend with scripts: %v", err)
	}
}

func wantMissing(t *testing.T, err error, call, capability string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Unimplemented {
		t.Fatalf("code %v (%q), want Unimplemented", st.Code(), st.Message())
	}
	shape := regexp.MustCompile(`^` + regexp.QuoteMeta(call) + ` needs capability "` + capability +
		`" \([^)]+\), which fake://test does not offer; Admin.Capabilities lists what it offers$`)
	if !shape.MatchString(st.Message()) {
		t.Errorf("message %q does not have the shape %s", st.Message(), shape)
	}
	if r := rpctypes.ReasonOf(err); r != rpctypes.ReasonCapabilityMissing {
		t.Errorf("reason %q, want %q", r, rpctypes.ReasonCapabilityMissing)
	}
	md := rpctypes.Metadata(err)
	if md[rpctypes.MetaCapability] != capability || md[rpctypes.MetaCall] != call || md[rpctypes.MetaBackend] != "fake://test" {
		t.Errorf("ErrorInfo metadata %v, want capability %q, call %q, backend fake://test", md, capability, call)
	}
}

func TestCapabilitiesReportsTheList(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, limited{fake: &fake{}, caps: []backend.Capability{backend.CapTables, backend.CapExpiry}}, quiet)
	resp, err := ktgrpcv1.NewAdminClient(conn).Capabilities(t.Context(), &ktgrpcv1.CapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetBackend() != "fake://test" || len(resp.GetCapabilities()) != len(backend.AllCapabilities()) {
		t.Fatalf("Capabilities = %v", resp)
	}
	for _, c := range resp.GetCapabilities() {
		want := c.GetName() == "tables" || c.GetName() == "expiry"
		if c.GetOffered() != want || c.GetDescription() == "" {
			t.Errorf("capability %v: offered %v, want %v, with a description", c.GetName(), c.GetOffered(), want)
		}
	}
}

// TestFieldErrorsNameTheField checks that request validation answers
// with a BadRequest naming the field, beside the ErrorInfo.
func TestFieldErrorsNameTheField(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, &fake{}, quiet)
	ctx := t.Context()
	kv, table, admin := ktgrpcv1.NewKVClient(conn), ktgrpcv1.NewTableClient(conn), ktgrpcv1.NewAdminClient(conn)
	cases := []struct {
		field string
		err   error
	}{
		{"key", func() error { _, err := kv.Get(ctx, &ktgrpcv1.GetRequest{}); return err }()},
		{"keys[1]", func() error {
			_, err := kv.GetBulk(ctx, &ktgrpcv1.GetBulkRequest{Keys: [][]byte{[]byte("a"), nil}})
			return err
		}()},
		{"ttl", func() error {
			_, err := kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Expiration: &ktgrpcv1.SetRequest_Ttl{Ttl: durationpb.New(-1)}})
			return err
		}()},
		{"conditions[0].operator", func() error {
			_, err := table.Search(ctx, &ktgrpcv1.TableSearchRequest{Conditions: []*ktgrpcv1.Condition{{Column: "a"}}})
			return err
		}()},
		{"port", func() error {
			_, err := admin.SetMaster(ctx, &ktgrpcv1.SetMasterRequest{Host: "m", Port: 70000})
			return err
		}()},
		{"steps", func() error { _, err := admin.Vacuum(ctx, &ktgrpcv1.VacuumRequest{Steps: -1}); return err }()},
	}
	for _, c := range cases {
		if status.Code(c.err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", c.field, c.err)
			continue
		}
		if r := rpctypes.ReasonOf(c.err); r != rpctypes.ReasonInvalidArgument {
			t.Errorf("%s: reason %q", c.field, r)
		}
		v := rpctypes.FieldViolations(c.err)
		if len(v) != 1 || v[0].Field != c.field || v[0].Description != status.Convert(c.err).Message() {
			t.Errorf("%s: field violations %+v, want one naming the field with the message", c.field, v)
		}
		if got := rpctypes.Metadata(c.err)[rpctypes.MetaField]; got != c.field {
			t.Errorf("%s: ErrorInfo field %q", c.field, got)
		}
	}
}

// TestEveryStatusCarriesErrorInfo checks statuses the handlers make
// without a reason (authentication, panics, limits) still carry one.
func TestEveryStatusCarriesErrorInfo(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, &fake{}, quiet)
	// The fake's Set is not configured: it panics, and the recovery turns
	// that into Internal.
	_, err := ktgrpcv1.NewKVClient(conn).Set(t.Context(), &ktgrpcv1.SetRequest{Key: []byte("k")})
	if status.Code(err) != codes.Internal {
		t.Fatalf("Set on the fake: %v, want Internal", err)
	}
	if ei := rpctypes.ErrorInfo(err); ei == nil || ei.GetReason() != string(rpctypes.ReasonInternal) || ei.GetDomain() != rpctypes.Domain {
		t.Fatalf("ErrorInfo of a recovered panic = %v", ei)
	}
}

// Callers without gRPC read the same reason: the HTTP/JSON answer carries
// the ErrorInfo (and the BadRequest of a field error) in its details.
func TestHTTPJSONErrorsCarryReasons(t *testing.T) {
	srv, _ := gatewaytest.StartServer(t, newStore(t), quiet)
	base := startHTTP(t, srv)
	for _, tc := range []struct {
		path, body, reason, field string
	}{
		{"/v1/kv/get", `{}`, "INVALID_ARGUMENT", "key"},
		{"/v1/script/call", `{"name":"x"}`, "CAPABILITY_MISSING", ""},
	} {
		_, out := post(t, t.Context(), base, tc.path, "", tc.body)
		details, _ := out["details"].([]any)
		var reason, field string
		for _, d := range details {
			m, _ := d.(map[string]any)
			switch m["@type"] {
			case "type.googleapis.com/google.rpc.ErrorInfo":
				if m["domain"] == rpctypes.Domain {
					reason, _ = m["reason"].(string)
				}
			case "type.googleapis.com/google.rpc.BadRequest":
				vs, _ := m["fieldViolations"].([]any)
				if len(vs) == 1 {
					field, _ = vs[0].(map[string]any)["field"].(string)
				}
			}
		}
		if reason != tc.reason || field != tc.field {
			t.Errorf("POST %s %s: details %v; want reason %q and field %q", tc.path, tc.body, details, tc.reason, tc.field)
		}
	}
}
