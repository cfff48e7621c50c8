package gateway_test

import (
	"testing"

	"google.golang.org/grpc/metadata"
)

// TestRecordCarriesCallersTraceContextWhenNotTracing checks that a gateway
// without a tracer SDK passes the caller's trace context on to the record
// unchanged, and adds none when the caller sent none.
func TestRecordCarriesCallersTraceContextWhenNotTracing(t *testing.T) {
	t.Parallel()
	s := start(t)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name string
		md   metadata.MD
		want string
	}{
		{"with traceparent", metadata.Pairs("traceparent", parent), parent},
		{"without", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := metadata.NewOutgoingContext(t.Context(), tc.md)
			resp, err := s.client.Publish(ctx, event(t, player(newUUID(), "Ada")))
			if err != nil {
				t.Fatal(err)
			}
			m := readOne(t, consumer(t, s.broker.Addr()), resp.GetTopic(), resp.GetPartition(), resp.GetOffset())
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
