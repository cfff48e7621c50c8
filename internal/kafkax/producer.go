// Package kafkax wraps confluent-kafka-go with the settings Cairn relies on:
// an idempotent producer that waits for every in-sync replica, and a
// consumer that stores offsets only for records that were handled. It is
// the one package that imports confluent-kafka-go: its API speaks in its
// own Record, Header and Position, so that callers can declare interfaces
// over it and tests can implement them.
package kafkax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Record is a record to produce.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

// Header is a record header. Kafka allows a key more than once; Cairn's own
// headers (package wire names them) appear once.
type Header struct {
	Key   string
	Value []byte
}

// HeaderValue returns the value of the first header named key in hs, and
// whether there is one.
func HeaderValue(hs []Header, key string) ([]byte, bool) {
	for _, h := range hs {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// kafkaHeaders converts headers to confluent-kafka-go's.
func kafkaHeaders(hs []Header) []kafka.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// Headers converts confluent-kafka-go's headers of a consumed record to
// Headers.
func Headers(hs []kafka.Header) []Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// Position is where Kafka stored a record.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

// ErrProduce is returned (wrapped) when Kafka did not take a record: the
// broker is unreachable, the local queue is full, or delivery timed out.
// Such failures are worth retrying.
var ErrProduce = errors.New("kafka did not accept the record")

// eventsChannelSize is the producer's events channel: the client's
// errors, waiting for the goroutine that logs them.
const eventsChannelSize = 1024

// topicCheckTimeout bounds the metadata request that checks a topic the
// producer has not produced to yet.
const topicCheckTimeout = 5 * time.Second

// Producer produces records and waits for Kafka's acknowledgement. It is
// idempotent (no duplicates from internal retries) with acks=all.
//
// Producer is safe for concurrent use.
type Producer struct {
	p      *kafka.Producer
	log    *slog.Logger
	done   chan struct{} // closed when the event loop has drained
	closed sync.Once
	known  sync.Map // topic name → struct{}: topics Kafka has said exist
}

// ProducerOptions configures NewProducer.
type ProducerOptions struct {
	// Brokers is the bootstrap list, host:port separated by commas.
	Brokers string
	// DeliveryTimeout bounds how long a record may wait for Kafka before it
	// fails, retries included. Zero means 30 seconds.
	DeliveryTimeout time.Duration
	// Linger is how long librdkafka waits for more records before it
	// sends a batch (linger.ms): longer batches more records per request,
	// shorter answers a lone record sooner. Zero means 2 ms; negative
	// means no wait.
	Linger time.Duration
	// Logger receives client errors; nil means slog.Default().
	Logger *slog.Logger
}

// NewProducer starts a producer. It does not wait for the brokers: a
// producer created while Kafka is down connects when Kafka comes up.
func NewProducer(opts ProducerOptions) (*Producer, error) {
	if opts.Brokers == "" {
		return nil, errors.New("kafka producer: no brokers given")
	}
	if opts.DeliveryTimeout == 0 {
		opts.DeliveryTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.Linger == 0:
		opts.Linger = 2 * time.Millisecond
	case opts.Linger < 0:
		opts.Linger = 0
	}
	cfg := baseConfig(opts.Brokers, "cairn-producer")
	for k, v := range map[string]kafka.ConfigValue{
		"enable.idempotence": true,
		"acks":               "all",
		// Java's partitioner, so that producers in any language put a key
		// on the same partition.
		"partitioner":         "murmur2_random",
		"linger.ms":           strconv.FormatFloat(float64(opts.Linger.Microseconds())/1000, 'f', -1, 64),
		"delivery.timeout.ms": int(opts.DeliveryTimeout.Milliseconds()),
		// Delivery reports go to each record's own channel; the events
		// channel carries only the client's errors, which events drains.
		// The library's default sizes (a million each) allocate 24 MB of
		// Go heap up front, which also raises the GC's heap goal by as
		// much. ProduceChannel is not used.
		"go.events.channel.size":  eventsChannelSize,
		"go.produce.channel.size": 0,
		// A report needs only the record's position: copying its key
		// and value back into Go memory is garbage per record.
		"go.delivery.report.fields": "none",
	} {
		cfg[k] = v
	}
	p, err := kafka.NewProducer(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	pr := &Producer{p: p, log: opts.Logger, done: make(chan struct{})}
	go forwardLogs(p.Logs(), opts.Logger)
	go pr.events()
	return pr, nil
}

// events logs the client's own errors until the producer is closed. Delivery
// reports do not pass here: each record sent has its own channel.
func (p *Producer) events() {
	defer close(p.done)
	for ev := range p.p.Events() {
		if err, ok := ev.(kafka.Error); ok {
			p.log.Warn("kafka producer", "error", err.Error(), "code", err.Code().String(), "fatal", err.IsFatal())
		}
	}
}

// ProduceBatch sends records in order and waits until Kafka has
// acknowledged every one or ctx ends. Records for the same partition keep
// their order (the producer is idempotent). It returns the first failure;
// records before and after it may have been delivered, so callers retry the
// whole batch with the same event ids.
func (p *Producer) ProduceBatch(ctx context.Context, rs []Record) ([]Position, error) {
	ds := make([]*delivery, len(rs))
	for i, r := range rs {
		d, err := p.send(r)
		if err != nil {
			return nil, err
		}
		ds[i] = d
	}
	pos := make([]Position, len(rs))
	var first error
	for i, d := range ds {
		var err error
		if pos[i], err = d.wait(ctx, time.Time{}); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return pos, nil
}

// Wait blocks until Kafka has acknowledged a record (its position), or the
// record failed, or ctx ends, or deadline passes (zero: no deadline; one
// already past: Wait only checks for an answer, without blocking); when
// ctx or the deadline ends it first, the error wraps ctx's error or
// context.DeadlineExceeded and the record may still be delivered. Kafka
// answers on every record within the producer's delivery timeout, or the
// producer closes. A Wait may be called again after it gave up, to keep
// waiting, but not from two goroutines at once.
//
// The deadline is a time rather than a context so that a caller waiting
// for many records does not make a context per record.
type Wait func(ctx context.Context, deadline time.Time) (Position, error)

// Send hands r to the producer without waiting. Records sent one after
// another reach their partition in that order. The returned Wait waits
// for Kafka's answer on r.
func (p *Producer) Send(r Record) (Wait, error) {
	d, err := p.send(r)
	if err != nil {
		return nil, err
	}
	return d.wait, nil
}

func (p *Producer) send(r Record) (*delivery, error) {
	if err := p.checkTopic(r.Topic); err != nil {
		return nil, err
	}
	d := &delivery{topic: r.Topic, report: make(chan kafka.Event, 1), closed: p.done}
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &d.topic, Partition: kafka.PartitionAny},
		Key:            r.Key,
		Value:          r.Value,
		Headers:        kafkaHeaders(r.Headers),
	}
	if err := p.p.Produce(msg, d.report); err != nil {
		return nil, fmt.Errorf("produce to %s: %w: %w", r.Topic, ErrProduce, err)
	}
	return d, nil
}

// delivery is a record handed to Kafka.
type delivery struct {
	topic  string
	report chan kafka.Event
	closed <-chan struct{} // the producer's event loop has ended
	got    bool
	pos    Position
	err    error
}

// wait is the record's Wait.
func (d *delivery) wait(ctx context.Context, deadline time.Time) (Position, error) {
	if d.got {
		return d.pos, d.err
	}
	select {
	case ev := <-d.report: // answered already: no timer needed
		return d.take(ev)
	default:
	}
	var expired <-chan time.Time
	if !deadline.IsZero() {
		left := time.Until(deadline)
		if left <= 0 {
			return Position{}, fmt.Errorf("produce to %s: %w", d.topic, context.DeadlineExceeded)
		}
		t := time.NewTimer(left)
		defer t.Stop()
		expired = t.C
	}
	select {
	case ev := <-d.report:
		return d.take(ev)
	case <-d.closed:
		select {
		case ev := <-d.report: // reported just before the close
			return d.take(ev)
		default:
			return Position{}, fmt.Errorf("produce to %s: %w: the producer closed before Kafka answered", d.topic, ErrProduce)
		}
	case <-ctx.Done():
		return Position{}, fmt.Errorf("produce to %s: %w", d.topic, ctx.Err())
	case <-expired:
		return Position{}, fmt.Errorf("produce to %s: %w", d.topic, context.DeadlineExceeded)
	}
}

// take records Kafka's report on the record.
func (d *delivery) take(ev kafka.Event) (Position, error) {
	d.got = true
	m, ok := ev.(*kafka.Message)
	switch {
	case !ok:
		d.err = fmt.Errorf("produce to %s: %w: unexpected delivery event %v", d.topic, ErrProduce, ev)
	case unknownTopic(m.TopicPartition.Error):
		d.err = fmt.Errorf("produce to %s: %w: %w", d.topic, ErrUnknownTopic, m.TopicPartition.Error)
	case m.TopicPartition.Error != nil:
		d.err = fmt.Errorf("produce to %s: %w: %w", d.topic, ErrProduce, m.TopicPartition.Error)
	default:
		d.pos = Position{Topic: d.topic, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset)}
	}
	return d.pos, d.err
}

// Ping asks the cluster for its brokers, to check that Kafka is reachable.
// It waits until ctx ends, or 5 seconds if ctx has no deadline.
func (p *Producer) Ping(ctx context.Context) error {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if timeout < time.Millisecond {
		return fmt.Errorf("kafka metadata: %w", context.DeadlineExceeded)
	}
	md, err := p.p.GetMetadata(nil, false, int(timeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	if len(md.Brokers) == 0 {
		return errors.New("kafka metadata: no brokers")
	}
	return nil
}

// Close waits until every record handed to the producer is delivered or
// failed, or ctx ends, then closes the producer. It reports how many
// records were still outstanding when ctx ended. Calls after the first do
// nothing.
func (p *Producer) Close(ctx context.Context) (err error) {
	p.closed.Do(func() {
		defer func() {
			p.p.Close()
			<-p.done
		}()
		for p.p.Len() > 0 {
			if ctx.Err() != nil {
				err = fmt.Errorf("kafka producer closed with %d records undelivered: %w", p.p.Len(), ctx.Err())
				return
			}
			p.p.Flush(100)
		}
	})
	return err
}

// checkTopic asks Kafka, the first time a topic is produced to, whether it
// exists, so that a record for a missing topic fails at once with
// ErrUnknownTopic instead of waiting out the delivery timeout. When Kafka
// cannot be asked, the record is produced and librdkafka decides.
func (p *Producer) checkTopic(topic string) error {
	if _, ok := p.known.Load(topic); ok {
		return nil
	}
	md, err := p.p.GetMetadata(&topic, false, int(topicCheckTimeout.Milliseconds()))
	if err != nil {
		return nil
	}
	tm, ok := md.Topics[topic]
	switch {
	case !ok:
		return nil
	case unknownTopic(tm.Error):
		return fmt.Errorf("produce to %s: %w", topic, ErrUnknownTopic)
	case tm.Error.Code() == kafka.ErrNoError && len(tm.Partitions) > 0:
		p.known.Store(topic, struct{}{})
	}
	return nil
}

// unknownTopic reports whether err is Kafka's answer that a topic does not
// exist.
func unknownTopic(err error) bool {
	if err == nil {
		return false
	}
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	return kerr.Code() == kafka.ErrUnknownTopicOrPart || kerr.Code() == kafka.ErrUnknownTopic
}
