package kafkax

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TopicSpec is a topic's shape. A zero Partitions or ReplicationFactor, a
// zero RetentionMs and an empty CleanupPolicy leave the broker's default.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int32
	// RetentionMs is retention.ms; -1 keeps records forever.
	RetentionMs int64
	// CleanupPolicy is cleanup.policy: "delete", "compact" or
	// "compact,delete".
	CleanupPolicy string
}

// TopicState is what a broker reports about an existing topic.
type TopicState struct {
	Name              string
	Partitions        int32
	ReplicationFactor int32
	// RetentionMs and CleanupPolicy are the topic's effective settings,
	// defaults included.
	RetentionMs   int64
	CleanupPolicy string
}

// ErrTopicExists is returned (wrapped) by CreateTopic for a topic that
// already exists.
var ErrTopicExists = errors.New("topic already exists")

// Admin creates and describes topics through Kafka's admin API.
//
// Admin is safe for concurrent use.
type Admin struct {
	a      *kafka.AdminClient
	closed sync.Once
}

// NewAdmin connects an admin client to brokers (host:port separated by
// commas). Its failures come back from each call; it logs nothing.
func NewAdmin(brokers string) (*Admin, error) {
	if brokers == "" {
		return nil, errors.New("kafka admin: no brokers given")
	}
	cfg := baseConfig(brokers, "cairn-admin")
	// An admin client has no log channel to read; keep librdkafka quiet.
	delete(cfg, "go.logs.channel.enable")
	cfg["log_level"] = 0
	a, err := kafka.NewAdminClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	return &Admin{a: a}, nil
}

// Close releases the client.
func (ad *Admin) Close() {
	ad.closed.Do(ad.a.Close)
}

// CreateTopic creates a topic as spec says. It fails with ErrTopicExists
// when the topic exists, and with the broker's reason when the broker
// refuses the shape (for example a replication factor above the number of
// brokers).
func (ad *Admin) CreateTopic(ctx context.Context, spec TopicSpec) error {
	ts := kafka.TopicSpecification{
		Topic:             spec.Name,
		NumPartitions:     int(spec.Partitions),
		ReplicationFactor: int(spec.ReplicationFactor),
		Config:            map[string]string{},
	}
	// -1 asks the broker for its default (KIP-464).
	if ts.NumPartitions == 0 {
		ts.NumPartitions = -1
	}
	if ts.ReplicationFactor == 0 {
		ts.ReplicationFactor = -1
	}
	if spec.RetentionMs != 0 {
		ts.Config["retention.ms"] = strconv.FormatInt(spec.RetentionMs, 10)
	}
	if spec.CleanupPolicy != "" {
		ts.Config["cleanup.policy"] = spec.CleanupPolicy
	}
	results, err := ad.a.CreateTopics(ctx, []kafka.TopicSpecification{ts}, kafka.SetAdminOperationTimeout(opTimeout(ctx)))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", spec.Name, err)
	}
	for _, r := range results {
		switch r.Error.Code() {
		case kafka.ErrNoError:
		case kafka.ErrTopicAlreadyExists:
			return fmt.Errorf("create topic %s: %w", spec.Name, ErrTopicExists)
		default:
			return fmt.Errorf("create topic %s: %s", spec.Name, describeKafkaError(r.Error))
		}
	}
	return nil
}

// DescribeTopic reports an existing topic's partitions, replication factor,
// retention and cleanup policy. found is false when the topic does not
// exist.
func (ad *Admin) DescribeTopic(ctx context.Context, name string) (state TopicState, found bool, err error) {
	md, err := ad.a.GetMetadata(&name, false, int(opTimeout(ctx).Milliseconds()))
	if err != nil {
		return TopicState{}, false, fmt.Errorf("describe topic %s: %w", name, err)
	}
	tm, ok := md.Topics[name]
	if !ok || tm.Error.Code() == kafka.ErrUnknownTopicOrPart || tm.Error.Code() == kafka.ErrUnknownTopic {
		return TopicState{}, false, nil
	}
	if tm.Error.Code() != kafka.ErrNoError {
		return TopicState{}, false, fmt.Errorf("describe topic %s: %s", name, describeKafkaError(tm.Error))
	}
	state = TopicState{Name: name, Partitions: int32(len(tm.Partitions))}
	if len(tm.Partitions) > 0 {
		state.ReplicationFactor = int32(len(tm.Partitions[0].Replicas))
	}
	res, err := ad.a.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: name}})
	if err != nil {
		return TopicState{}, false, fmt.Errorf("describe topic %s configs: %w", name, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return TopicState{}, false, fmt.Errorf("describe topic %s configs: %s", name, describeKafkaError(r.Error))
		}
		if e, ok := r.Config["retention.ms"]; ok {
			if v, perr := strconv.ParseInt(e.Value, 10, 64); perr == nil {
				state.RetentionMs = v
			}
		}
		if e, ok := r.Config["cleanup.policy"]; ok {
			state.CleanupPolicy = e.Value
		}
	}
	return state, true, nil
}

// opTimeout is how long the broker may take over an admin request: what is
// left of ctx, or ten seconds.
func opTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return 10 * time.Second
}

// describeKafkaError renders a broker error with its message and its
// code's description and number.
func describeKafkaError(err kafka.Error) string {
	if msg := err.String(); msg != "" && msg != err.Code().String() {
		return fmt.Sprintf("%s (%s, error %d)", msg, err.Code(), int(err.Code()))
	}
	return fmt.Sprintf("%s (error %d)", err.Code(), int(err.Code()))
}

// ErrUnknownTopic is returned (wrapped) when a record or a reader names a
// topic the brokers do not have.
var ErrUnknownTopic = errors.New("topic does not exist")
