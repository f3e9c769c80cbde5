package server

import (
	"context"

	"github.com/ktgrpc/ktgrpc/backend"
	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

type scriptService struct {
	ktgrpcv1.UnimplementedScriptServer
	s *Server
}

// lockMode converts the API's lock mode; unspecified means none.
func lockMode(m ktgrpcv1.LockMode) (backend.LockMode, bool) {
	switch m {
	case ktgrpcv1.LockMode_LOCK_MODE_UNSPECIFIED, ktgrpcv1.LockMode_LOCK_MODE_NONE:
		return backend.LockNone, true
	case ktgrpcv1.LockMode_LOCK_MODE_RECORD:
		return backend.LockRecord, true
	case ktgrpcv1.LockMode_LOCK_MODE_GLOBAL:
		return backend.LockGlobal, true
	}
	return 0, false
}

func (sc *scriptService) Call(ctx context.Context, req *ktgrpcv1.CallRequest) (*ktgrpcv1.CallResponse, error) {
	s := sc.s
	scripter, err := feature[backend.Scripter](s, backend.CapScripts, "Script.Call")
	if err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalidField("name", "name must not be empty: name the procedure to call")
	}
	lock, ok := lockMode(req.GetLock())
	if !ok {
		return nil, invalidField("lock", "lock is %v; use one of LOCK_MODE_NONE, LOCK_MODE_RECORD or LOCK_MODE_GLOBAL", req.GetLock())
	}
	if lock != backend.LockNone {
		// A backend without locks would run the procedure unlocked, which
		// is not what the caller asked for.
		if err := s.require(backend.CapScriptLocks, "Script.Call with lock "+req.GetLock().String()); err != nil {
			return nil, err
		}
	}
	args := make([]backend.Pair, len(req.GetArgs()))
	for i, a := range req.GetArgs() {
		if err := s.checkValue(indexed("args", i)+".key", a.GetKey()); err != nil {
			return nil, err
		}
		if err := s.checkValue(indexed("args", i)+".value", a.GetValue()); err != nil {
			return nil, err
		}
		args[i] = backend.Pair{Key: a.GetKey(), Value: a.GetValue()}
	}
	results, succeeded, err := scripter.CallScript(ctx, req.GetName(), args, lock)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ktgrpcv1.CallResponse{Succeeded: succeeded}
	if succeeded {
		resp.Results = make([]*ktgrpcv1.Pair, len(results))
		for i, r := range results {
			resp.Results[i] = &ktgrpcv1.Pair{Key: r.Key, Value: r.Value}
		}
	}
	return resp, nil
}
