package workers

import (
	"context"
	"fmt"
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// derivedTypes are the events WatchPlayer carries.
var derivedTypes = []protoreflect.FullName{
	"cairn.hunt.v1.ClueUnlocked",
	"cairn.hunt.v1.AnswerJudged",
	"cairn.hunt.v1.HuntCompleted",
}

// feed reads the derived events' topic, every partition, from where it
// ends when the worker starts, and hands each event to the WatchPlayer
// streams. Reading the topic rather than the worker's own outbox means a
// watcher sees every player's events whichever worker derived them.
type feed struct {
	w *Worker
	c *kafka.Consumer
}

// newFeed assigns every partition of the derived topics at its current
// end, so that whatever is derived from now on is seen.
func (w *Worker) newFeed(ctx context.Context) (*feed, error) {
	var topics []string
	for _, name := range derivedTypes {
		t, err := w.cfg.Registry.Resolve(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("watch feed: %w", err)
		}
		if t.Event != nil && !slices.Contains(topics, t.Event.GetTopic()) {
			topics = append(topics, t.Event.GetTopic())
		}
	}
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{
		Brokers: w.cfg.Brokers,
		// Assigned, not subscribed: this group never forms; it only
		// names the client.
		Group:  w.cfg.Group + "-watch",
		Logger: w.cfg.Logger,
		Tail:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("watch feed: %w", err)
	}
	var assign []kafka.TopicPartition
	for _, topic := range topics {
		md, err := c.GetMetadata(&topic, false, 10_000)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("watch feed: metadata of %s: %w", topic, err)
		}
		for _, p := range md.Topics[topic].Partitions {
			_, high, err := c.QueryWatermarkOffsets(topic, p.ID, 10_000)
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("watch feed: end of %s/%d: %w", topic, p.ID, err)
			}
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p.ID, Offset: kafka.Offset(high)})
		}
	}
	if err := c.Assign(assign); err != nil {
		c.Close()
		return nil, fmt.Errorf("watch feed: assign: %w", err)
	}
	return &feed{w: w, c: c}, nil
}

// follow sets up the feed, retrying while Kafka or the registry cannot
// answer, tells WatchPlayer it is live, and feeds the hub until ctx ends.
func (w *Worker) follow(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		f, err := w.newFeed(ctx)
		if err != nil {
			w.cfg.Logger.Warn("watch feed; retrying", "error", err)
			sleep(ctx, backoff(attempt, w.cfg.RetryBackoff, w.cfg.MaxRetryBackoff))
			continue
		}
		w.hub.setLive()
		f.run(ctx)
		return
	}
}

// run hands the derived events to the hub until ctx ends, then closes the
// consumer.
func (f *feed) run(ctx context.Context) {
	defer f.c.Close()
	for ctx.Err() == nil {
		m, ok := f.c.Poll(100).(*kafka.Message)
		if !ok {
			continue
		}
		if row, ok := f.row(ctx, m); ok {
			f.w.hub.publish([]outboxRow{row})
		}
	}
}

// row reads a derived record as the outbox wrote it; false for a record
// that is not a derived event.
func (f *feed) row(ctx context.Context, m *kafka.Message) (outboxRow, bool) {
	h, payload, err := wire.Parse(m.Value)
	if err != nil {
		return outboxRow{}, false
	}
	t, err := f.w.cfg.Registry.ResolveID(ctx, h.SchemaID, h.Indexes)
	if err != nil {
		f.w.cfg.Logger.Warn("watch feed: unknown derived record", "error", err)
		return outboxRow{}, false
	}
	var who interface {
		proto.Message
		GetHuntId() string
		GetPlayerId() string
	}
	switch t.Name() {
	case "cairn.hunt.v1.ClueUnlocked":
		who = new(huntv1.ClueUnlocked)
	case "cairn.hunt.v1.AnswerJudged":
		who = new(huntv1.AnswerJudged)
	case "cairn.hunt.v1.HuntCompleted":
		who = new(huntv1.HuntCompleted)
	default:
		return outboxRow{}, false
	}
	if err := proto.Unmarshal(payload, who); err != nil {
		return outboxRow{}, false
	}
	id := ""
	for _, hd := range m.Headers {
		if hd.Key == wire.HeaderEventID {
			id = string(hd.Value)
		}
	}
	return outboxRow{EventID: id, Type: t.Name(), HuntID: who.GetHuntId(), PlayerID: who.GetPlayerId(), Payload: payload}, true
}
