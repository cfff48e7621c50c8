package huntapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/telemetry"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
)

// InputTypes are the events the hunt applies.
var InputTypes = []protoreflect.FullName{
	"cairn.hunt.v1.PlayerRegistered",
	"cairn.hunt.v1.HuntCreated",
	"cairn.hunt.v1.PlayerJoinedHunt",
	"cairn.hunt.v1.AnswerSubmitted",
}

// Topics returns the topics the hunt consumes, as the input events'
// registered schemas name them, sorted.
func Topics(ctx context.Context, reg workers.Registry) ([]string, error) {
	return workers.Topics(ctx, reg, InputTypes...)
}

// Config configures an App. DB, Registry, Brokers, Group and Validator
// are required.
type Config struct {
	// DB is the worker's database: HuntService reads the hunt tables from
	// it.
	DB *sqldb.DB
	// Registry resolves the derived events' types, for the WatchPlayer
	// feed.
	Registry workers.Registry
	// Brokers is the Kafka bootstrap list, for the WatchPlayer feed.
	Brokers string
	// Group is the worker's consumer group; the feed's client is named
	// after it.
	Group string
	// Validator checks HuntService requests; one per process.
	Validator protovalidate.Validator
	// Metrics registers the app's metrics; nil means they are not
	// registered.
	Metrics prometheus.Registerer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// WatchBuffer is how many events a WatchPlayer stream may fall behind
	// before it is dropped. 0 means 256.
	WatchBuffer int
	// CachedEntrants is how many hunt entrants the app keeps in memory
	// between batches, over all hunts, so that a batch reads from the
	// database only the entrants it has not seen (about 200 bytes each).
	// 0 means DefaultCachedEntrants; a negative number keeps none.
	CachedEntrants int
	// ReadRate is how many GetHunt, GetLeaderboard and GetPlayerProgress
	// calls a second each caller may make, with bursts of ReadBurst: more
	// answer ResourceExhausted. 0 means 20 a second, bursts of 40; a
	// negative ReadRate means no limit.
	ReadRate  float64
	ReadBurst int
	// RetryBackoff is the first wait after the feed failed to start; it
	// doubles up to MaxRetryBackoff. 0 means 100 ms and 5 s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// TracerProvider makes the WatchPlayer feed's spans: a derived record
	// that carries trace context is handed to its watchers under a span
	// continuing it. Nil means otel.GetTracerProvider(); a provider that
	// makes no spans leaves tracing out of the feed.
	TracerProvider trace.TracerProvider
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.ReadRate == 0 {
		c.ReadRate = 20
	}
	if c.ReadBurst == 0 {
		c.ReadBurst = 2 * int(max(c.ReadRate, 1))
	}
	if c.WatchBuffer == 0 {
		c.WatchBuffer = 256
	}
	if c.CachedEntrants == 0 {
		c.CachedEntrants = DefaultCachedEntrants
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = 5 * time.Second
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
}

// Validate reports what is missing from c or wrong in it.
func (c *Config) Validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("hunt app: no database"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("hunt app: no registry"))
	}
	if c.Brokers == "" {
		errs = append(errs, errors.New("hunt app: no Kafka brokers"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("hunt app: no consumer group"))
	}
	if c.Validator == nil {
		errs = append(errs, errors.New("hunt app: no validator"))
	}
	if c.WatchBuffer < 0 {
		errs = append(errs, fmt.Errorf("hunt app: WatchBuffer %d is negative", c.WatchBuffer))
	}
	if c.ReadRate > 0 && c.ReadBurst < 1 {
		errs = append(errs, fmt.Errorf("hunt app: ReadBurst %d is not positive", c.ReadBurst))
	}
	if c.RetryBackoff < 0 || c.MaxRetryBackoff < 0 {
		errs = append(errs, errors.New("hunt app: negative retry backoff"))
	}
	return errors.Join(errs...)
}

// DefaultCachedEntrants is Config.CachedEntrants' default: a hunt of
// 100,000 players twice over, about 40 MB.
const DefaultCachedEntrants = 200_000

// App is the hunt on the workers runtime (a workers.App), and the
// services reading its tables. It is safe for concurrent use.
type App struct {
	cfg      Config
	prepared atomic.Pointer[sqldb.Prepared] // nil until Prepare
	hub      *hub
	limit    *readLimiter  // nil: no limit
	tracer   trace.Tracer  // nil: the feed does not trace
	cache    *entrantCache // nil: none
}

var (
	_ workers.App      = (*App)(nil)
	_ workers.Preparer = (*App)(nil)
)

// New checks cfg and registers the app's metrics.
func New(cfg Config) (*App, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_worker_watchers_dropped_total",
		Help: "WatchPlayer streams dropped for falling behind.",
	})
	if err := cfg.Metrics.Register(dropped); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, fmt.Errorf("hunt app: metrics: %w", err)
		}
		if dropped, ok = are.ExistingCollector.(prometheus.Counter); !ok {
			return nil, fmt.Errorf("hunt app: metrics: %w", err)
		}
	}
	a := &App{cfg: cfg, hub: newHub(cfg.WatchBuffer, dropped), cache: newEntrantCache(cfg.CachedEntrants)}
	if a.cache != nil {
		for from, n := range map[string]*atomic.Int64{"cache": &a.cache.hits, "database": &a.cache.misses} {
			err := cfg.Metrics.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "cairn_worker_entrants_read_total",
				Help:        "Hunt entrants batches needed, by where they were read: the entrant cache or the database.",
				ConstLabels: prometheus.Labels{"from": from},
			}, func() float64 { return float64(n.Load()) }))
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); err != nil && !ok {
				return nil, fmt.Errorf("hunt app: metrics: %w", err)
			}
		}
	}
	if telemetry.MakesSpans(cfg.TracerProvider) {
		a.tracer = cfg.TracerProvider.Tracer("github.com/cairnhq/cairn/workers/huntapp")
	}
	if cfg.ReadRate > 0 {
		a.limit = newReadLimiter(cfg.ReadRate, cfg.ReadBurst)
	}
	return a, nil
}

// Inputs implements workers.App: the hunt's events, as generated Go types.
func (a *App) Inputs() workers.Inputs {
	return workers.Inputs{Types: InputTypes, GoTypes: protoregistry.GlobalTypes}
}

// Migrations implements workers.App.
func (a *App) Migrations(engine sqldb.Engine) []string { return migrations(engine) }

// Prepare implements workers.Preparer: it prepares the statements batches
// send most (on SQLite; PostgreSQL's driver prepares each statement text
// itself), once the tables exist. Each replaces the last. Statements are
// prepared only on the app's own database (Config.DB): a transaction of
// another could not run them.
func (a *App) Prepare(ctx context.Context, db *sqldb.DB) error {
	if db == nil || a.cfg.DB == nil || db.DB != a.cfg.DB.DB {
		return nil
	}
	p, err := db.Prepare(ctx, sqliteStatements())
	if err != nil {
		return fmt.Errorf("hunt app: %w", err)
	}
	if old := a.prepared.Swap(p); old != nil {
		return old.Close()
	}
	return nil
}

// Apply implements workers.App: it applies the game rules to the hunts and
// players the events touch, saves them, and returns the derived events.
func (a *App) Apply(ctx context.Context, tx *sql.Tx, events []*workers.Event) (workers.Result, error) {
	if tx == nil {
		return workers.Result{}, errors.New("the hunt needs a database")
	}
	return applyBatch(ctx, a.prepared.Load().Tx(tx), a.cfg.DB.Engine, a.cache, events)
}

// keyOf returns a derived event's record key: the field its schema's
// event options name.
func keyOf(m proto.Message) ([]byte, error) {
	r := m.ProtoReflect()
	opts, ok := proto.GetExtension(r.Descriptor().Options(), optionsv1.E_Event).(*optionsv1.EventOptions)
	if !ok || opts == nil {
		return nil, fmt.Errorf("derived event %s has no (cairn.options.v1.event) option", r.Descriptor().FullName())
	}
	f := r.Descriptor().Fields().ByName(protoreflect.Name(opts.GetKeyField()))
	if f == nil {
		return nil, fmt.Errorf("derived event %s has no key field %q", r.Descriptor().FullName(), opts.GetKeyField())
	}
	return []byte(r.Get(f).String()), nil
}

// rejection turns a rules' refusal into the runtime's.
func rejection(ev *workers.Event, rej *hunt.RejectedError) workers.Rejection {
	return workers.Rejection{Event: ev, Reason: rej.Reason.Error(), Detail: rej.Detail}
}

// refused is the EventRefused telling a player that the rules refused
// their join or answer, or nil for other events (a hunt's or a
// registration: no player watches for those).
func refused(ev *workers.Event, rej *hunt.RejectedError) *huntv1.EventRefused {
	var huntID, playerID string
	switch m := ev.Message.(type) {
	case *huntv1.PlayerJoinedHunt:
		huntID, playerID = m.GetHuntId(), m.GetPlayerId()
	case *huntv1.AnswerSubmitted:
		huntID, playerID = m.GetHuntId(), m.GetPlayerId()
	default:
		return nil
	}
	if playerID == "" {
		return nil
	}
	return &huntv1.EventRefused{
		HuntId:           huntID,
		PlayerId:         playerID,
		RefusedEventId:   ev.EventID,
		RefusedEventType: string(ev.Message.ProtoReflect().Descriptor().FullName()),
		Reason:           rej.Reason.Error(),
		Message:          rej.Error(),
		RefusedAt:        timestamppb.New(ev.ReceivedAt),
	}
}

// isPlayerEvent reports whether an event is about a player rather than a
// hunt.
func isPlayerEvent(m proto.Message) (string, bool) {
	p, ok := m.(*huntv1.PlayerRegistered)
	return p.GetPlayerId(), ok
}
