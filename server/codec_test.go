package server_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
	"github.com/ktgrpc/ktgrpc/test/gatewaytest"
)

// rawCodec sends *[]byte as they are and receives into *[]byte, so that a
// test can put any bytes on the wire as a request message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// TestMalformedRequestsAreInvalidArgument sends request bytes that are not
// valid protobuf, or not valid for the message's schema, through a real gRPC
// connection to unary, server-streaming and bidirectional methods. Each must
// answer INVALID_ARGUMENT naming the message and the kind of fault, and the
// gateway must go on serving.
func TestMalformedRequestsAreInvalidArgument(t *testing.T) {
	f := &fake{}
	_, conn := gatewaytest.StartServer(t, f, quiet)
	const (
		get       = "/ktgrpc.v1.KV/Get"
		set       = "/ktgrpc.v1.KV/Set"
		getBulk   = "/ktgrpc.v1.KV/GetBulk"
		match     = "/ktgrpc.v1.KV/MatchKeys"
		status_   = "/ktgrpc.v1.Admin/Status"
		call      = "/ktgrpc.v1.Script/Call"
		scan      = "/ktgrpc.v1.Cursor/Scan"
		open      = "/ktgrpc.v1.Cursor/Open"
		subscribe = "/ktgrpc.v1.Replication/Subscribe"
	)
	notProto := "not a valid protobuf encoding"
	notUTF8 := "not valid UTF-8"
	cases := []struct {
		name   string
		method string
		msg    []byte
		want   string
	}{
		{"garbage", get, []byte{0xff, 0xff, 0xff, 0xff}, notProto},
		{"text instead of protobuf", get, []byte(`{"db":"x","key":"a"}`), notProto},
		{"truncated varint tag", get, []byte{0x80}, notProto},
		{"truncated varint value", set, []byte{0x30, 0x80}, notProto},
		{"overlong varint", set, append([]byte{0x30}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), notProto},
		{"length beyond message", get, []byte{0x12, 0x10, 'a'}, notProto},
		{"huge length", get, []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}, notProto},
		{"field number zero", get, []byte{0x00, 0x01}, notProto},
		{"wire type 6", get, []byte{0x0e, 0x01}, notProto},
		{"wire type 7", get, []byte{0x0f}, notProto},
		{"end group without start", get, []byte{0x0c}, notProto},
		{"unterminated group", get, []byte{0x7b, 0x08, 0x01}, notProto},
		{"truncated fixed64", get, []byte{0x79, 0x01, 0x02}, notProto},
		{"truncated fixed32", get, []byte{0x7d, 0x01}, notProto},
		{"invalid UTF-8 in db", get, []byte{0x0a, 0x02, 0xff, 0xfe}, notUTF8},
		{"invalid UTF-8 in db of a bulk read", getBulk, []byte{0x0a, 0x01, 0xc0, 0x12, 0x01, 'k'}, notUTF8},
		{"invalid UTF-8 in regex", match, []byte{0x1a, 0x03, 'a', 0xe2, 0x28}, notUTF8},
		{"invalid UTF-8 in admin db", status_, []byte{0x0a, 0x01, 0x80}, notUTF8},
		{"invalid UTF-8 in procedure name", call, []byte{0x0a, 0x02, 0xed, 0xa0}, notUTF8},
		{"nested message truncated", set, []byte{0x12, 0x01, 'k', 0x22, 0x05, 0x08, 0x01}, notProto},
		{"nested message garbage", set, []byte{0x12, 0x01, 'k', 0x22, 0x02, 0xff, 0xff}, notProto},
		{"repeated bytes truncated", getBulk, []byte{0x12, 0x01, 'a', 0x12, 0x05, 'b'}, notProto},
		{"scan: invalid UTF-8 in db", scan, []byte{0x0a, 0x01, 0xff}, notUTF8},
		{"scan: truncated", scan, []byte{0x10}, notProto},
		{"cursor: garbage", open, []byte{0xff}, notProto},
		{"cursor: invalid UTF-8 in db", open, []byte{0x0a, 0x01, 0xff, 0x10, 0x01}, notUTF8},
		{"subscribe: invalid UTF-8 in a dbs entry", subscribe, []byte{0x1a, 0x01, 0xfe}, notUTF8},
		{"subscribe: truncated", subscribe, []byte{0x08}, notProto},
	}
	streams := map[string]*grpc.StreamDesc{
		scan:      {ServerStreams: true},
		subscribe: {ServerStreams: true},
		open:      {ServerStreams: true, ClientStreams: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			var err error
			if desc, ok := streams[tc.method]; ok {
				err = rawStream(ctx, conn, desc, tc.method, tc.msg)
			} else {
				var reply []byte
				err = conn.Invoke(ctx, tc.method, &tc.msg, &reply, grpc.ForceCodecV2(rawCodec{}))
			}
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("got %v %q, want InvalidArgument", st.Code(), st.Message())
			}
			if testing.Verbose() {
				t.Log(st.Message())
			}
			name := tc.method[strings.LastIndex(tc.method, "/")+1:]
			name += "Request"
			for _, part := range []string{"ktgrpc.v1." + name, tc.want} {
				if !strings.Contains(st.Message(), part) {
					t.Fatalf("message %q does not mention %q", st.Message(), part)
				}
			}
		})
	}
	// The gateway still serves well-formed requests.
	if _, err := ktgrpcv1.NewKVClient(conn).Get(t.Context(), &ktgrpcv1.GetRequest{Key: []byte("k")}); err != nil {
		t.Fatalf("Get after the malformed requests: %v", err)
	}
}

// rawStream opens a stream, sends msg as the first request and returns the
// error that ends the stream.
func rawStream(ctx context.Context, conn *grpc.ClientConn, desc *grpc.StreamDesc, method string, msg []byte) error {
	s, err := conn.NewStream(ctx, desc, method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	if err := s.SendMsg(&msg); err != nil && err != io.EOF {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	var reply []byte
	for {
		if err := s.RecvMsg(&reply); err != nil {
			if err == io.EOF {
				return fmt.Errorf("stream ended without an error")
			}
			return err
		}
	}
}
