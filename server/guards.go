package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/server/access"
)

// Limits bound what one call, connection or caller may ask for. Zero
// fields impose nothing. The names in error messages are the serve
// command's flag names.
type Limits struct {
	// MaxBulkKeys is the most keys or records in one GetBulk, SetBulk or
	// RemoveBulk request; more is INVALID_ARGUMENT.
	MaxBulkKeys int
	// MaxStreamsPerConnection is the most streaming calls (scans, cursors,
	// subscriptions, health watches) open at once on one connection; one
	// more is RESOURCE_EXHAUSTED. Unlike MaxConcurrentStreams, which makes
	// further calls wait, it answers at once.
	MaxStreamsPerConnection int
	// Rate is the requests per second each caller (each token name, or all
	// anonymous callers together) may make, with bursts of Burst; beyond
	// it calls are RESOURCE_EXHAUSTED. Health checks are not counted.
	Rate  float64
	Burst int
	// DefaultDeadline is given to unary calls that arrive without one.
	DefaultDeadline time.Duration
	// MaxDeadline shortens longer unary deadlines; a call cut short by it
	// ends DEADLINE_EXCEEDED naming the limit. Streams are not bounded.
	MaxDeadline time.Duration
}

// isProbeService reports whether a method belongs to the services that
// stay open to probes and tools unless AuthenticateHealth is set.
func isProbeService(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+healthpb.Health_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// methodRights is the right each ktgrpc method needs. A ktgrpc method that
// is missing needs Admin, so that a new RPC is closed until someone decides.
func methodRights() map[string]access.Rights {
	const (
		r, w, a, rp = access.Read, access.Write, access.Admin, access.Replication
	)
	return map[string]access.Rights{
		ktgrpcv1.KV_Get_FullMethodName:             r,
		ktgrpcv1.KV_GetBulk_FullMethodName:         r,
		ktgrpcv1.KV_Check_FullMethodName:           r,
		ktgrpcv1.KV_MatchKeys_FullMethodName:       r,
		ktgrpcv1.KV_Set_FullMethodName:             w,
		ktgrpcv1.KV_SetBulk_FullMethodName:         w,
		ktgrpcv1.KV_Add_FullMethodName:             w,
		ktgrpcv1.KV_Replace_FullMethodName:         w,
		ktgrpcv1.KV_Append_FullMethodName:          w,
		ktgrpcv1.KV_Remove_FullMethodName:          w,
		ktgrpcv1.KV_RemoveBulk_FullMethodName:      w,
		ktgrpcv1.KV_Seize_FullMethodName:           w,
		ktgrpcv1.KV_CompareAndSwap_FullMethodName:  w,
		ktgrpcv1.KV_Increment_FullMethodName:       w,
		ktgrpcv1.KV_IncrementDouble_FullMethodName: w,
		// Each request also needs its own unary call's right, checked
		// per request.
		ktgrpcv1.KV_Pipeline_FullMethodName: r,
		ktgrpcv1.Cursor_Scan_FullMethodName: r,
		// Open's writing operations also need Write, checked per message.
		ktgrpcv1.Cursor_Open_FullMethodName: r,
		// A script may write.
		ktgrpcv1.Script_Call_FullMethodName: w,
		// Search's DELETE action also needs Write, checked per request.
		ktgrpcv1.Table_Get_FullMethodName:               r,
		ktgrpcv1.Table_Search_FullMethodName:            r,
		ktgrpcv1.Table_Put_FullMethodName:               w,
		ktgrpcv1.Table_GenerateID_FullMethodName:        w,
		ktgrpcv1.Table_SetIndex_FullMethodName:          a,
		ktgrpcv1.Admin_Status_FullMethodName:            r,
		ktgrpcv1.Admin_Databases_FullMethodName:         r,
		ktgrpcv1.Admin_Capabilities_FullMethodName:      r,
		ktgrpcv1.Admin_Report_FullMethodName:            r,
		ktgrpcv1.Admin_ListUpdateLogs_FullMethodName:    rp,
		ktgrpcv1.Replication_Subscribe_FullMethodName:   rp,
		ktgrpcv1.Replication_Watch_FullMethodName:       rp,
		ktgrpcv1.Admin_ReplicationStatus_FullMethodName: rp,
		ktgrpcv1.Admin_Clear_FullMethodName:             a,
		ktgrpcv1.Admin_Synchronize_FullMethodName:       a,
		ktgrpcv1.Admin_Vacuum_FullMethodName:            a,
		ktgrpcv1.Admin_Optimize_FullMethodName:          a,
		ktgrpcv1.Admin_Copy_FullMethodName:              a,
		ktgrpcv1.Admin_Restore_FullMethodName:           a,
		ktgrpcv1.Admin_SetMaster_FullMethodName:         a,
		ktgrpcv1.Admin_Misc_FullMethodName:              a,
		ktgrpcv1.Admin_TuneReplication_FullMethodName:   a,
		ktgrpcv1.Admin_RemoveUpdateLogs_FullMethodName:  a,
	}
}

// guard checks callers and limits; it is built once per Server.
type guard struct {
	opts   Options
	rights map[string]access.Rights
	rates  *rateLimiter
}

func (s *Server) newGuard() *guard {
	g := &guard{opts: s.opts, rights: methodRights()}
	if s.opts.Limits.Rate > 0 {
		g.rates = &rateLimiter{limit: rate.Limit(s.opts.Limits.Rate), burst: max(s.opts.Limits.Burst, 1), byName: map[string]*rate.Limiter{}}
	}
	return g
}

// authenticate finds the caller: a bearer token in the authorization
// metadata, else a verified client certificate named in the tokens file.
func (g *guard) authenticate(ctx context.Context) (context.Context, error) {
	table := g.opts.Access()
	if token, err := auth.AuthFromMD(ctx, "bearer"); err == nil {
		if p, ok := table.Token(token); ok {
			recordCaller(ctx, p.Name)
			return access.NewContext(ctx, p), nil
		}
		return nil, status.Error(codes.Unauthenticated, "unknown bearer token")
	}
	if cert := peerCertificate(ctx); cert != nil {
		if p, ok := table.Certificate(cert); ok {
			recordCaller(ctx, p.Name)
			return access.NewContext(ctx, p), nil
		}
		return nil, status.Errorf(codes.Unauthenticated, "client certificate %q is not in the tokens file and no bearer token was sent", cert.Subject.CommonName)
	}
	return nil, status.Error(codes.Unauthenticated, `no credential: send "authorization: Bearer <token>" metadata`)
}

// peerCertificate returns the verified client certificate of the call's
// connection, if any.
func peerCertificate(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	if _, ok := p.AuthInfo.(inprocAuthInfo); ok {
		return inprocCertificate(ctx)
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

// needs is the right a method needs; ok is false for the probe services.
func (g *guard) needs(fullMethod string) (access.Rights, bool) {
	if !strings.HasPrefix(fullMethod, "/ktgrpc.") {
		return 0, false
	}
	if r, ok := g.rights[fullMethod]; ok {
		return r, true
	}
	return access.Admin, true
}

// allow checks the read-only mode and the caller's rights for need.
func (g *guard) allow(ctx context.Context, fullMethod string, need access.Rights) error {
	if changing := need & (access.Write | access.Admin); g.opts.ReadOnly && changing != 0 {
		return status.Errorf(codes.PermissionDenied, "the gateway is read-only: %s needs the %s right", fullMethod, changing)
	}
	if g.opts.Access == nil {
		return nil
	}
	p, ok := access.FromContext(ctx)
	if !ok {
		// Authentication runs before for every ktgrpc method; failing
		// closed keeps a mistake in the chain from opening the gateway.
		return status.Errorf(codes.Unauthenticated, "%s: the caller was not authenticated", fullMethod)
	}
	if missing := need &^ p.Rights; missing != 0 {
		return status.Errorf(codes.PermissionDenied, "caller %q lacks the %s right that %s needs (it has %s)", p.Name, missing, fullMethod, p.Rights)
	}
	return nil
}

// requestRights is what a request needs beyond its method's right.
func requestRights(req any) access.Rights {
	switch m := req.(type) {
	case *ktgrpcv1.TableSearchRequest:
		if m.GetAction() == ktgrpcv1.SearchAction_SEARCH_ACTION_DELETE {
			return access.Write
		}
	case *ktgrpcv1.OpenRequest:
		switch m.GetOperation() {
		case ktgrpcv1.CursorOperation_CURSOR_OPERATION_SET_VALUE,
			ktgrpcv1.CursorOperation_CURSOR_OPERATION_REMOVE,
			ktgrpcv1.CursorOperation_CURSOR_OPERATION_SEIZE:
			return access.Write
		}
	}
	return 0
}

func (g *guard) unaryRights(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	need, ok := g.needs(info.FullMethod)
	if ok {
		if err := g.allow(ctx, info.FullMethod, need|requestRights(req)); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func (g *guard) streamRights(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	need, ok := g.needs(info.FullMethod)
	if !ok {
		return handler(srv, ss)
	}
	if err := g.allow(ss.Context(), info.FullMethod, need); err != nil {
		return err
	}
	return handler(srv, &checkedStream{ServerStream: ss, g: g, method: info.FullMethod, need: need})
}

// checkedStream checks the rights of each message a client streams in.
type checkedStream struct {
	grpc.ServerStream
	g      *guard
	method string
	need   access.Rights
}

// RecvMsg refuses a message that needs more rights than the call's own.
func (st *checkedStream) RecvMsg(m any) error {
	if err := st.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if extra := requestRights(m); extra&^st.need != 0 {
		return st.g.allow(st.Context(), st.method, st.need|extra)
	}
	return nil
}

// rateLimiter keeps one token bucket per caller name. Names come from the
// tokens file, so the map stays as small as the file.
type rateLimiter struct {
	limit  rate.Limit
	burst  int
	mu     sync.Mutex
	byName map[string]*rate.Limiter
}

// Limit implements ratelimit.Limiter.
func (l *rateLimiter) Limit(ctx context.Context) error {
	p, _ := access.FromContext(ctx)
	l.mu.Lock()
	lim, ok := l.byName[p.Name]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byName[p.Name] = lim
	}
	l.mu.Unlock()
	if lim.Allow() {
		return nil
	}
	who := "anonymous callers"
	if p.Name != "" {
		who = fmt.Sprintf("caller %q", p.Name)
	}
	return fmt.Errorf("%s exceeded the rate limit (--rate-limit) of %g requests/s with bursts of %d", who, float64(l.limit), l.burst)
}

// errDeadlineLimit is the cause of a context cut short by MaxDeadline or
// DefaultDeadline.
var errDeadlineLimit = errors.New("deadline limit")

func (g *guard) unaryDeadline(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	lim := g.opts.Limits
	d, has := ctx.Deadline()
	var (
		set  time.Duration
		name string
	)
	switch {
	case !has && lim.DefaultDeadline > 0:
		set, name = lim.DefaultDeadline, "--default-deadline"
		if lim.MaxDeadline > 0 && lim.MaxDeadline < set {
			set, name = lim.MaxDeadline, "--max-deadline"
		}
	case lim.MaxDeadline > 0 && (!has || time.Until(d) > lim.MaxDeadline):
		set, name = lim.MaxDeadline, "--max-deadline"
	}
	if set == 0 {
		return handler(ctx, req)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, set, errDeadlineLimit)
	defer cancel()
	resp, err := handler(ctx, req)
	if err != nil && errors.Is(context.Cause(ctx), errDeadlineLimit) {
		return nil, status.Errorf(codes.DeadlineExceeded, "%s ran past the gateway's deadline limit (%s) of %v", info.FullMethod, name, set)
	}
	return resp, err
}

func (g *guard) unaryBulk(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	n, field := 0, "keys"
	switch m := req.(type) {
	case *ktgrpcv1.GetBulkRequest:
		n = len(m.GetKeys())
	case *ktgrpcv1.SetBulkRequest:
		n, field = len(m.GetRecords()), "records"
	case *ktgrpcv1.RemoveBulkRequest:
		n = len(m.GetKeys())
	}
	if max := g.opts.Limits.MaxBulkKeys; n > max {
		return nil, invalidField(field, "%d keys in one request exceed the gateway's limit (--max-bulk-keys) of %d; split the request", n, max)
	}
	return handler(ctx, req)
}

type streamCountKey struct{}

// streamCounter is a stats handler that gives every connection a counter
// of its open streaming calls.
type streamCounter struct{}

func (streamCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (streamCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (streamCounter) HandleConn(context.Context, stats.ConnStats)                     {}
func (streamCounter) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	// Every HTTP/JSON caller shares the in-process connection: counting
	// them together would let one caller's streams refuse another's.
	if _, ok := info.LocalAddr.(inprocAddr); ok {
		return ctx
	}
	return context.WithValue(ctx, streamCountKey{}, new(atomic.Int64))
}

func (g *guard) streamsPerConnection(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	n, ok := ss.Context().Value(streamCountKey{}).(*atomic.Int64)
	if !ok {
		return handler(srv, ss)
	}
	defer n.Add(-1)
	if max := int64(g.opts.Limits.MaxStreamsPerConnection); n.Add(1) > max {
		return limitExceeded("max-streams-per-connection", "this connection already has the gateway's limit (--max-streams-per-connection) of %d streams open; end one or open another connection", max)
	}
	return handler(srv, ss)
}

// notProbe selects the calls that are not health checks or reflection.
func notProbe() selector.Matcher {
	return selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return !isProbeService(c.FullMethod())
	})
}

// authSelector selects the calls that must authenticate.
func (g *guard) authSelector() selector.Matcher {
	if g.opts.AuthenticateHealth {
		return selector.MatchFunc(func(context.Context, interceptors.CallMeta) bool { return true })
	}
	return notProbe()
}

// unaryGuards are the interceptors that check callers and limits, in order.
func (s *Server) unaryGuards(obs *observability) []grpc.UnaryServerInterceptor {
	var out []grpc.UnaryServerInterceptor
	if s.opts.Access != nil {
		out = append(out, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(s.guard.authenticate), s.guard.authSelector()))
	}
	return append(out, s.unaryChecks(obs)...)
}

// unaryChecks are the unaryGuards that follow authentication; KV.Pipeline
// applies them to each request it carries, as to the unary call.
func (s *Server) unaryChecks(obs *observability) []grpc.UnaryServerInterceptor {
	g := s.guard
	var out []grpc.UnaryServerInterceptor
	if s.opts.Access != nil || s.opts.ReadOnly {
		out = append(out, g.unaryRights)
	}
	if g.rates != nil {
		out = append(out, selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(g.rates), notProbe()))
	}
	if s.opts.Limits.DefaultDeadline > 0 || s.opts.Limits.MaxDeadline > 0 {
		out = append(out, g.unaryDeadline)
	}
	if s.opts.Limits.MaxBulkKeys > 0 {
		out = append(out, g.unaryBulk)
	}
	return append(out, obs.unaryRoundTrips()...)
}

// streamGuards are unaryGuards for streaming calls.
func (s *Server) streamGuards(obs *observability) []grpc.StreamServerInterceptor {
	g := s.guard
	var out []grpc.StreamServerInterceptor
	if s.opts.Access != nil {
		out = append(out, selector.StreamServerInterceptor(auth.StreamServerInterceptor(g.authenticate), g.authSelector()))
	}
	if s.opts.Access != nil || s.opts.ReadOnly {
		out = append(out, g.streamRights)
	}
	if g.rates != nil {
		out = append(out, selector.StreamServerInterceptor(ratelimit.StreamServerInterceptor(g.rates), notProbe()))
	}
	if s.opts.Limits.MaxStreamsPerConnection > 0 {
		out = append(out, g.streamsPerConnection)
	}
	return append(out, obs.streamRoundTrips()...)
}

// streamCounterOptions installs the per-connection stream counter when the
// limit is set.
func (o Options) streamCounterOptions() []grpc.ServerOption {
	if o.Limits.MaxStreamsPerConnection <= 0 {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(streamCounter{})}
}

// unaryCallerEnded and streamCallerEnded give a call that ended because
// its caller cancelled it or its deadline passed the matching code, where
// a handler (or a service registered beside ktgrpc's) returned the bare
// context error, which gRPC would report as UNKNOWN and the log as an
// error.
func unaryCallerEnded(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, callerEnded(ctx, err)
}

func streamCallerEnded(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return callerEnded(ss.Context(), handler(srv, ss))
}

func callerEnded(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(ctx.Err()).Err()
	}
	return err
}
