package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// FuzzPublishPayload sends arbitrary bytes as the payload of each event
// type: the gateway accepts or rejects them, and keeps serving.
func FuzzPublishPayload(f *testing.F) {
	s := start(f)
	valid, err := proto.Marshal(playerRegistered())
	if err != nil {
		f.Fatal(err)
	}
	answer, err := proto.Marshal(&huntv1.AnswerSubmitted{HuntId: newUUID(), PlayerId: newUUID(), ClueId: newUUID(), Answer: &huntv1.AnswerSubmitted_Text{Text: "x"}})
	if err != nil {
		f.Fatal(err)
	}
	types := []string{
		"cairn.hunt.v1.PlayerRegistered", "cairn.hunt.v1.AnswerSubmitted", "cairn.hunt.v1.HuntCreated",
		"cairn.hunt.v1.ClueUnlocked", "cairn.hunt.v1.GeoPoint", "google.protobuf.Empty",
	}
	f.Add(uint8(0), valid)
	f.Add(uint8(1), answer)
	f.Add(uint8(2), []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(uint8(3), []byte{})
	f.Add(uint8(4), []byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, which uint8, value []byte) {
		req := event(t, playerRegistered())
		req.Event.Payload = &anypb.Any{TypeUrl: "type.googleapis.com/" + types[int(which)%len(types)], Value: value}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := s.client.Publish(ctx, req)
		switch code := status.Code(err); {
		case code == codes.OK, code == codes.InvalidArgument:
		case code == codes.PermissionDenied && strings.HasSuffix(req.Event.Payload.TypeUrl, ".ClueUnlocked"): // derived
		default:
			t.Fatalf("Publish of %x as %s = %v, want OK or InvalidArgument", value, req.Event.Payload.TypeUrl, err)
		}
	})
}

// rawCodec sends bytes as they are, so that the server decodes them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// FuzzPublishEnvelope sends arbitrary bytes as a PublishRequest: the
// gateway answers every call and keeps serving.
func FuzzPublishEnvelope(f *testing.F) {
	s := start(f)
	for _, m := range []proto.Message{
		event(f, playerRegistered()),
		&gatewayv1.PublishRequest{},
		&gatewayv1.PublishRequest{Event: &gatewayv1.Event{EventId: "x", Headers: map[string]string{"cairn-x": "y"}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x80})
	f.Add([]byte{0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe}) // event.event_id is not UTF-8
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var reply []byte
		err := s.conn.Invoke(ctx, gatewayv1.EventGateway_Publish_FullMethodName, &body, &reply, grpc.ForceCodec(rawCodec{}))
		switch status.Code(err) {
		case codes.OK, codes.InvalidArgument: // InvalidArgument: also when the request is not a PublishRequest
		default:
			t.Fatalf("Publish of %x = %v", body, err)
		}
		if _, err := s.client.Publish(ctx, event(t, playerRegistered())); err != nil {
			t.Fatalf("Publish after %x: %v", body, err)
		}
	})
}
