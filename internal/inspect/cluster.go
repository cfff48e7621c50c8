package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// Cluster is what the operator tools need of one Kafka cluster and its
// registry, each call with readers of its own: the console's data source.
//
// Cluster is safe for concurrent use.
type Cluster struct {
	brokers string
	dec     *Decoder
	log     *slog.Logger
	// DeadLetterTopic is where workers set records aside.
	deadLetterTopic string
	producer        Producer

	mu   sync.Mutex
	meta *kafkax.Reader // for metadata and offsets only; created on first use
}

// ClusterOptions configures NewCluster.
type ClusterOptions struct {
	Brokers         string
	Decoder         *Decoder
	DeadLetterTopic string
	// Producer replays dead letters; nil refuses replays.
	Producer Producer
	Logger   *slog.Logger
}

// NewCluster returns a Cluster; it connects on first use.
func NewCluster(opts ClusterOptions) *Cluster {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Cluster{brokers: opts.Brokers, dec: opts.Decoder, log: opts.Logger, deadLetterTopic: opts.DeadLetterTopic, producer: opts.Producer}
}

// Close closes the cluster's metadata reader.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.meta == nil {
		return nil
	}
	err := c.meta.Close()
	c.meta = nil
	return err
}

func (c *Cluster) newReader() (*kafkax.Reader, error) {
	return kafkax.NewReader(kafkax.ReaderOptions{Brokers: c.brokers, Logger: c.log})
}

// withMeta runs f with the shared metadata reader.
func (c *Cluster) withMeta(f func(*kafkax.Reader) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.meta == nil {
		r, err := c.newReader()
		if err != nil {
			return err
		}
		c.meta = r
	}
	return f(c.meta)
}

// Topics returns the names of the cluster's topics.
func (c *Cluster) Topics(ctx context.Context) ([]string, error) {
	var names []string
	err := c.withMeta(func(r *kafkax.Reader) error {
		ts, err := r.Topics(ctx)
		for _, t := range ts {
			names = append(names, t.Name)
		}
		return err
	})
	return names, err
}

// Lag returns the partitions of topics with the group's committed offsets.
func (c *Cluster) Lag(ctx context.Context, group string, topics []string) ([]kafkax.PartitionState, error) {
	var out []kafkax.PartitionState
	err := c.withMeta(func(r *kafkax.Reader) error {
		var err error
		out, err = r.Partitions(ctx, group, topics...)
		return err
	})
	return out, err
}

// Tail calls emit with each record of topic from start on, decoded, until
// ctx ends (nil) or emit fails. An unknown topic is an *UnknownTopicError.
func (c *Cluster) Tail(ctx context.Context, topic string, start kafkax.Start, emit func(Record) error) error {
	r, err := c.newReader()
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := checkTopics(ctx, r, []string{topic}); err != nil {
		return err
	}
	if err := r.Assign(ctx, []string{topic}, start, false); err != nil {
		return err
	}
	for {
		m, err := r.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		rec, _ := c.dec.Decode(ctx, m) // a registry that is down shows in the record
		if err := emit(rec); err != nil {
			return err
		}
	}
}

// DeadLetters reads the dead letters f selects; regErr says the registry
// was down, so some did not decode.
func (c *Cluster) DeadLetters(ctx context.Context, f Filter) (ds []DeadLetter, regErr error, err error) {
	r, err := c.newReader()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	return ReadDeadLetters(ctx, r, c.dec, c.deadLetterTopic, f)
}

// ErrNoProducer is returned by Replay when the cluster cannot produce.
var ErrNoProducer = errors.New("this process cannot produce: replay is not available here")

// Replay replays the dead letters with the given ids as Replay does; a dry
// run unless execute.
func (c *Cluster) Replay(ctx context.Context, ids []string, execute bool) ([]Result, error) {
	if len(ids) == 0 {
		return nil, errors.New("no dead letters selected")
	}
	if execute && c.producer == nil {
		return nil, ErrNoProducer
	}
	ds, _, err := c.DeadLetters(ctx, Filter{IDs: ids})
	if err != nil {
		return nil, err
	}
	var topics []kafkax.TopicInfo
	if err := c.withMeta(func(r *kafkax.Reader) error {
		var err error
		topics, err = r.Topics(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	var p Producer
	if execute {
		p = c.producer
	}
	rs := Replay(ctx, ds, topics, p)
	if len(rs) < len(ids) {
		found := make(map[string]bool, len(rs))
		for _, r := range rs {
			found[r.DeadLetter.ID] = true
		}
		for _, id := range ids {
			if !found[id] {
				rs = append(rs, Result{DeadLetter: DeadLetter{ID: id}, Outcome: OutcomeRefused, Why: fmt.Sprintf("no dead letter %s in %s", id, c.deadLetterTopic)})
			}
		}
	}
	return rs, nil
}
