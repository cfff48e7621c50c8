package gateway

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

func TestInvalidUTF8Path(t *testing.T) {
	t.Parallel()
	valid := func() *gatewayv1.Event {
		return &gatewayv1.Event{EventId: "id", OccurredAt: timestamppb.Now(), Payload: &anypb.Any{TypeUrl: "type.googleapis.com/a.B", Value: []byte{0xff}},
			Headers: map[string]string{"k": "v"}}
	}
	const bad = "MARK" // replaced, once encoded, by bytes that are not UTF-8
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"valid", &gatewayv1.PublishRequest{Event: valid()}, ""},
		{"event id", &gatewayv1.PublishRequest{Event: func() *gatewayv1.Event { e := valid(); e.EventId = bad; return e }()}, "event.event_id"},
		{"header value", &gatewayv1.PublishRequest{Event: func() *gatewayv1.Event { e := valid(); e.Headers["h"] = bad; return e }()}, `event.headers["h"]`},
		{"header key", &gatewayv1.PublishRequest{Event: func() *gatewayv1.Event { e := valid(); e.Headers[bad] = "v"; return e }()}, "event.headers (a key)"},
		{"third event", &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{valid(), valid(), func() *gatewayv1.Event { e := valid(); e.Payload.TypeUrl = bad; return e }()}}, "events[2].payload.type_url"},
	}
	for _, tt := range tests {
		b, err := proto.Marshal(tt.msg)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		b = bytes.Replace(b, []byte(bad), []byte{0xff, 0xfe, 0xff, 0xfe}, 1)
		if got := invalidUTF8(tt.msg.ProtoReflect().Descriptor(), b); got != tt.want {
			t.Errorf("%s: path = %q, want %q", tt.name, got, tt.want)
		}
	}
	// Bytes that are not a message give no path, and no panic.
	for _, b := range [][]byte{{0x0a, 0x80}, {0x0a, 0x05, 0x0a}, {0xff, 0xff, 0xff}} {
		if got := invalidUTF8((&gatewayv1.PublishRequest{}).ProtoReflect().Descriptor(), b); got != "" {
			t.Errorf("invalidUTF8(%x) = %q, want none", b, got)
		}
	}
}

// BenchmarkUnmarshal compares decoding a PublishRequest with gRPC's proto
// codec and with the gateway's, which wraps it.
func BenchmarkUnmarshal(b *testing.B) {
	a, err := anypb.New(timestamppb.Now())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := proto.Marshal(&gatewayv1.PublishRequest{Event: &gatewayv1.Event{
		EventId: "7c9e6679-7425-40de-944b-e07fc1f90ae7", OccurredAt: timestamppb.Now(), Payload: a,
		Headers: map[string]string{"client-version": "1.4.2"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	data := mem.BufferSlice{mem.SliceBuffer(raw)}
	b.Run("grpc", func(b *testing.B) {
		c := encoding.GetCodecV2(grpcproto.Name)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Unmarshal(data, new(gatewayv1.PublishRequest)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gateway", func(b *testing.B) {
		c := newCodec()
		var r request
		b.ReportAllocs()
		for b.Loop() {
			if err := r.receive("EventGateway", new(gatewayv1.PublishRequest), func(v any) error { return c.Unmarshal(data, v) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
