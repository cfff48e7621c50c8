package kafkax

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ConsumerOptions configures NewConsumer.
type ConsumerOptions struct {
	// Brokers is the bootstrap list, host:port separated by commas.
	Brokers string
	// Group is the consumer group id.
	Group string
	// Logger receives client logs; nil means slog.Default().
	Logger *slog.Logger
	// AutoOffsetReset is librdkafka's auto.offset.reset: where to start when
	// the group has no committed offset or it is out of range. Empty means
	// "earliest"; "error" hands the decision to the caller through an
	// ErrAutoOffsetReset error event.
	AutoOffsetReset string
	// Tail makes a reader that follows a log it was assigned: it fetches
	// records as soon as they come and commits nothing.
	Tail bool
}

// NewConsumer returns a group consumer that reads only committed records,
// starts new groups where opts.AutoOffsetReset says (earliest by default),
// and commits in the background only the offsets the caller stored
// (StoreMessage) after handling a record.
func NewConsumer(opts ConsumerOptions) (*kafka.Consumer, error) {
	if opts.Brokers == "" {
		return nil, errors.New("kafka consumer: no brokers given")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AutoOffsetReset == "" {
		opts.AutoOffsetReset = "earliest"
	}
	cfg := baseConfig(opts.Brokers, "cairn-worker")
	for k, v := range map[string]kafka.ConfigValue{
		"group.id":                 opts.Group,
		"auto.offset.reset":        opts.AutoOffsetReset,
		"enable.auto.commit":       true,
		"enable.auto.offset.store": false,
		"isolation.level":          "read_committed",
	} {
		cfg[k] = v
	}
	if opts.Tail {
		cfg["enable.auto.commit"] = false
		cfg["fetch.wait.max.ms"] = 10
	}
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	go forwardLogs(c.Logs(), opts.Logger)
	return c, nil
}
