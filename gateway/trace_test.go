package gateway_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// TestRecordCarriesCallersTraceContextWhenNotTracing checks that a gateway
// without a tracer SDK passes the caller's trace context on to the record
// unchanged, and adds none when the caller sent none, through each way of
// publishing.
func TestRecordCarriesCallersTraceContextWhenNotTracing(t *testing.T) {
	t.Parallel()
	s := start(t)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	methods := map[string]func(ctx context.Context, ev *gatewayv1.Event) (*gatewayv1.Accepted, error){
		"Publish": func(ctx context.Context, ev *gatewayv1.Event) (*gatewayv1.Accepted, error) {
			resp, err := s.client.Publish(ctx, &gatewayv1.PublishRequest{Event: ev})
			return &gatewayv1.Accepted{Topic: resp.GetTopic(), Partition: resp.GetPartition(), Offset: resp.GetOffset()}, err
		},
		"PublishBatch": func(ctx context.Context, ev *gatewayv1.Event) (*gatewayv1.Accepted, error) {
			resp, err := s.client.PublishBatch(ctx, &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{ev}})
			if err != nil || len(resp.GetResults()) != 1 {
				return nil, err
			}
			return resp.GetResults()[0].GetAccepted(), nil
		},
		"PublishStream": func(ctx context.Context, ev *gatewayv1.Event) (*gatewayv1.Accepted, error) {
			stream, err := s.client.PublishStream(ctx)
			if err != nil {
				return nil, err
			}
			if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: ev}); err != nil {
				return nil, err
			}
			resp, err := stream.Recv()
			return resp.GetResult().GetAccepted(), err
		},
	}
	for name, publish := range methods {
		for _, tc := range []struct {
			name string
			md   metadata.MD
			want string
		}{
			{"with traceparent", metadata.Pairs("traceparent", parent), parent},
			{"without", nil, ""},
		} {
			t.Run(name+" "+tc.name, func(t *testing.T) {
				ctx := metadata.NewOutgoingContext(t.Context(), tc.md)
				acc, err := publish(ctx, newEvent(t, newUUID(), player(newUUID(), "Ada")))
				if err != nil || acc == nil {
					t.Fatalf("published: %v, %v", acc, err)
				}
				m := readOne(t, consumer(t, s.broker.Addr()), acc.GetTopic(), acc.GetPartition(), acc.GetOffset())
				var got string
				for _, h := range m.Headers {
					if h.Key == "traceparent" {
						got = string(h.Value)
					}
				}
				if got != tc.want {
					t.Errorf("traceparent = %q, want %q", got, tc.want)
				}
			})
		}
	}
}
