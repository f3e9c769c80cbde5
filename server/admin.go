package server

import (
	"context"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

type adminService struct {
	ktgrpcv1.UnimplementedAdminServer
	s *Server
}

func (a *adminService) Status(ctx context.Context, req *ktgrpcv1.StatusRequest) (*ktgrpcv1.StatusResponse, error) {
	st, err := a.s.b.Status(ctx, req.GetDb())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.StatusResponse{Count: st.Count, Size: st.Size, Fields: st.Fields}, nil
}

func (a *adminService) Report(ctx context.Context, _ *ktgrpcv1.ReportRequest) (*ktgrpcv1.ReportResponse, error) {
	fields, err := a.s.b.Report(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.ReportResponse{Fields: fields}, nil
}

func (a *adminService) Clear(ctx context.Context, req *ktgrpcv1.ClearRequest) (*ktgrpcv1.ClearResponse, error) {
	if err := a.s.b.Clear(ctx, req.GetDb()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.ClearResponse{}, nil
}

func (a *adminService) Synchronize(ctx context.Context, req *ktgrpcv1.SynchronizeRequest) (*ktgrpcv1.SynchronizeResponse, error) {
	if err := a.s.b.Synchronize(ctx, req.GetDb(), req.GetHard(), req.GetCommand()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.SynchronizeResponse{}, nil
}

func (a *adminService) Vacuum(ctx context.Context, req *ktgrpcv1.VacuumRequest) (*ktgrpcv1.VacuumResponse, error) {
	if req.GetSteps() < 0 {
		return nil, invalidField("steps", "steps must not be negative, got %d; 0 means a full vacuum", req.GetSteps())
	}
	if err := a.s.b.Vacuum(ctx, req.GetDb(), req.GetSteps()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.VacuumResponse{}, nil
}

func (a *adminService) Databases(ctx context.Context, _ *ktgrpcv1.DatabasesRequest) (*ktgrpcv1.DatabasesResponse, error) {
	dbs, err := a.s.b.Databases(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := make([]*ktgrpcv1.DatabaseInfo, len(dbs))
	for i, d := range dbs {
		idx := d.Index
		if idx > math.MaxInt32 || idx < math.MinInt32 {
			return nil, status.Errorf(codes.Internal, "%s reported database index %d, beyond the API's int32", a.s.b.Name(), idx)
		}
		out[i] = &ktgrpcv1.DatabaseInfo{
			Index:   int32(idx),
			Name:    d.Name,
			Backend: d.Backend,
			Kind:    d.Kind,
			Healthy: d.Healthy,
			Error:   d.Error,
		}
	}
	return &ktgrpcv1.DatabasesResponse{Databases: out}, nil
}

// ttAdmin returns the backend's maintenance calls, or the Unimplemented
// status naming the capability.
func (a *adminService) ttAdmin(call string) (backend.TTAdmin, error) {
	return feature[backend.TTAdmin](a.s, backend.CapMaintenance, "Admin."+call)
}

// ktAdmin returns the backend's replication administration calls, or the
// Unimplemented status naming the capability.
func (a *adminService) ktAdmin(call string) (backend.KTAdmin, error) {
	return feature[backend.KTAdmin](a.s, backend.CapReplicationAdmin, "Admin."+call)
}

func (a *adminService) Optimize(ctx context.Context, req *ktgrpcv1.OptimizeRequest) (*ktgrpcv1.OptimizeResponse, error) {
	tt, err := a.ttAdmin("Optimize")
	if err != nil {
		return nil, err
	}
	if err := tt.Optimize(ctx, req.GetDb(), req.GetParams()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.OptimizeResponse{}, nil
}

func (a *adminService) Copy(ctx context.Context, req *ktgrpcv1.CopyRequest) (*ktgrpcv1.CopyResponse, error) {
	tt, err := a.ttAdmin("Copy")
	if err != nil {
		return nil, err
	}
	if req.GetPath() == "" {
		return nil, invalidField("path", "path must not be empty: name the destination on the backend's host")
	}
	if err := tt.Copy(ctx, req.GetDb(), req.GetPath()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.CopyResponse{}, nil
}

func (a *adminService) Restore(ctx context.Context, req *ktgrpcv1.RestoreRequest) (*ktgrpcv1.RestoreResponse, error) {
	tt, err := a.ttAdmin("Restore")
	if err != nil {
		return nil, err
	}
	if req.GetPath() == "" {
		return nil, invalidField("path", "path must not be empty: name the update-log directory on the backend's host")
	}
	if err := tt.Restore(ctx, req.GetDb(), req.GetPath(), req.GetPosition(), req.GetCheckConsistency()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.RestoreResponse{}, nil
}

func (a *adminService) SetMaster(ctx context.Context, req *ktgrpcv1.SetMasterRequest) (*ktgrpcv1.SetMasterResponse, error) {
	tt, err := a.ttAdmin("SetMaster")
	if err != nil {
		return nil, err
	}
	port, err := checkPort(req.GetHost(), req.GetPort())
	if err != nil {
		return nil, err
	}
	if err := tt.SetMaster(ctx, req.GetHost(), port, req.GetPosition(), req.GetCheckConsistency()); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.SetMasterResponse{}, nil
}

func (a *adminService) Misc(ctx context.Context, req *ktgrpcv1.MiscRequest) (*ktgrpcv1.MiscResponse, error) {
	tt, err := a.ttAdmin("Misc")
	if err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalidField("name", "name must not be empty: name the misc function, such as \"putlist\"")
	}
	results, succeeded, err := tt.Misc(ctx, req.GetDb(), req.GetName(), req.GetArgs(), req.GetNoUpdateLog())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.MiscResponse{Succeeded: succeeded, Results: results}, nil
}

func (a *adminService) TuneReplication(ctx context.Context, req *ktgrpcv1.TuneReplicationRequest) (*ktgrpcv1.TuneReplicationResponse, error) {
	kt, err := a.ktAdmin("TuneReplication")
	if err != nil {
		return nil, err
	}
	port, err := checkPort(req.GetHost(), req.GetPort())
	if err != nil {
		return nil, err
	}
	var interval time.Duration
	if iv := req.GetInterval(); iv != nil {
		if err := iv.CheckValid(); err != nil {
			return nil, invalidField("interval", "interval: %v", err)
		}
		if interval = iv.AsDuration(); interval < 0 {
			return nil, invalidField("interval", "interval must not be negative, got %v; 0 keeps the current interval", interval)
		}
	}
	if err := kt.TuneReplication(ctx, req.GetHost(), port, req.GetPosition(), interval); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.TuneReplicationResponse{}, nil
}

func (a *adminService) ListUpdateLogs(ctx context.Context, _ *ktgrpcv1.ListUpdateLogsRequest) (*ktgrpcv1.ListUpdateLogsResponse, error) {
	kt, err := a.ktAdmin("ListUpdateLogs")
	if err != nil {
		return nil, err
	}
	files, err := kt.ListUpdateLogs(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := make([]*ktgrpcv1.UpdateLogFile, len(files))
	for i, f := range files {
		out[i] = &ktgrpcv1.UpdateLogFile{Path: f.Path, Size: f.Size, MaxPosition: f.MaxPosition}
	}
	return &ktgrpcv1.ListUpdateLogsResponse{Files: out}, nil
}

func (a *adminService) RemoveUpdateLogs(ctx context.Context, req *ktgrpcv1.RemoveUpdateLogsRequest) (*ktgrpcv1.RemoveUpdateLogsResponse, error) {
	kt, err := a.ktAdmin("RemoveUpdateLogs")
	if err != nil {
		return nil, err
	}
	if err := kt.RemoveUpdateLogs(ctx, req.Before); err != nil {
		return nil, toStatus(err)
	}
	return &ktgrpcv1.RemoveUpdateLogsResponse{}, nil
}

// checkPort validates a master address; an empty host stops replication and
// needs no port.
func checkPort(host string, port uint32) (int, error) {
	if port > math.MaxUint16 {
		return 0, invalidField("port", "port must be at most %d, got %d", math.MaxUint16, port)
	}
	if host != "" && port == 0 {
		return 0, invalidField("port", "port must be set when host is %q", host)
	}
	return int(port), nil
}

func (a *adminService) ReplicationStatus(context.Context, *ktgrpcv1.ReplicationStatusRequest) (*ktgrpcv1.ReplicationStatusResponse, error) {
	st := a.s.hub.Stats()
	return &ktgrpcv1.ReplicationStatusResponse{
		Subscribers:          uint32(st.Subscribers),
		UpstreamConnections:  uint32(st.UpstreamConnections),
		CatchUpReaders:       uint32(st.CatchUpReaders),
		WindowEvents:         uint32(st.WindowEvents),
		WindowBytes:          uint64(st.WindowBytes),
		WindowOldestPosition: st.WindowOldest,
		Position:             st.Position,
		SlowSubscribersEnded: st.SlowSubscribersEnded,
		EventsDropped:        st.EventsDropped,
		UpstreamReconnects:   st.UpstreamReconnects,
	}, nil
}

func (a *adminService) Capabilities(context.Context, *ktgrpcv1.CapabilitiesRequest) (*ktgrpcv1.CapabilitiesResponse, error) {
	all := backend.AllCapabilities()
	out := make([]*ktgrpcv1.Capability, len(all))
	for i, c := range all {
		out[i] = &ktgrpcv1.Capability{Name: string(c), Description: c.Describe(), Offered: backend.Has(a.s.b, c)}
	}
	return &ktgrpcv1.CapabilitiesResponse{Backend: a.s.b.Name(), Capabilities: out}, nil
}
