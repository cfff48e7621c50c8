package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Registry resolves registered message types: framed records' schema ids
// when consuming, derived events' names when producing.
type Registry interface {
	ResolveID(ctx context.Context, id int32, indexes []int) (*regclient.Type, error)
	Resolve(ctx context.Context, name protoreflect.FullName) (*regclient.Type, error)
}

// Producer hands records to Kafka and waits for their acknowledgement, in
// order. *kafkax.Producer is one.
type Producer interface {
	ProduceBatch(ctx context.Context, rs []kafkax.Record) ([]kafkax.Position, error)
	// Send hands one record over without waiting; records sent one after
	// another reach their partition in that order.
	Send(r kafkax.Record) (kafkax.Wait, error)
}

// OffsetPolicy says what a worker does when the offset it should read from
// is no longer in the log (OffsetOutOfRange): the records were deleted by
// retention, or the log was recreated. Every reset is logged and counted.
type OffsetPolicy string

// The offset policies.
const (
	// OffsetEarliest reads again from the oldest record: the state is
	// rebuilt, and events applied before are skipped by their ids.
	OffsetEarliest OffsetPolicy = "earliest"
	// OffsetLatest skips to the end of the log: the records in between are
	// never applied.
	OffsetLatest OffsetPolicy = "latest"
	// OffsetFail stops consuming the partition and reports the worker
	// unhealthy (see Worker.Healthy) until an operator acts.
	OffsetFail OffsetPolicy = "fail"
)

// ParseOffsetPolicy parses earliest, latest or fail.
func ParseOffsetPolicy(s string) (OffsetPolicy, error) {
	switch p := OffsetPolicy(s); p {
	case OffsetEarliest, OffsetLatest, OffsetFail:
		return p, nil
	}
	return "", fmt.Errorf("offset policy %q: want earliest, latest or fail", s)
}

// DefaultDeadLetterTopic receives the records no worker can handle.
const DefaultDeadLetterTopic = "cairn.deadletter"

// AllTopics, as Config.Topics, reads every application topic: every topic
// but Kafka's internal ones (whose names start with "_") and the dead
// letters, those created while the worker runs included.
const AllTopics = "^[^_].*"

// Config configures a Worker. Brokers, Group, Topics, Registry and App are
// required; with DB, Producer is too.
type Config struct {
	// Brokers is the Kafka bootstrap list, host:port separated by commas.
	Brokers string
	// Group is the consumer group. Workers of one group share one DB.
	Group string
	// Topics are the input topics (Topics finds those of a list of types).
	// One starting with "^" is a pattern (see kafkax.Consumer.Subscribe):
	// the worker reads every topic it matches, those created while it runs
	// included (see TopicRefresh), but never DeadLetterTopic. AllTopics
	// matches every application topic.
	Topics []string
	// TopicRefresh is how soon a topic created while the worker runs is
	// read, when a pattern in Topics matches it. 0 means 5 minutes.
	TopicRefresh time.Duration
	// App applies the events.
	App App
	// Registry resolves schema ids and derived event types.
	Registry Registry
	// DB holds the app's tables, the applied event ids, the outbox and the
	// offsets; New creates the tables. One database serves one group. Nil
	// runs the worker without state: the app is given each event at least
	// once, derives nothing, and offsets are kept in Kafka.
	DB *sqldb.DB
	// Producer produces derived events and dead letters. Required with DB;
	// without DB, poison records are logged and skipped when it is nil.
	Producer Producer
	// OffsetPolicy is followed when the offset to read from is out of
	// range. Empty means OffsetEarliest.
	OffsetPolicy OffsetPolicy
	// DeadLetterTopic receives poison records. Empty means
	// DefaultDeadLetterTopic. The topic must exist.
	DeadLetterTopic string
	// Metrics registers the worker's metrics; nil means they are not
	// registered.
	Metrics prometheus.Registerer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// TracerProvider makes the spans of applies and of derived events'
	// produces, continuing the traces records carry (their W3C traceparent
	// header); nil means otel.GetTracerProvider(). When it makes no spans
	// (OpenTelemetry's no-op, until an SDK is installed), the worker does
	// no tracing work at all.
	TracerProvider trace.TracerProvider

	// MaxBatch caps the records applied in one transaction; 0 means 500.
	MaxBatch int
	// QueueSize caps the records fetched but not yet applied, per
	// partition. A full queue holds up the fetching of every partition
	// for up to 100 ms, then pauses the partition until it is half empty.
	// 0 means 2 × MaxBatch.
	QueueSize int
	// RetryBackoff is the first wait after a transient failure; it doubles
	// up to MaxRetryBackoff. 0 means 100 ms and 5 s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// DrainTimeout bounds how long revoked partitions, or a worker
	// stopping, may take together to finish the records they hold. 0
	// means 30 s.
	DrainTimeout time.Duration
	// AppliedRetention is how long DB remembers an applied event id: a
	// record repeating an id within it is skipped, one repeating it later
	// is applied again. The worker forgets older ids as it runs. 0 means
	// DefaultAppliedRetention; a negative one remembers every id for good,
	// and the table of ids grows for as long as events arrive.
	AppliedRetention time.Duration
}

// DefaultAppliedRetention is how long applied event ids are remembered by
// default: a week, Kafka's default retention of a topic's records. A
// repeat comes from a producer or client retrying, within minutes, or from
// a service that replays old events under their ids: one that replays
// further back needs a longer retention.
const DefaultAppliedRetention = 7 * 24 * time.Hour

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OffsetPolicy == "" {
		c.OffsetPolicy = OffsetEarliest
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = DefaultDeadLetterTopic
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 2 * c.MaxBatch
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = 5 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.AppliedRetention == 0 {
		c.AppliedRetention = DefaultAppliedRetention
	}
}

// Validate reports what is missing from c or wrong in it.
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
	if c.App == nil {
		errs = append(errs, errors.New("worker: no app"))
	}
	if c.DB != nil && c.Producer == nil {
		errs = append(errs, errors.New("worker: no producer for derived events and dead letters"))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"RetryBackoff", c.RetryBackoff}, {"MaxRetryBackoff", c.MaxRetryBackoff}, {"DrainTimeout", c.DrainTimeout}, {"TopicRefresh", c.TopicRefresh}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("worker: %s %v is negative", d.name, d.d))
		}
	}
	if c.OffsetPolicy != "" {
		if _, err := ParseOffsetPolicy(string(c.OffsetPolicy)); err != nil {
			errs = append(errs, fmt.Errorf("worker: %w", err))
		}
	}
	return errors.Join(errs...)
}
