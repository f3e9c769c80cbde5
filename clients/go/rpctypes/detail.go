package rpctypes

import (
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// appendDetail adds m to the details of p.
func appendDetail(p *spb.Status, m proto.Message) error {
	a, err := anypb.New(m)
	if err != nil {
		return err
	}
	p.Details = append(p.Details, a)
	return nil
}
