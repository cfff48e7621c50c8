// Package gateway is Cairn's gRPC edge: it takes events from clients,
// authenticates the caller, checks each event against its registered schema
// and the caller's permissions, and produces it to Kafka, answering only once
// Kafka has it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/telemetry"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Registry resolves a payload's message type to its registered schema.
type Registry interface {
	Resolve(ctx context.Context, name protoreflect.FullName) (*regclient.Type, error)
	// Ping checks that the registry answers.
	Ping(ctx context.Context) error
}

// streamWorkers is how many goroutines serve calls: enough for the
// concurrent calls of a busy gateway, each of which waits for Kafka.
const streamWorkers = 256

// Producer hands records to Kafka. *kafkax.Producer is the real one.
type Producer interface {
	// Send hands r to Kafka without waiting; records sent one after
	// another reach their partition in that order. A failure to take r is
	// wrapped around kafkax.ErrProduce when a retry may succeed. The
	// returned Wait blocks until Kafka has acknowledged r (its position),
	// or r failed, or ctx or the deadline ends; the gateway calls it again
	// after it gave up, to learn Kafka's late answer, but never from two
	// goroutines at once. Kafka answers every record within a bounded
	// time, or the producer closes.
	Send(r kafkax.Record) (kafkax.Wait, error)
	// Ping checks that Kafka answers.
	Ping(ctx context.Context) error
}

// Config holds what a gateway needs. Registry and Producer are required;
// every other field has a default.
type Config struct {
	Registry Registry
	Producer Producer
	// Auth identifies callers and decides what they may publish. Nil turns
	// authentication off: every caller is the principal "anonymous" and
	// may publish every type. Use nil only in tests.
	Auth *auth.Authenticator
	// Logger receives one line per rejected or failed event; nil means
	// slog.Default(). Payloads are never logged.
	Logger *slog.Logger
	// ServerOptions are added to the gRPC server's, for example grpc.Creds
	// for TLS.
	ServerOptions []grpc.ServerOption

	// AllowUnknownFields accepts payloads with fields their registered
	// schema does not declare. By default they are rejected, so that a
	// client built against an unregistered schema learns it at once.
	AllowUnknownFields bool
	// MaxClockSkew is how far in the future an event's occurred_at may be;
	// zero means 5 minutes.
	MaxClockSkew time.Duration
	// MaxEventBytes bounds one event's encoded size; zero means 256 KiB.
	MaxEventBytes int
	// MaxBatchEvents bounds the events of one PublishBatch; zero means 500.
	MaxBatchEvents int
	// MaxMessageBytes bounds a received gRPC message, and so a batch; zero
	// means 4 MiB.
	MaxMessageBytes int
	// StreamWindow is how many events of one PublishStream may be in
	// flight; zero means 256. When the window is full the gateway stops
	// reading the stream and the client's sends block.
	StreamWindow int
	// MaxInFlightBytes caps the bytes of all events waiting for Kafka,
	// across calls; zero means 64 MiB. An event that finds no room waits,
	// within its call's deadline.
	MaxInFlightBytes int64
	// ProduceTimeout bounds the wait for Kafka's acknowledgement of one
	// event (and for room among the in-flight bytes) when the call's own
	// deadline is later or absent; zero means no bound of the gateway's
	// own: the producer's delivery timeout bounds every record. When the
	// call has a deadline, an event that times out fails with UNAVAILABLE
	// shortly before it.
	ProduceTimeout time.Duration
	// RateLimit limits the events each principal may publish.
	RateLimit RateLimit
	// DedupWindow is how long the result of an event is remembered, so
	// that a retry with the same event_id gets it instead of producing
	// again; zero means 10 minutes, negative turns de-duplication off.
	DedupWindow time.Duration
	// DedupEntries bounds the results remembered; zero means 100,000.
	// The cache is allocated whole when the server is built, 80 to 88
	// bytes per entry (8.8 MB for 100,000), and stays that size however
	// busy the gateway is. Once it is full, a caller that holds half of
	// it makes room with its own oldest results, not others'. Events
	// still on their way to Kafka are kept apart and not counted here.
	DedupEntries int
	// Metrics receives the gateway's Prometheus metrics; nil means they are
	// not registered.
	Metrics prometheus.Registerer
	// TracerProvider makes the spans of calls and produces; nil means
	// otel.GetTracerProvider(). When it makes no spans (no SDK is
	// installed: OpenTelemetry's no-op), New leaves tracing out of the
	// call path altogether, and a record carries the caller's own trace
	// context, when it sent one.
	TracerProvider trace.TracerProvider
	// Validator runs the envelope's and the payloads' protovalidate rules;
	// nil means one of the gateway's own. A process that validates
	// elsewhere too (cairn dev's hunt app) shares one.
	Validator protovalidate.Validator
	// Propagator writes the trace context into record headers and reads it
	// from calls; nil means W3C trace context.
	Propagator propagation.TextMapPropagator
	// ReadyInterval is how often the gRPC health service re-checks
	// readiness; zero means 5 seconds.
	ReadyInterval time.Duration
}

// RateLimit is a token bucket per principal.
type RateLimit struct {
	// PerSecond is the rate events are allowed at; zero means no limit.
	PerSecond float64
	// Burst is how many events may come at once; zero means PerSecond,
	// rounded up.
	Burst int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxEventBytes, 256<<10)
	def(&c.MaxBatchEvents, 500)
	def(&c.MaxMessageBytes, 4<<20)
	def(&c.StreamWindow, 256)
	def(&c.DedupEntries, 100_000)
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 5 * time.Minute
	}
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = 64 << 20
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 10 * time.Minute
	}
	if c.RateLimit.PerSecond > 0 && c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = int(c.RateLimit.PerSecond + 0.999)
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.TraceContext{}
	}
	if c.ReadyInterval == 0 {
		c.ReadyInterval = 5 * time.Second
	}
}

// Validate reports what is missing from c or out of range.
func (c *Config) Validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("gateway: no registry"))
	}
	if c.Producer == nil {
		errs = append(errs, errors.New("gateway: no producer"))
	}
	for _, v := range []struct {
		name string
		v    int64
	}{
		{"MaxEventBytes", int64(c.MaxEventBytes)}, {"MaxBatchEvents", int64(c.MaxBatchEvents)},
		{"MaxMessageBytes", int64(c.MaxMessageBytes)}, {"StreamWindow", int64(c.StreamWindow)},
		{"MaxInFlightBytes", c.MaxInFlightBytes}, {"DedupEntries", int64(c.DedupEntries)},
		{"MaxClockSkew", int64(c.MaxClockSkew)}, {"ProduceTimeout", int64(c.ProduceTimeout)},
		{"ReadyInterval", int64(c.ReadyInterval)}, {"RateLimit.Burst", int64(c.RateLimit.Burst)},
	} {
		if v.v < 0 {
			errs = append(errs, fmt.Errorf("gateway: %s is negative", v.name))
		}
	}
	if c.RateLimit.PerSecond < 0 {
		errs = append(errs, errors.New("gateway: RateLimit.PerSecond is negative"))
	}
	if int64(c.MaxEventBytes) > c.MaxInFlightBytes && c.MaxInFlightBytes > 0 {
		errs = append(errs, errors.New("gateway: MaxEventBytes is above MaxInFlightBytes: such an event could never be produced"))
	}
	return errors.Join(errs...)
}

// Server serves the EventGateway service with the standard health service
// (mirroring Ready) and server reflection beside it.
//
// Server is safe for concurrent use.
type Server struct {
	gatewayv1.UnimplementedEventGatewayServer

	cfg         Config
	validator   protovalidate.Validator
	grpc        *grpc.Server
	services    strictServices // registers services on grpc
	health      *health.Server
	tracer      trace.Tracer
	tracing     bool     // tracer makes spans; otherwise no span is started
	traceFields []string // the metadata keys Propagator reads
	metrics     *metrics
	limits      *limiters
	inflight    *semaphore.Weighted
	dedup       *dedup
	degraded    *degradedTypes

	draining  chan struct{} // closed by Shutdown: streams stop reading
	drainOnce sync.Once
	watching  sync.WaitGroup // the readiness watcher
	settling  sync.WaitGroup // settle calls: late answers on timed-out records
	abandon   chan struct{}  // closed by Shutdown when its ctx ends: settle calls give up
}

// New builds a server. It does not listen until Serve.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	validator := cfg.Validator
	if validator == nil {
		v, err := protovalidate.New()
		if err != nil {
			return nil, fmt.Errorf("gateway: build validator: %w", err)
		}
		validator = v
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	if cfg.Auth == nil {
		cfg.Logger.Warn("gateway: authentication is off: every caller may publish every event type")
	}
	tracer := cfg.TracerProvider.Tracer("github.com/cairnhq/cairn/gateway")
	tracing := telemetry.MakesSpans(cfg.TracerProvider)
	codec := newCodec()
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		// This server's alone: a request that does not decode is
		// InvalidArgument (see codec.go), on no other server.
		grpc.ForceServerCodecV2(codec),
		// Stop returns once the handlers have: after it, none starts a
		// settle call that Shutdown would not wait for.
		grpc.WaitForHandlers(true),
		// Calls run on long-lived goroutines whose stacks have grown
		// already, rather than each on a new goroutine growing its stack
		// (a twentieth of a unary call's CPU). A call that finds every
		// worker busy gets its own goroutine, as without the option.
		grpc.NumStreamWorkers(streamWorkers),
	}
	if tracing {
		// Spans only: the gateway's metrics are its own, and otelgrpc's
		// per-call attribute sets cost a third of the server's
		// allocations.
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(cfg.TracerProvider),
			otelgrpc.WithPropagators(cfg.Propagator),
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		)))
	}
	opts = append(opts, cfg.ServerOptions...)
	opts = append(opts, cfg.Auth.ServerOptions(cfg.Logger)...)
	s := &Server{
		cfg:         cfg,
		validator:   validator,
		grpc:        grpc.NewServer(opts...),
		health:      health.NewServer(),
		tracer:      tracer,
		tracing:     tracing,
		traceFields: cfg.Propagator.Fields(),
		metrics:     m,
		limits:      newLimiters(cfg.RateLimit),
		inflight:    semaphore.NewWeighted(cfg.MaxInFlightBytes),
		dedup:       newDedup(cfg.DedupWindow, cfg.DedupEntries),
		degraded:    newDegradedTypes(cfg.Logger, m),
		draining:    make(chan struct{}),
		abandon:     make(chan struct{}),
	}
	s.dedup.evicted = m.dedupEvicted
	s.services = strictServices{Server: s.grpc, undecoded: func(service, method string) {
		if service == gatewayv1.EventGateway_ServiceDesc.ServiceName {
			m.callDone(method, codes.InvalidArgument)
		}
	}}
	gatewayv1.RegisterEventGatewayServer(s.services, s)
	healthpb.RegisterHealthServer(s.services, s.health)
	reflection.Register(s.services)
	return s, nil
}

// RegisterService serves another gRPC service on the gateway's port, such
// as the workers' HuntService in `cairn dev`. Call it before Serve. Its
// callers are authenticated by the same interceptor as publishers, and a player may ask only
// about themselves: a request's player_id, when set, must be theirs.
//
// Its requests that do not decode end with InvalidArgument, as the
// gateway's own do.
func (s *Server) RegisterService(sd *grpc.ServiceDesc, impl any) {
	s.services.RegisterService(sd, impl)
}

// Ready reports whether the gateway can publish: the registry and Kafka
// both answer within ctx.
func (s *Server) Ready(ctx context.Context) error {
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.cfg.Registry.Ping(ctx) })
	wg.Go(func() { errs[1] = s.cfg.Producer.Ping(ctx) })
	wg.Wait()
	return errors.Join(errs[:]...)
}

// Serve accepts connections on lis until Shutdown. It returns nil after a
// Shutdown. The health service reports SERVING while Ready succeeds.
func (s *Server) Serve(lis net.Listener) error {
	s.checkReady()
	s.watching.Go(s.watchReady)
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// watchReady mirrors readiness into the health service until Shutdown.
func (s *Server) watchReady() {
	t := time.NewTicker(s.cfg.ReadyInterval)
	defer t.Stop()
	for {
		select {
		case <-s.draining:
			return
		case <-t.C:
			s.checkReady()
		}
	}
}

func (s *Server) checkReady() {
	ctx, cancel := context.WithTimeout(context.Background(), min(s.cfg.ReadyInterval, 2*time.Second))
	defer cancel()
	st := healthpb.HealthCheckResponse_SERVING
	if err := s.Ready(ctx); err != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
		s.cfg.Logger.Warn("gateway not ready", "error", err)
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(gatewayv1.EventGateway_ServiceDesc.ServiceName, st)
}

// Shutdown stops taking new calls, ends streams after their events in
// flight are answered, and waits for calls in progress to finish, until ctx
// ends; then it cancels what is left. It also waits, within ctx, for
// Kafka's late answers on records whose callers stopped waiting. The caller
// closes the producer afterwards, which flushes what the finished calls
// produced.
func (s *Server) Shutdown(ctx context.Context) {
	s.drainOnce.Do(func() { close(s.draining) })
	s.health.Shutdown() // report NOT_SERVING so balancers move away
	s.watching.Wait()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
	}
	// Records whose callers stopped waiting are still owed Kafka's answer,
	// for the retries' sake; wait for it within ctx.
	settled := make(chan struct{})
	go func() {
		s.settling.Wait()
		close(settled)
	}()
	select {
	case <-settled:
	case <-ctx.Done():
		close(s.abandon)
		<-settled
	}
}
