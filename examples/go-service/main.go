// Command go-service shows how an internal service publishes its team's
// events through Cairn: the generated EventGateway client, the team's own
// generated types packed in Any, an API key from the environment, an event
// id chosen once per event and kept across retries (so a retry after an
// UNAVAILABLE cannot publish an event twice), PublishBatch for bulk work,
// and each event's result read and logged.
//
//	CAIRN_GATEWAY_ADDR=127.0.0.1:50051 CAIRN_API_KEY=cairn-dev-key-0000-not-a-secret go run ./examples/go-service
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	shopv1 "github.com/cairnhq/cairn/examples/schema-repo/gen/go/shop/v1"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

func main() {
	orders := flag.Int("orders", 5, "how many orders to place and ship")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), log, *orders); err != nil {
		log.Error("go-service failed", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, orders int) error {
	addr := os.Getenv("CAIRN_GATEWAY_ADDR")
	if addr == "" {
		addr = "127.0.0.1:50051"
	}
	key := os.Getenv("CAIRN_API_KEY")
	if key == "" {
		return errors.New("CAIRN_API_KEY is not set: the gateway needs the service's API key")
	}
	// Use TLS credentials when the gateway is reached over a network you
	// do not control.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("gateway %s: %w", addr, err)
	}
	defer conn.Close()
	client := gatewayv1.NewEventGatewayClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "x-api-key", key)

	// One event at a time: an order is placed.
	placed := make([]string, 0, orders)
	for i := range orders {
		orderID := fmt.Sprintf("order-%d-%d", time.Now().Unix(), i)
		ev, err := newEvent(&shopv1.OrderPlaced{
			OrderId:    orderID,
			CustomerId: fmt.Sprintf("customer-%d", i%3),
			Total:      &shopv1.Money{Currency: "EUR", MinorUnits: int64(1999 + 100*i)},
			PlacedAt:   timestamppb.Now(),
		})
		if err != nil {
			return err
		}
		resp, err := publish(ctx, log, client, ev)
		if err != nil {
			return fmt.Errorf("publish OrderPlaced %s: %w", orderID, err)
		}
		log.Info("accepted", "type", "shop.v1.OrderPlaced", "event_id", ev.GetEventId(), "order_id", orderID,
			"topic", resp.GetTopic(), "partition", resp.GetPartition(), "offset", resp.GetOffset())
		placed = append(placed, orderID)
	}

	// Bulk work: the warehouse ships every order in one batch. Each event
	// gets its own result; a rejected one does not stop the others.
	batch := &gatewayv1.PublishBatchRequest{}
	for _, orderID := range placed {
		ev, err := newEvent(&shopv1.OrderShipped{OrderId: orderID, Carrier: "postnl", TrackingCode: "3S" + orderID})
		if err != nil {
			return err
		}
		batch.Events = append(batch.Events, ev)
	}
	results, err := publishBatch(ctx, log, client, batch)
	if err != nil {
		return fmt.Errorf("publish the shipments: %w", err)
	}
	rejected := 0
	for _, r := range results.GetResults() {
		switch {
		case r.GetAccepted() != nil:
			a := r.GetAccepted()
			log.Info("accepted", "type", "shop.v1.OrderShipped", "event_id", r.GetEventId(), "topic", a.GetTopic(), "partition", a.GetPartition(), "offset", a.GetOffset())
		default:
			rejected++
			rj := r.GetRejected()
			log.Warn("rejected", "type", "shop.v1.OrderShipped", "event_id", r.GetEventId(), "code", codes.Code(rj.GetCode()), "message", rj.GetMessage(), "violations", rj.GetViolations().GetViolations())
		}
	}
	if rejected > 0 {
		return fmt.Errorf("%d of %d shipments were rejected", rejected, len(results.GetResults()))
	}
	log.Info("done", "orders", len(placed))
	return nil
}

// newEvent wraps a payload in an event with a fresh id. The id is chosen
// here, once: every retry sends the same id, and the gateway answers a
// repeat with the first outcome instead of publishing it again.
func newEvent(payload proto.Message) (*gatewayv1.Event, error) {
	packed, err := anypb.New(payload)
	if err != nil {
		return nil, fmt.Errorf("pack %T: %w", payload, err)
	}
	return &gatewayv1.Event{EventId: newUUID(), OccurredAt: timestamppb.Now(), Payload: packed}, nil
}

// publish sends one event, retrying UNAVAILABLE with backoff.
func publish(ctx context.Context, log *slog.Logger, c gatewayv1.EventGatewayClient, ev *gatewayv1.Event) (*gatewayv1.PublishResponse, error) {
	return retry(ctx, log, func(ctx context.Context) (*gatewayv1.PublishResponse, error) {
		return c.Publish(ctx, &gatewayv1.PublishRequest{Event: ev})
	})
}

// publishBatch sends a batch, retrying UNAVAILABLE with backoff. The
// events keep their ids, so events accepted before the failure are not
// published twice.
func publishBatch(ctx context.Context, log *slog.Logger, c gatewayv1.EventGatewayClient, req *gatewayv1.PublishBatchRequest) (*gatewayv1.PublishBatchResponse, error) {
	return retry(ctx, log, func(ctx context.Context) (*gatewayv1.PublishBatchResponse, error) {
		return c.PublishBatch(ctx, req)
	})
}

// retry calls call until it succeeds, fails with anything but UNAVAILABLE,
// or five attempts are spent, waiting 100ms, 200ms, 400ms… in between.
func retry[T any](ctx context.Context, log *slog.Logger, call func(context.Context) (T, error)) (T, error) {
	const attempts = 5
	var (
		resp T
		err  error
	)
	for attempt := range attempts {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err = call(callCtx)
		cancel()
		if status.Code(err) != codes.Unavailable || attempt == attempts-1 {
			return resp, err
		}
		wait := time.Duration(100*math.Pow(2, float64(attempt))) * time.Millisecond
		log.Warn("gateway unavailable; retrying with the same event id", "error", err, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, ctx.Err()
		case <-t.C:
		}
	}
	return resp, err
}

// newUUID returns a random (version 4) UUID, the form the gateway wants
// event ids in.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
