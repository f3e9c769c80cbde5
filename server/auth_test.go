package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ktgrpc/ktgrpc/backend/embedded"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server"
	"github.com/ktgrpc/ktgrpc/server/access"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// wantRights is the policy, written out again so that a change to it must
// change this test too.
func wantRights() map[string]access.Rights {
	r, w, a, rp := access.Read, access.Write, access.Admin, access.Replication
	return map[string]access.Rights{
		"/ktgrpc.v1.KV/Get": r, "/ktgrpc.v1.KV/GetBulk": r, "/ktgrpc.v1.KV/Check": r, "/ktgrpc.v1.KV/MatchKeys": r,
		"/ktgrpc.v1.KV/Set": w, "/ktgrpc.v1.KV/SetBulk": w, "/ktgrpc.v1.KV/Add": w, "/ktgrpc.v1.KV/Replace": w,
		"/ktgrpc.v1.KV/Append": w, "/ktgrpc.v1.KV/Remove": w, "/ktgrpc.v1.KV/RemoveBulk": w, "/ktgrpc.v1.KV/Seize": w,
		"/ktgrpc.v1.KV/CompareAndSwap": w, "/ktgrpc.v1.KV/Increment": w, "/ktgrpc.v1.KV/IncrementDouble": w,
		"/ktgrpc.v1.KV/Pipeline": r,
		"/ktgrpc.v1.Cursor/Scan": r, "/ktgrpc.v1.Cursor/Open": r,
		"/ktgrpc.v1.Script/Call": w,
		"/ktgrpc.v1.Table/Get":   r, "/ktgrpc.v1.Table/Search": r, "/ktgrpc.v1.Table/Put": w,
		"/ktgrpc.v1.Table/GenerateID": w, "/ktgrpc.v1.Table/SetIndex": a,
		"/ktgrpc.v1.Admin/Status": r, "/ktgrpc.v1.Admin/Databases": r, "/ktgrpc.v1.Admin/Report": r, "/ktgrpc.v1.Admin/Capabilities": r,
		"/ktgrpc.v1.Admin/ListUpdateLogs": rp, "/ktgrpc.v1.Replication/Subscribe": rp, "/ktgrpc.v1.Replication/Watch": rp, "/ktgrpc.v1.Admin/ReplicationStatus": rp,
		"/ktgrpc.v1.Admin/Clear": a, "/ktgrpc.v1.Admin/Synchronize": a, "/ktgrpc.v1.Admin/Vacuum": a,
		"/ktgrpc.v1.Admin/Optimize": a, "/ktgrpc.v1.Admin/Copy": a, "/ktgrpc.v1.Admin/Restore": a,
		"/ktgrpc.v1.Admin/SetMaster": a, "/ktgrpc.v1.Admin/Misc": a, "/ktgrpc.v1.Admin/TuneReplication": a,
		"/ktgrpc.v1.Admin/RemoveUpdateLogs": a,
	}
}

// method is one RPC of a service descriptor.
type method struct {
	full   string
	stream *grpc.StreamDesc // nil for unary
}

func ktgrpcMethods() []method {
	var out []method
	for _, sd := range []grpc.ServiceDesc{ktgrpcv1.KV_ServiceDesc, ktgrpcv1.Cursor_ServiceDesc, ktgrpcv1.Script_ServiceDesc,
		ktgrpcv1.Replication_ServiceDesc, ktgrpcv1.Admin_ServiceDesc, ktgrpcv1.Table_ServiceDesc} {
		for _, m := range sd.Methods {
			out = append(out, method{full: "/" + sd.ServiceName + "/" + m.MethodName})
		}
		for i := range sd.Streams {
			out = append(out, method{full: "/" + sd.ServiceName + "/" + sd.Streams[i].StreamName, stream: &sd.Streams[i]})
		}
	}
	return out
}

// call sends an empty request to m and returns the call's status: for a
// stream, the status it ends with or, for one still running after its
// first reply, OK.
func call(ctx context.Context, conn *grpc.ClientConn, m method) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if m.stream == nil {
		return conn.Invoke(ctx, m.full, &emptypb.Empty{}, &emptypb.Empty{})
	}
	st, err := conn.NewStream(ctx, m.stream, m.full)
	if err != nil {
		return err
	}
	// A server that refuses the call may end the stream before the send:
	// SendMsg then says io.EOF, and the status comes from RecvMsg.
	if err := st.SendMsg(&emptypb.Empty{}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(&emptypb.Empty{})
}

func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func tokenTable(t testing.TB) func() *access.Table {
	t.Helper()
	var lines []string
	for _, name := range []string{"read", "write", "admin", "replication", "all"} {
		lines = append(lines, fmt.Sprintf("%s %s %s", name, name, access.HashToken(name+"-token")))
	}
	tab, err := access.Parse(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return func() *access.Table { return tab }
}

func newStore(t *testing.T) *embedded.Store {
	t.Helper()
	s, err := embedded.New(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every method of every service, called with no token, an unknown token and
// a token of each right: the first two are UNAUTHENTICATED, a token without
// the method's right PERMISSION_DENIED naming it, and one with the right
// gets past the check (whatever the empty request then earns).
func TestEveryAuthOutcomePerRightAndService(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Access: tokenTable(t)})
	want := wantRights()
	methods := ktgrpcMethods()
	if len(methods) != len(want) {
		t.Errorf("the services have %d methods, the policy table %d: classify the new ones", len(methods), len(want))
	}
	tokens := map[string]access.Rights{"read": access.Read, "write": access.Write, "admin": access.Admin, "replication": access.Replication, "all": access.All}
	for _, m := range methods {
		need, ok := want[m.full]
		if !ok {
			t.Errorf("%s: not in the policy table", m.full)
			continue
		}
		t.Run(strings.TrimPrefix(m.full, "/ktgrpc.v1."), func(t *testing.T) {
			for _, tok := range []string{"", "bogus"} {
				err := call(withToken(t.Context(), tok), conn, m)
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("token %q: got %v, want Unauthenticated", tok, err)
				}
			}
			for name, has := range tokens {
				err := call(withToken(t.Context(), name+"-token"), conn, m)
				code := status.Code(err)
				if has.Has(need) {
					if code == codes.Unauthenticated || code == codes.PermissionDenied {
						t.Errorf("token %s with right %s: got %v", name, need, err)
					}
					continue
				}
				if code != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "lacks the "+need.String()+" right") {
					t.Errorf("token %s: got %v, want PermissionDenied naming the %s right", name, err, need)
				}
			}
		})
	}
}

// Operations inside a call that change records need the write right even
// where the call itself needs only read.
func TestWritingOperationsInsideReadCallsNeedWrite(t *testing.T) {
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Access: tokenTable(t)})
	ctx := withToken(t.Context(), "read-token")
	st := openCursor(t, ctx, conn)
	if err := st.Send(&ktgrpcv1.OpenRequest{Operation: ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Recv()
	wantCode(t, err, codes.PermissionDenied, "lacks the write right")

	_, err = ktgrpcv1.NewTableClient(conn).Search(ctx, &ktgrpcv1.TableSearchRequest{Action: ktgrpcv1.SearchAction_SEARCH_ACTION_DELETE})
	wantCode(t, err, codes.PermissionDenied, "lacks the write right")
}

// Health and reflection stay open to probes unless asked otherwise.
func TestProbeServicesAuthentication(t *testing.T) {
	for _, authHealth := range []bool{false, true} {
		t.Run(fmt.Sprint("authenticate-health=", authHealth), func(t *testing.T) {
			_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{HealthInterval: time.Hour, Access: tokenTable(t), AuthenticateHealth: authHealth})
			_, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: server.LivenessService})
			refl, rerr := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
			if rerr == nil {
				// A Send after the gateway refused the stream says only
				// io.EOF; the status comes with Recv.
				if rerr = refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); rerr == nil || errors.Is(rerr, io.EOF) {
					_, rerr = refl.Recv()
				}
			}
			want := codes.OK
			if authHealth {
				want = codes.Unauthenticated
			}
			if status.Code(err) != want || status.Code(rerr) != want {
				t.Fatalf("health: %v, reflection: %v; want %v", err, rerr, want)
			}
			if authHealth {
				_, err := healthpb.NewHealthClient(conn).Check(withToken(t.Context(), "read-token"), &healthpb.HealthCheckRequest{Service: server.LivenessService})
				if err != nil {
					t.Fatalf("health with a token: %v", err)
				}
			}
		})
	}
}

// A read-only gateway refuses writes and administration even to a caller
// with every right, and with no tokens file at all.
func TestReadOnly(t *testing.T) {
	for _, withTokens := range []bool{false, true} {
		opts := server.Options{HealthInterval: time.Hour, ReadOnly: true}
		ctx := t.Context()
		if withTokens {
			opts.Access = tokenTable(t)
			ctx = withToken(ctx, "all-token")
		}
		_, conn := gatewaytest.StartServer(t, newStore(t), opts)
		kv := ktgrpcv1.NewKVClient(conn)
		_, err := kv.Set(ctx, &ktgrpcv1.SetRequest{Key: []byte("k"), Value: []byte("v")})
		wantCode(t, err, codes.PermissionDenied, "the gateway is read-only: /ktgrpc.v1.KV/Set needs the write right")
		_, err = ktgrpcv1.NewAdminClient(conn).Clear(ctx, &ktgrpcv1.ClearRequest{})
		wantCode(t, err, codes.PermissionDenied, "needs the admin right")
		if _, err := kv.Get(ctx, &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil {
			t.Fatalf("Get on a read-only gateway: %v", err)
		}
	}
}

// The call log names the authenticated caller.
func TestCallLogNamesTheCaller(t *testing.T) {
	logs := lineSink(make(chan string, 100))
	_, conn := gatewaytest.StartServer(t, newStore(t), server.Options{
		HealthInterval: time.Hour,
		Access:         tokenTable(t),
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	_, err := ktgrpcv1.NewKVClient(conn).Set(withToken(t.Context(), "read-token"), &ktgrpcv1.SetRequest{Key: []byte("k")})
	wantCode(t, err, codes.PermissionDenied, "lacks the write right")
	for {
		l := <-logs
		if strings.Contains(l, "grpc.method=Set") {
			if !strings.Contains(l, "caller=read") || !strings.Contains(l, "grpc.code=PermissionDenied") {
				t.Fatalf("call log line %s", l)
			}
			return
		}
	}
}
