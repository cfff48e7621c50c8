package gateway_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// corrupt marshals m and replaces the first occurrence of mark, which must
// be in one of its string fields, with as many bytes that are not UTF-8.
func corrupt(t *testing.T, m proto.Message, mark string) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(mark)) {
		t.Fatalf("%q is not in the encoded %T", mark, m)
	}
	return bytes.Replace(b, []byte(mark), bytes.Repeat([]byte{0xff}, len(mark)), 1)
}

// TestHostileInvalidUTF8InEnvelope sends requests whose string fields are
// not UTF-8, as raw bytes over a real connection: each is InvalidArgument
// naming the field, not Internal, and the gateway goes on serving.
func TestHostileInvalidUTF8InEnvelope(t *testing.T) {
	t.Parallel()
	s := start(t)
	const mark = "MARKMARK"
	valid := func() *gatewayv1.Event {
		ev := newEvent(t, newUUID(), player(newUUID(), "Ada"))
		ev.Headers = map[string]string{"client-version": "1.4.2"}
		return ev
	}
	headerValue := valid()
	headerValue.Headers["client-version"] = mark
	headerKey := valid()
	headerKey.Headers[mark] = "x"
	eventID := valid()
	eventID.EventId = mark
	typeURL := valid()
	typeURL.Payload.TypeUrl = "type.googleapis.com/" + mark

	unary := []struct {
		name, method string
		req          proto.Message
		path         string
	}{
		{"header value", "Publish", &gatewayv1.PublishRequest{Event: headerValue}, `event.headers["client-version"]`},
		{"header key", "Publish", &gatewayv1.PublishRequest{Event: headerKey}, "event.headers (a key)"},
		{"event id", "Publish", &gatewayv1.PublishRequest{Event: eventID}, "event.event_id"},
		{"type url", "Publish", &gatewayv1.PublishRequest{Event: typeURL}, "event.payload.type_url"},
		{"second event of a batch", "PublishBatch", &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{valid(), eventID}}, "events[1].event_id"},
	}
	for _, tt := range unary {
		var out []byte
		in := corrupt(t, tt.req, mark)
		err := s.conn.Invoke(t.Context(), "/cairn.gateway.v1.EventGateway/"+tt.method, &in, &out, grpc.ForceCodec(rawCodec{}))
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "request is not a valid EventGateway message: "+tt.path+": ") ||
			!strings.Contains(st.Message(), "UTF-8") {
			t.Errorf("%s: %s = %v, want InvalidArgument naming %s and UTF-8", tt.name, tt.method, err, tt.path)
		}
	}

	// A stream ends with InvalidArgument at the message that is not one.
	stream, err := s.conn.NewStream(t.Context(), &gatewayv1.EventGateway_ServiceDesc.Streams[0], "/cairn.gateway.v1.EventGateway/PublishStream", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	in := corrupt(t, &gatewayv1.PublishStreamRequest{Event: headerValue}, mark)
	if err := stream.SendMsg(&in); err != nil && err != io.EOF {
		t.Fatalf("send: %v", err)
	}
	var out []byte
	if err := stream.RecvMsg(&out); status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), `event.headers["client-version"]`) {
		t.Errorf("PublishStream of a message that is not UTF-8 = %v, want InvalidArgument naming the header", err)
	}

	// Every service on the gateway's port answers so, health included.
	check := corrupt(t, &healthpb.HealthCheckRequest{Service: mark}, mark)
	err = s.conn.Invoke(t.Context(), "/grpc.health.v1.Health/Check", &check, &out, grpc.ForceCodec(rawCodec{}))
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "request is not a valid Health message: service: ") {
		t.Errorf("Health.Check with a service name that is not UTF-8 = %v, want InvalidArgument naming service", err)
	}

	// The gateway goes on serving.
	if _, err := s.client.Publish(t.Context(), &gatewayv1.PublishRequest{Event: valid()}); err != nil {
		t.Fatalf("Publish after the bad requests: %v", err)
	}

	// The gateway's codec is its own: another server in the process still
	// has gRPC's, which answers Internal.
	other := grpc.NewServer()
	healthpb.RegisterHealthServer(other, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- other.Serve(lis) }()
	t.Cleanup(func() {
		other.Stop()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Invoke(t.Context(), "/grpc.health.v1.Health/Check", &check, &out, grpc.ForceCodec(rawCodec{}))
	if status.Code(err) != codes.Internal {
		t.Errorf("another server's Health.Check = %v, want gRPC's own Internal: the gateway must not change the process's codec", err)
	}
}
