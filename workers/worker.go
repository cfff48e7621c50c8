// Package workers consumes the event topics and hands each decoded event to
// a handler, one partition's records in order.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/registry"
)

// Registry resolves the schema id and message indexes of a framed record to
// the registered message type.
type Registry interface {
	ResolveID(ctx context.Context, id int32, indexes []int) (*registry.Type, error)
}

// Event is one decoded record.
type Event struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Headers   []kafka.Header
	Type      *registry.Type
	Message   protoreflect.Message
}

// Header returns the value of the record header named key, or "".
func (e *Event) Header(key string) string {
	for _, h := range e.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Handler handles one event. It must be safe to call again with the same
// event: a record handled just before a crash is handled again after it.
type Handler func(ctx context.Context, ev *Event) error

// Config configures a Worker. Brokers, Group, Topics, Registry and Handler
// are required.
type Config struct {
	Brokers  string
	Group    string
	Topics   []string
	Registry Registry
	Handler  Handler
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports what is missing from c.
func (c *Config) Validate() error {
	var errs []error
	if c.Brokers == "" {
		errs = append(errs, errors.New("worker: no Kafka brokers"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("worker: no consumer group"))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("worker: no topics"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("worker: no registry"))
	}
	if c.Handler == nil {
		errs = append(errs, errors.New("worker: no handler"))
	}
	return errors.Join(errs...)
}

// Worker is one member of a consumer group. Offsets are committed only for
// records whose handling has returned.
//
// A Worker is not safe for concurrent use: call Run once.
type Worker struct {
	cfg Config
	c   *kafka.Consumer
}

// New creates a consumer in the group; it joins when Run starts.
func New(cfg Config) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{Brokers: cfg.Brokers, Group: cfg.Group, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return &Worker{cfg: cfg, c: c}, nil
}

// Run consumes until ctx ends, then commits what was handled and leaves the
// group. It returns an error only if the consumer fails for good.
func (w *Worker) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := w.c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("worker: close consumer: %w", cerr)
		}
	}()
	if err := w.c.SubscribeTopics(w.cfg.Topics, nil); err != nil {
		return fmt.Errorf("worker: subscribe to %s: %w", strings.Join(w.cfg.Topics, ","), err)
	}
	w.cfg.Logger.Info("worker consuming", "group", w.cfg.Group, "topics", w.cfg.Topics)
	for ctx.Err() == nil {
		switch e := w.c.Poll(100).(type) {
		case *kafka.Message:
			w.handle(ctx, e)
			if _, err := w.c.StoreMessage(e); err != nil {
				w.cfg.Logger.Warn("store offset", "error", err)
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("worker: consumer: %w", e)
			}
			w.cfg.Logger.Warn("kafka consumer", "error", e.Error(), "code", e.Code().String())
		}
	}
	return nil
}

// handle decodes one record and passes it to the handler. A record that
// cannot be decoded is logged and skipped.
func (w *Worker) handle(ctx context.Context, m *kafka.Message) {
	tp := m.TopicPartition
	log := w.cfg.Logger.With("topic", *tp.Topic, "partition", tp.Partition, "offset", int64(tp.Offset))
	ev, err := w.decode(ctx, m)
	if err != nil {
		log.Error("undecodable record skipped", "error", err)
		return
	}
	if err := w.cfg.Handler(ctx, ev); err != nil {
		log.Error("handle event", "type", ev.Type.Name(), "error", err)
	}
}

func (w *Worker) decode(ctx context.Context, m *kafka.Message) (*Event, error) {
	h, payload, err := wire.Parse(m.Value)
	if err != nil {
		return nil, err
	}
	t, err := w.cfg.Registry.ResolveID(ctx, h.SchemaID, h.Indexes)
	if err != nil {
		return nil, err
	}
	msg := dynamicpb.NewMessage(t.Descriptor)
	if err := proto.Unmarshal(payload, msg); err != nil {
		return nil, fmt.Errorf("decode %s (schema id %d): %w", t.Name(), h.SchemaID, err)
	}
	return &Event{
		Topic:     *m.TopicPartition.Topic,
		Partition: m.TopicPartition.Partition,
		Offset:    int64(m.TopicPartition.Offset),
		Key:       m.Key,
		Headers:   m.Headers,
		Type:      t,
		Message:   msg,
	}, nil
}

// LogHandler returns a handler that logs each event, decoded, as JSON.
func LogHandler(log *slog.Logger) Handler {
	return func(_ context.Context, ev *Event) error {
		log.Info("event",
			"type", string(ev.Type.Name()),
			"event_id", ev.Header("cairn-event-id"),
			"topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset,
			"payload", jsonValue{ev.Message})
		return nil
	}
}
