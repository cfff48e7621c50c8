package huntapp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// watched are the derived events WatchPlayer carries: the fields of
// WatchPlayerResponse's event oneof, by their message's full name.
var watched = func() map[protoreflect.FullName]protoreflect.FieldDescriptor {
	fields := (&huntv1.WatchPlayerResponse{}).ProtoReflect().Descriptor().Oneofs().ByName("event").Fields()
	out := make(map[protoreflect.FullName]protoreflect.FieldDescriptor, fields.Len())
	for i := range fields.Len() {
		out[fields.Get(i).Message().FullName()] = fields.Get(i)
	}
	return out
}()

// feed reads the derived events' topics, every partition, from where they
// end when it starts, and hands each event WatchPlayer carries to the hub.
// Reading the topic rather than a worker's own outbox means a watcher sees
// every player's events whichever worker derived them.
type feed struct {
	a *App
	c *kafkax.Consumer
}

// newFeed assigns every partition of the derived topics at its current
// end, so that whatever is derived from now on is seen.
func (a *App) newFeed(ctx context.Context) (*feed, error) {
	var topics []string
	for name := range watched {
		t, err := a.cfg.Registry.Resolve(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("watch feed: %w", err)
		}
		if t.Event != nil && !slices.Contains(topics, t.Event.GetTopic()) {
			topics = append(topics, t.Event.GetTopic())
		}
	}
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{
		Brokers: a.cfg.Brokers,
		// Assigned, not subscribed: this group never forms; it only
		// names the client.
		Group:  a.cfg.Group + "-watch",
		Logger: a.cfg.Logger,
		Tail:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("watch feed: %w", err)
	}
	var assign []kafkax.TopicPartition
	for _, topic := range topics {
		ids, err := c.Partitions(topic, 10*time.Second)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("watch feed: %w", err)
		}
		for _, id := range ids {
			_, high, err := c.Watermarks(topic, id, 10*time.Second)
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("watch feed: end of %s/%d: %w", topic, id, err)
			}
			assign = append(assign, kafkax.TopicPartition{Topic: topic, Partition: id, Offset: high})
		}
	}
	if err := c.Assign(assign); err != nil {
		c.Close()
		return nil, fmt.Errorf("watch feed: assign: %w", err)
	}
	return &feed{a: a, c: c}, nil
}

// Follow feeds the WatchPlayer streams until ctx ends, then ends them. It
// sets up the feed, retrying while Kafka or the registry cannot answer,
// and only then lets streams start. Run it beside the worker, for as long
// as HuntService is served.
func (a *App) Follow(ctx context.Context) {
	defer a.hub.close() // streams end; clients call again elsewhere
	for attempt := 0; ctx.Err() == nil; attempt++ {
		f, err := a.newFeed(ctx)
		if err != nil {
			a.cfg.Logger.Warn("watch feed; retrying", "error", err)
			sleep(ctx, backoff(attempt, a.cfg.RetryBackoff, a.cfg.MaxRetryBackoff))
			continue
		}
		a.hub.setLive()
		f.run(ctx)
		return
	}
}

// run hands the derived events to the hub until ctx ends, then closes the
// consumer.
func (f *feed) run(ctx context.Context) {
	defer f.c.Close()
	for ctx.Err() == nil {
		m, err := f.c.Poll(100 * time.Millisecond)
		if err != nil {
			f.a.cfg.Logger.Debug("watch feed", "error", err)
		}
		if m == nil {
			continue
		}
		if resp, huntID, playerID, ok := f.decode(ctx, m); ok {
			span := f.startSpan(ctx, m, resp)
			n := f.a.hub.publish(resp, huntID, playerID)
			if span != nil {
				span.SetAttributes(attribute.Int("cairn.watchers", n))
				span.End()
			}
		}
	}
}

// startSpan starts the span continuing the trace m carries while it is
// handed to its watchers; nil when the feed does not trace or m carries
// no trace context.
func (f *feed) startSpan(ctx context.Context, m *kafkax.Message, resp *huntv1.WatchPlayerResponse) trace.Span {
	if f.a.tracer == nil || m.Header(wire.HeaderTraceparent) == "" {
		return nil
	}
	parent := propagation.TraceContext{}.Extract(ctx, wire.HeaderCarrier{Headers: &m.Headers})
	if !trace.SpanContextFromContext(parent).IsValid() {
		return nil
	}
	_, span := f.a.tracer.Start(parent, "WatchPlayer",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", m.Topic),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(int(m.Partition))),
			attribute.Int64("messaging.kafka.offset", m.Offset),
			attribute.String("messaging.message.id", resp.GetEventId()),
			attribute.String("cairn.event_type", m.Header(wire.HeaderEventType)),
		))
	return span
}

// decode reads a derived record into the response WatchPlayer sends; false
// for a record WatchPlayer does not carry.
func (f *feed) decode(ctx context.Context, m *kafkax.Message) (resp *huntv1.WatchPlayerResponse, huntID, playerID string, ok bool) {
	h, payload, err := wire.Parse(m.Value)
	if err != nil {
		return nil, "", "", false
	}
	t, err := f.a.cfg.Registry.ResolveID(ctx, h.SchemaID, h.Indexes)
	if err != nil {
		f.a.cfg.Logger.Warn("watch feed: unknown derived record", "error", err)
		return nil, "", "", false
	}
	field, ok := watched[t.Name()]
	if !ok {
		return nil, "", "", false
	}
	resp = &huntv1.WatchPlayerResponse{EventId: m.Header(wire.HeaderEventID)}
	r := resp.ProtoReflect()
	ev := r.Mutable(field).Message()
	if err := proto.Unmarshal(payload, ev.Interface()); err != nil {
		return nil, "", "", false
	}
	who, ok := ev.Interface().(interface {
		GetHuntId() string
		GetPlayerId() string
	})
	if !ok {
		return nil, "", "", false
	}
	return resp, who.GetHuntId(), who.GetPlayerId(), true
}

func backoff(attempt int, first, max time.Duration) time.Duration {
	d := first
	for range min(attempt, 20) {
		d *= 2
		if d >= max {
			return max
		}
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
