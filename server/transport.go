package server

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// DefaultKeepalive returns the keepalive parameters used when
// Options.Keepalive is nil.
//
// Subscribe and Cursor.Open streams live for hours, and each one holds a
// goroutine and a backend subscription or cursor. gRPC's own default pings
// an idle connection only after two hours, so a client that vanished without
// closing its connection (host lost, NAT or firewall state dropped) would
// keep them that long; TCP keepalive does not help when a proxy holds the
// TCP connection, nor while unacknowledged data is queued. Pinging after two
// quiet minutes and giving up 20 seconds later frees them within minutes, and
// the pings also keep middleboxes from timing out a quiet cursor stream.
//
// MaxConnectionIdle and MaxConnectionAge stay unset (infinite): a connection
// closed by age would end its streams, and an open cursor's position cannot
// be carried over to a new connection.
func DefaultKeepalive() keepalive.ServerParameters {
	return keepalive.ServerParameters{
		Time:    2 * time.Minute,
		Timeout: 20 * time.Second,
	}
}

// DefaultKeepalivePolicy returns the keepalive enforcement used when
// Options.KeepalivePolicy is nil.
//
// gRPC's default allows a client ping only every five minutes and closes the
// connection of a client that pings more often (GOAWAY "too_many_pings").
// Clients that hold a stream open through a load balancer or NAT with an idle
// timeout of a minute or two must ping more often than that, so pings every
// 30 seconds are allowed, which still stops a client from flooding the
// server. PermitWithoutStream lets a client keep an idle connection warm
// between calls (a watcher about to resume, a connection pool) instead of
// being disconnected for it.
func DefaultKeepalivePolicy() keepalive.EnforcementPolicy {
	return keepalive.EnforcementPolicy{
		MinTime:             30 * time.Second,
		PermitWithoutStream: true,
	}
}

// transportOptions are the gRPC server options that Options asks for about
// connections rather than calls.
func (o Options) transportOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(*o.Keepalive),
		grpc.KeepaliveEnforcementPolicy(*o.KeepalivePolicy),
	}
	// The HTTP/JSON gateway's in-process connection skips the handshake
	// and is known by its AuthInfo, TLS or not.
	creds := o.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts = append(opts, grpc.Creds(inprocCreds{creds}))
	if o.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(o.MaxConcurrentStreams))
	}
	return append(opts, o.streamCounterOptions()...)
}
