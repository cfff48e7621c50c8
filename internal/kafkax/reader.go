package kafkax

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Read is a record a Reader read: the message and its timestamp (the
// producer's create time or the log's append time, as the topic says).
type Read struct {
	Message
	Time time.Time
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	Partitions []int32
}

// PartitionState is a partition's log bounds and, when asked for a group,
// the group's committed offset (-1 when it has none).
type PartitionState struct {
	Topic     string
	Partition int32
	Low, High int64
	Committed int64
}

// Start says where a Reader begins reading each partition.
type Start struct {
	// Offset is an exact offset; it is used when neither FromEnd nor Time
	// is set. Zero is the beginning of a log that was never truncated;
	// FromBeginning is the oldest record still held.
	Offset int64
	// FromBeginning starts at the oldest record still held.
	FromBeginning bool
	// FromEnd starts after the last record.
	FromEnd bool
	// Time starts at the first record stamped at or after it.
	Time time.Time
}

// ReaderOptions configures NewReader.
type ReaderOptions struct {
	// Brokers is the bootstrap list, host:port separated by commas.
	Brokers string
	// Logger receives client logs; nil means slog.Default().
	Logger *slog.Logger
	// Timeout bounds each metadata and offset request; zero means 10 s.
	Timeout time.Duration
}

// Reader reads partitions it assigns itself: it joins no consumer group and
// commits nothing, so reading leaves no trace on the cluster. It is for
// tools (tail, dead-letter inspection, lag), not for workers.
//
// A Reader is not safe for concurrent use, except Close.
type Reader struct {
	c       *kafka.Consumer
	timeout time.Duration
	// stopAt is, per assigned partition, the offset at which reading ends
	// when the reader was started to stop at the end; nil to follow.
	stopAt map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewReader returns a reader; it reads nothing until Assign.
func NewReader(opts ReaderOptions) (*Reader, error) {
	if opts.Brokers == "" {
		return nil, errors.New("kafka reader: no brokers given")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	// librdkafka wants a group id even for assigned partitions; a group
	// that never subscribes nor commits is never created on the broker.
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	cfg := baseConfig(opts.Brokers, "cairn-reader")
	for k, v := range map[string]kafka.ConfigValue{
		"group.id":                 "cairn-reader-" + hex.EncodeToString(suffix[:]),
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "earliest",
		"enable.partition.eof":     true,
		"fetch.wait.max.ms":        50,
		"isolation.level":          "read_committed",
	} {
		cfg[k] = v
	}
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka reader: %w", err)
	}
	go forwardLogs(c.Logs(), opts.Logger)
	return &Reader{c: c, timeout: opts.Timeout}, nil
}

// Close closes the reader.
func (r *Reader) Close() error {
	if err := r.c.Close(); err != nil {
		return fmt.Errorf("kafka reader: close: %w", err)
	}
	return nil
}

func (r *Reader) timeoutMs(ctx context.Context) int {
	d := r.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		d = max(time.Until(dl), time.Millisecond)
	}
	return int(d.Milliseconds())
}

// Topics lists the cluster's topics, sorted by name, leaving out Kafka's
// internal ones (names starting with "__").
func (r *Reader) Topics(ctx context.Context) ([]TopicInfo, error) {
	md, err := r.c.GetMetadata(nil, true, r.timeoutMs(ctx))
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", err)
	}
	var out []TopicInfo
	for name, t := range md.Topics {
		if strings.HasPrefix(name, "__") || t.Error.Code() != kafka.ErrNoError {
			continue
		}
		ti := TopicInfo{Name: name}
		for _, p := range t.Partitions {
			ti.Partitions = append(ti.Partitions, p.ID)
		}
		sort.Slice(ti.Partitions, func(i, j int) bool { return ti.Partitions[i] < ti.Partitions[j] })
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Partitions returns the state of every partition of topics. With a group,
// Committed is that group's committed offset, -1 when it has none.
func (r *Reader) Partitions(ctx context.Context, group string, topics ...string) ([]PartitionState, error) {
	all, err := r.Topics(ctx)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(topics))
	for _, t := range topics {
		want[t] = true
	}
	var out []PartitionState
	for _, t := range all {
		if !want[t.Name] {
			continue
		}
		for _, p := range t.Partitions {
			low, high, err := r.c.QueryWatermarkOffsets(t.Name, p, r.timeoutMs(ctx))
			if err != nil {
				return nil, fmt.Errorf("watermarks of %s/%d: %w", t.Name, p, err)
			}
			out = append(out, PartitionState{Topic: t.Name, Partition: p, Low: low, High: high, Committed: -1})
		}
	}
	if group == "" || len(out) == 0 {
		return out, nil
	}
	committed, err := r.groupOffsets(ctx, group, out)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if off, ok := committed[topicPartition{out[i].Topic, out[i].Partition}]; ok {
			out[i].Committed = off
		}
	}
	return out, nil
}

// groupOffsets asks the cluster for a group's committed offsets.
func (r *Reader) groupOffsets(ctx context.Context, group string, ps []PartitionState) (map[topicPartition]int64, error) {
	a, err := kafka.NewAdminClientFromConsumer(r.c)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	defer a.Close()
	tps := make([]kafka.TopicPartition, len(ps))
	for i, p := range ps {
		tps[i] = kafka.TopicPartition{Topic: &ps[i].Topic, Partition: p.Partition}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := a.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	out := make(map[topicPartition]int64)
	for _, g := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range g.Partitions {
			if tp.Error == nil && tp.Offset >= 0 && tp.Topic != nil {
				out[topicPartition{*tp.Topic, tp.Partition}] = int64(tp.Offset)
			}
		}
	}
	return out, nil
}

// Assign starts reading every partition of topics from start. With
// stopAtEnd, Next returns io.EOF once every partition has been read up to
// where its log ended at the time of Assign; otherwise Next follows the
// logs. It replaces any earlier assignment.
func (r *Reader) Assign(ctx context.Context, topics []string, start Start, stopAtEnd bool) error {
	all, err := r.Topics(ctx)
	if err != nil {
		return err
	}
	parts := make(map[string][]int32, len(all))
	for _, t := range all {
		parts[t.Name] = t.Partitions
	}
	var tps []kafka.TopicPartition
	for _, t := range topics {
		ps, ok := parts[t]
		if !ok {
			return fmt.Errorf("topic %s: %w", t, ErrUnknownTopic)
		}
		for _, p := range ps {
			tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: p})
		}
	}
	return r.assign(ctx, tps, start, stopAtEnd)
}

// AssignPartition starts reading one partition from start, as Assign does.
func (r *Reader) AssignPartition(ctx context.Context, topic string, partition int32, start Start, stopAtEnd bool) error {
	return r.assign(ctx, []kafka.TopicPartition{{Topic: &topic, Partition: partition}}, start, stopAtEnd)
}

func (r *Reader) assign(ctx context.Context, tps []kafka.TopicPartition, start Start, stopAtEnd bool) error {
	if stopAtEnd {
		r.stopAt = make(map[topicPartition]int64, len(tps))
	} else {
		r.stopAt = nil
	}
	if !start.Time.IsZero() {
		times := make([]kafka.TopicPartition, len(tps))
		for i, tp := range tps {
			times[i] = kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: kafka.Offset(start.Time.UnixMilli())}
		}
		got, err := r.c.OffsetsForTimes(times, r.timeoutMs(ctx))
		if err != nil {
			return fmt.Errorf("offsets for time %s: %w", start.Time.Format(time.RFC3339), err)
		}
		byTP := make(map[topicPartition]kafka.Offset, len(got))
		for _, g := range got {
			byTP[topicPartition{*g.Topic, g.Partition}] = g.Offset
		}
		for i := range tps {
			// No record at or after the time: start at the end.
			off, ok := byTP[topicPartition{*tps[i].Topic, tps[i].Partition}]
			if !ok || off < 0 {
				off = kafka.OffsetEnd
			}
			tps[i].Offset = off
		}
	}
	for i := range tps {
		tp := &tps[i]
		if start.Time.IsZero() {
			switch {
			case start.FromEnd:
				tp.Offset = kafka.OffsetEnd
			case start.FromBeginning:
				tp.Offset = kafka.OffsetBeginning
			default:
				tp.Offset = kafka.Offset(start.Offset)
			}
		}
		if stopAtEnd {
			low, high, err := r.c.QueryWatermarkOffsets(*tp.Topic, tp.Partition, r.timeoutMs(ctx))
			if err != nil {
				return fmt.Errorf("watermarks of %s/%d: %w", *tp.Topic, tp.Partition, err)
			}
			from := int64(tp.Offset)
			switch tp.Offset {
			case kafka.OffsetEnd:
				from = high
			case kafka.OffsetBeginning:
				from = low
			}
			if from < high {
				r.stopAt[topicPartition{*tp.Topic, tp.Partition}] = high
			}
		}
	}
	if err := r.c.Assign(tps); err != nil {
		return fmt.Errorf("kafka reader: assign: %w", err)
	}
	return nil
}

// Next returns the next record of the assigned partitions. It returns
// io.EOF when the reader stops at the end and every partition got there,
// and ctx's error when ctx ends first.
func (r *Reader) Next(ctx context.Context) (*Read, error) {
	for {
		if r.stopAt != nil && len(r.stopAt) == 0 {
			return nil, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch ev := r.c.Poll(100).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				return nil, fmt.Errorf("kafka reader: %w", ev.TopicPartition.Error)
			}
			m := &Read{Message: Message{
				Topic:     *ev.TopicPartition.Topic,
				Partition: ev.TopicPartition.Partition,
				Offset:    int64(ev.TopicPartition.Offset),
				Key:       ev.Key,
				Value:     ev.Value,
				Headers:   Headers(ev.Headers),
			}, Time: ev.Timestamp}
			if r.stopAt != nil {
				key := topicPartition{m.Topic, m.Partition}
				end, ok := r.stopAt[key]
				if !ok {
					continue // read past its end already
				}
				if m.Offset+1 >= end {
					delete(r.stopAt, key)
				}
				if m.Offset >= end {
					continue
				}
			}
			return m, nil
		case kafka.PartitionEOF:
			if r.stopAt != nil && ev.Topic != nil {
				delete(r.stopAt, topicPartition{*ev.Topic, ev.Partition})
			}
		case kafka.Error:
			if ev.IsFatal() {
				return nil, fmt.Errorf("kafka reader: %w", ev)
			}
		}
	}
}
