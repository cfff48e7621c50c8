package kafkax

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Special offsets, as Kafka clients name them.
const (
	// OffsetBeginning is the oldest record still in the log.
	OffsetBeginning int64 = int64(kafka.OffsetBeginning)
	// OffsetEnd is the end of the log: the next record produced.
	OffsetEnd int64 = int64(kafka.OffsetEnd)
	// OffsetStored is the offset the group committed.
	OffsetStored int64 = int64(kafka.OffsetStored)
)

// Errors Poll returns, wrapped.
var (
	// ErrFatal: the consumer cannot go on; close it.
	ErrFatal = errors.New("kafka consumer failed for good")
	// ErrOffsetOutOfRange: the offset to read from is no longer in the log
	// and the consumer was told not to reset it on its own.
	ErrOffsetOutOfRange = errors.New("offset out of range")
)

// TopicPartition names a partition and, where it matters, an offset in it.
type TopicPartition struct {
	Topic     string
	Partition int32
	Offset    int64
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Message is a record read from Kafka.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Timestamp is the record's Kafka timestamp (producer's create time or
	// the broker's log-append time, as the topic says); zero when unknown.
	Timestamp time.Time
}

// Header returns the value of the record header named key, or "".
func (m *Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Rebalance is told when the group moves partitions. Both functions run on
// the polling goroutine, inside Poll.
type Rebalance struct {
	// Assigned is given the partitions newly assigned and returns where
	// each starts (Offset set; OffsetStored for the group's committed
	// offset), and which of them stay paused from the start.
	Assigned func(tps []TopicPartition) (start, paused []TopicPartition)
	// Revoked is given the partitions taken away, before they are
	// unassigned; lost is true when they were already given to another
	// member (the session timed out), so nothing may be committed.
	Revoked func(tps []TopicPartition, lost bool)
}

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
	// "earliest"; "error" hands the decision to the caller: Poll returns
	// ErrOffsetOutOfRange.
	AutoOffsetReset string
	// Tail makes a reader that follows a log it was assigned: it fetches
	// records as soon as they come and commits nothing.
	Tail bool
	// TopicRefresh is how often the consumer asks the brokers which topics
	// exist (librdkafka's topic.metadata.refresh.interval.ms): a pattern
	// subscription (see Subscribe) reads a topic created later within
	// about this long. Zero keeps librdkafka's default, 5 minutes.
	TopicRefresh time.Duration
	// ExcludeTopics are topics the consumer acts as if they did not exist
	// (librdkafka's topic.blacklist): no pattern subscription reads them.
	ExcludeTopics []string
}

// Consumer reads records: a member of a consumer group (Subscribe) or a
// reader of partitions it assigns itself (Assign). It reads only committed
// records and commits, in the background, only the offsets stored with
// StoreOffset.
//
// Poll, and the Rebalance functions it calls, belong to one goroutine;
// the other methods may be called from any goroutine.
type Consumer struct {
	c *kafka.Consumer
}

// NewConsumer returns a consumer that starts new groups where
// opts.AutoOffsetReset says (earliest by default).
func NewConsumer(opts ConsumerOptions) (*Consumer, error) {
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
		// The eager protocol (librdkafka's default, said here because
		// Subscribe and Assign rely on it): a rebalance revokes the
		// whole assignment and assigns the whole new one.
		"partition.assignment.strategy": "range,roundrobin",
	} {
		cfg[k] = v
	}
	if opts.TopicRefresh < 0 {
		return nil, fmt.Errorf("kafka consumer: topic refresh %v is negative", opts.TopicRefresh)
	}
	if opts.TopicRefresh > 0 {
		cfg["topic.metadata.refresh.interval.ms"] = int(max(opts.TopicRefresh.Milliseconds(), 1))
	}
	if len(opts.ExcludeTopics) > 0 {
		patterns := make([]string, len(opts.ExcludeTopics))
		for i, t := range opts.ExcludeTopics {
			if strings.Contains(t, ",") {
				return nil, fmt.Errorf("kafka consumer: excluded topic %q: a topic name has no comma", t)
			}
			patterns[i] = "^" + regexp.QuoteMeta(t) + "$"
		}
		cfg["topic.blacklist"] = strings.Join(patterns, ",")
	}
	if opts.Tail {
		cfg["enable.auto.commit"] = false
		cfg["fetch.wait.max.ms"] = 10
	}
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	// Ends when Close closes the client's log channel.
	go forwardLogs(c.Logs(), opts.Logger)
	return &Consumer{c: c}, nil
}

// Subscribe joins the group, reading topics; rb is told of every
// assignment and revocation, and the assignment follows what it says.
//
// A topic starting with "^" is a pattern (a regular expression in
// librdkafka's syntax: . [] [^] * + ? | () and \ escapes): the consumer
// reads every topic whose name it matches, those created later included,
// which it finds within ConsumerOptions.TopicRefresh; a new match makes the
// group rebalance.
func (c *Consumer) Subscribe(topics []string, rb Rebalance) error {
	return c.c.SubscribeTopics(topics, func(kc *kafka.Consumer, ev kafka.Event) error {
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			start, paused := rb.Assigned(fromKafka(e.Partitions))
			if err := kc.Assign(toKafka(start)); err != nil {
				return fmt.Errorf("assign partitions: %w", err)
			}
			if len(paused) > 0 {
				if err := kc.Pause(toKafka(paused)); err != nil {
					return fmt.Errorf("pause partitions: %w", err)
				}
			}
		case kafka.RevokedPartitions:
			rb.Revoked(fromKafka(e.Partitions), kc.AssignmentLost())
			if err := kc.Unassign(); err != nil {
				return fmt.Errorf("unassign partitions: %w", err)
			}
		}
		return nil
	})
}

// Assign reads the partitions given, from their offsets. Outside a group
// they are what the consumer reads. In a group (after Subscribe) tps must
// be the whole assignment, given anew: that is the way to fetch again a
// partition librdkafka stopped fetching, as it does after an offset out of
// range when the reset is the caller's (AutoOffsetReset "error"), and then
// refuses to Seek. Every partition's records fetched ahead are dropped;
// pauses are not kept.
func (c *Consumer) Assign(tps []TopicPartition) error {
	return c.c.Assign(toKafka(tps))
}

// Poll waits up to timeout for a record. It returns nil, nil when none
// came; an error wrapping ErrFatal or ErrOffsetOutOfRange for those; any
// other error is informational (the client retries on its own).
func (c *Consumer) Poll(timeout time.Duration) (*Message, error) {
	switch e := c.c.Poll(int(timeout.Milliseconds())).(type) {
	case *kafka.Message:
		if e.TopicPartition.Error != nil {
			return nil, fmt.Errorf("kafka consumer: %w", e.TopicPartition.Error)
		}
		m := &Message{
			Partition: e.TopicPartition.Partition,
			Offset:    int64(e.TopicPartition.Offset),
			Key:       e.Key,
			Value:     e.Value,
			Headers:   Headers(e.Headers),
		}
		if e.TimestampType != kafka.TimestampNotAvailable {
			m.Timestamp = e.Timestamp
		}
		if e.TopicPartition.Topic != nil {
			m.Topic = *e.TopicPartition.Topic
		}
		return m, nil
	case kafka.Error:
		switch {
		case e.IsFatal():
			return nil, fmt.Errorf("%w: %w", ErrFatal, e)
		case e.Code() == kafka.ErrAutoOffsetReset:
			return nil, fmt.Errorf("%w: %w", ErrOffsetOutOfRange, e)
		}
		return nil, fmt.Errorf("kafka consumer (%s): %w", e.Code(), e)
	}
	return nil, nil
}

// Pause stops fetching from the partitions.
func (c *Consumer) Pause(tps []TopicPartition) error { return c.c.Pause(toKafka(tps)) }

// Resume fetches again from the partitions.
func (c *Consumer) Resume(tps []TopicPartition) error { return c.c.Resume(toKafka(tps)) }

// Seek makes the next record read from tp.Partition the one at tp.Offset.
func (c *Consumer) Seek(tp TopicPartition) error { return c.c.Seek(toKafka1(tp), 0) }

// StoreOffset stores next as the offset the background commit commits for
// the partition.
func (c *Consumer) StoreOffset(topic string, partition int32, next int64) error {
	_, err := c.c.StoreOffsets([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(next)}})
	return err
}

// Commit commits the stored offsets now. Having nothing to commit is not
// an error.
func (c *Consumer) Commit() error {
	_, err := c.c.Commit()
	if ke, ok := errors.AsType[kafka.Error](err); ok && ke.Code() == kafka.ErrNoOffset {
		return nil
	}
	return err
}

// Watermarks asks the broker for a partition's first offset and the offset
// after its last record.
func (c *Consumer) Watermarks(topic string, partition int32, timeout time.Duration) (low, high int64, err error) {
	return c.c.QueryWatermarkOffsets(topic, partition, int(timeout.Milliseconds()))
}

// CachedWatermarks returns a partition's watermarks as last fetched,
// without asking the broker.
func (c *Consumer) CachedWatermarks(topic string, partition int32) (low, high int64, err error) {
	return c.c.GetWatermarkOffsets(topic, partition)
}

// Partitions returns the ids of a topic's partitions.
func (c *Consumer) Partitions(topic string, timeout time.Duration) ([]int32, error) {
	md, err := c.c.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok {
		return nil, fmt.Errorf("metadata of %s: no such topic", topic)
	}
	if t.Error.Code() != kafka.ErrNoError {
		return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
	}
	ids := make([]int32, len(t.Partitions))
	for i, p := range t.Partitions {
		ids[i] = p.ID
	}
	return ids, nil
}

// Close leaves the group (when subscribed) and releases the client.
//
// librdkafka leaves the consumer group before it closes; with the group's
// coordinator unreachable it waits for the session to time out (45 s).
// Close gives up after CloseTimeout and returns ErrCloseAbandoned: the
// client finishes closing in the background, and the group drops the
// member when its session times out.
func (c *Consumer) Close() error {
	done := make(chan error, 1)
	go func() { done <- c.c.Close() }()
	t := time.NewTimer(CloseTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("kafka consumer: %w after %v; the group drops this member when its session times out", ErrCloseAbandoned, CloseTimeout)
	}
}

// CloseTimeout bounds Consumer.Close.
const CloseTimeout = 10 * time.Second

// ErrCloseAbandoned is Close giving up on an unanswered group coordinator.
var ErrCloseAbandoned = errors.New("close abandoned: the group coordinator did not answer the consumer's leaving")

func fromKafka(tps []kafka.TopicPartition) []TopicPartition {
	out := make([]TopicPartition, len(tps))
	for i, tp := range tps {
		out[i] = TopicPartition{Partition: tp.Partition, Offset: int64(tp.Offset)}
		if tp.Topic != nil {
			out[i].Topic = *tp.Topic
		}
	}
	return out
}

func toKafka(tps []TopicPartition) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, len(tps))
	for i, tp := range tps {
		out[i] = toKafka1(tp)
	}
	return out
}

func toKafka1(tp TopicPartition) kafka.TopicPartition {
	topic := tp.Topic
	return kafka.TopicPartition{Topic: &topic, Partition: tp.Partition, Offset: kafka.Offset(tp.Offset)}
}

// IsPattern reports whether a topic given to Subscribe is a pattern.
func IsPattern(topic string) bool { return strings.HasPrefix(topic, "^") }
