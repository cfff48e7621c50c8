package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/cairnhq/cairn/internal/admin"
	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/huntapp"
)

type workerConfig struct {
	GRPCAddr        string
	Pprof           bool // serve /debug/pprof/ on the admin address
	AdminAddr       string
	KafkaBrokers    string
	Group           string
	RegistryAddr    string
	RegistryToken   string
	DatabaseURL     string
	OffsetPolicy    string
	DeadLetterTopic string
	AuthFile        string
	ShutdownTimeout time.Duration
	// ReadRate and ReadBurst limit each caller's HuntService reads.
	ReadRate  float64
	ReadBurst int
	// CachedEntrants bounds the hunt entrants kept in memory.
	CachedEntrants int
	// AppliedRetention is how long applied event ids are remembered; 0
	// remembers them for good.
	AppliedRetention time.Duration
	Log              logConfig
	Etcd             etcdConfig
}

func (c *workerConfig) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"grpc-addr", c.GRPCAddr}, {"admin-addr", c.AdminAddr}} {
		if err := checkAddr(a.flag, a.addr); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Etcd.checkTarget("registry-addr", c.RegistryAddr); err != nil {
		errs = append(errs, err)
	}
	if err := c.Etcd.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.KafkaBrokers == "" {
		errs = append(errs, errors.New("--kafka-brokers: required, host:port[,host:port…]"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("--group: required"))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url: required; workers of one group share one database"))
	} else if err := sqldb.CheckURL(c.DatabaseURL); err != nil {
		errs = append(errs, fmt.Errorf("--database-url: %w", err))
	}
	if _, err := workers.ParseOffsetPolicy(c.OffsetPolicy); err != nil {
		errs = append(errs, fmt.Errorf("--offset-policy: %w", err))
	}
	if c.AuthFile == "" {
		errs = append(errs, errors.New("--auth-file: required; HuntService does not run open outside cairn dev"))
	}
	if err := checkPositive("shutdown-timeout", c.ShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	if c.AppliedRetention < 0 || (c.AppliedRetention > 0 && c.AppliedRetention < time.Minute) {
		errs = append(errs, fmt.Errorf("--applied-retention: %v; want 0 (for good) or at least a minute: ids forgotten sooner let retries through", c.AppliedRetention))
	}
	if c.CachedEntrants < 0 {
		errs = append(errs, fmt.Errorf("--cached-entrants: %d is negative", c.CachedEntrants))
	}
	if c.ReadRate >= 0 && c.ReadBurst < 1 {
		errs = append(errs, fmt.Errorf("--read-burst: %d is not positive", c.ReadBurst))
	}
	return errors.Join(errs...)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := workerConfig{}
	fs := newFlagSet("worker", "[flags]",
		"Runs a hunt worker: a member of a consumer group that applies the game's rules\n"+
			"to the hunt topics with exactly-once effects in --database-url, produces the\n"+
			"derived events, and serves HuntService on --grpc-addr. Run one per few\n"+
			"partitions; workers of one group share one (PostgreSQL) database.",
		stderr)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:50052", "HuntService gRPC listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:9465", "admin HTTP listen address: the console on /, /metrics, /healthz, /readyz")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve Go profiles on the admin address under /debug/pprof/")
	fs.StringVar(&cfg.KafkaBrokers, "kafka-brokers", "", "Kafka bootstrap servers, host:port separated by commas")
	fs.StringVar(&cfg.Group, "group", "cairn-workers", "consumer group")
	fs.StringVar(&cfg.RegistryAddr, "registry-addr", "127.0.0.1:8081", "schema registry address (its gRPC API), or etcd:///registry")
	fs.StringVar(&cfg.RegistryToken, "registry-token", "", "API key for the registry, when it protects reads")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "the game's state: postgres://… or sqlite:PATH")
	fs.StringVar(&cfg.OffsetPolicy, "offset-policy", string(workers.OffsetEarliest), "when a saved offset is gone from the log: earliest (rebuild), latest (skip) or fail (stop the partition)")
	fs.StringVar(&cfg.DeadLetterTopic, "dead-letter-topic", workers.DefaultDeadLetterTopic, "topic for records that cannot be handled")
	fs.StringVar(&cfg.AuthFile, "auth-file", "", "who may call HuntService: the gateway's --auth-file format; a player may ask only about themselves")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to wait for batches in progress on shutdown")
	fs.Float64Var(&cfg.ReadRate, "read-rate", 20, "GetHunt/GetLeaderboard/GetPlayerProgress calls a second per caller; more answer RESOURCE_EXHAUSTED (negative: no limit)")
	fs.IntVar(&cfg.ReadBurst, "read-burst", 40, "how many reads a caller may make at once, within --read-rate")
	fs.IntVar(&cfg.CachedEntrants, "cached-entrants", huntapp.DefaultCachedEntrants, "hunt entrants kept in memory between batches, about 200 bytes each, so that answers read only new players' rows (0: none)")
	fs.DurationVar(&cfg.AppliedRetention, "applied-retention", workers.DefaultAppliedRetention, "how long an applied event id is remembered, so that a record repeating it is skipped; a later repeat is applied again (0: for good, and the table of ids grows for good)")
	cfg.Log.register(fs)
	cfg.Etcd.registerRole(fs)
	if err := parseConfig(fs, args, &cfg); err != nil {
		return err
	}
	policy, _ := workers.ParseOffsetPolicy(cfg.OffsetPolicy)
	authCfg, err := readAuthFile(cfg.AuthFile)
	if err != nil {
		return usageError{err}
	}
	authn, err := auth.New(authCfg)
	if err != nil {
		return err
	}
	log := cfg.Log.logger(stderr)
	stopTracing, err := startTracing(ctx, "worker", stdout, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	return workerRole(ctx, cfg, policy, authn, log)
}

// workerRole runs the worker until ctx ends or a part of it fails.
func workerRole(ctx context.Context, cfg workerConfig, policy workers.OffsetPolicy, authn *auth.Authenticator, log *slog.Logger) (err error) {
	l := newLifecycle(log, cfg.ShutdownTimeout)
	defer l.close(&err)
	db, err := sqldb.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	l.onStop("database", func(context.Context) error { return db.Close() })
	disc, err := cfg.Etcd.client(log)
	if err != nil {
		return err
	}
	l.onStop("etcd client", func(context.Context) error { return disc.Close() })
	types, conn, err := registryClient(disc, cfg.RegistryAddr, cfg.RegistryToken)
	if err != nil {
		return err
	}
	l.onStop("registry client", func(context.Context) error { return conn.Close() })
	inputs, err := huntapp.Topics(ctx, types)
	if err != nil {
		return err
	}
	validator, err := protovalidate.New()
	if err != nil {
		return fmt.Errorf("worker: build validator: %w", err)
	}
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: cfg.KafkaBrokers, Logger: log})
	if err != nil {
		return err
	}
	// Last to stop: it delivers the derived events of the last batches.
	l.onStop("kafka producer", producer.Close)
	metrics := newMetrics()
	app, err := huntapp.New(huntapp.Config{
		DB:        db,
		Registry:  types,
		Brokers:   cfg.KafkaBrokers,
		Group:     cfg.Group,
		Validator: validator,
		Metrics:   metrics,
		Logger:    log,
		ReadRate:  cfg.ReadRate,
		ReadBurst: cfg.ReadBurst,
		// The flag's 0 keeps none; the app's 0 is its default.
		CachedEntrants: cmp.Or(cfg.CachedEntrants, -1),
	})
	if err != nil {
		return err
	}
	worker, err := workers.New(ctx, workers.Config{
		Brokers:         cfg.KafkaBrokers,
		Group:           cfg.Group,
		Topics:          inputs,
		App:             app,
		Registry:        types,
		DB:              db,
		Producer:        producer,
		OffsetPolicy:    policy,
		DeadLetterTopic: cfg.DeadLetterTopic,
		Metrics:         metrics,
		Logger:          log,
		// The flag's 0 remembers for good; the runtime's 0 is its default.
		AppliedRetention: cmp.Or(cfg.AppliedRetention, -1),
	})
	if err != nil {
		return err
	}
	rpcMetrics, err := admin.NewGRPCMetrics(metrics, &huntv1.HuntService_ServiceDesc)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(append(authn.ServerOptions(log), rpcMetrics.ServerOptions()...)...)
	huntv1.RegisterHuntServiceServer(srv, app.HuntService())
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)

	healthy := func(context.Context) error { return worker.Healthy() }
	con, err := newConsole(consoleConfig{
		title:       "cairn worker",
		registry:    remoteRegistrySource{registryv1.NewRegistryServiceClient(conn), regclient.NewRemote(conn)},
		types:       types,
		brokers:     cfg.KafkaBrokers,
		group:       cfg.Group,
		inputs:      inputs,
		deadLetters: cfg.DeadLetterTopic,
		producer:    producer,
		metrics:     metrics,
		log:         log,
		checks: []namedCheck{
			{"worker", healthy}, {"registry", types.Ping}, {"kafka", producer.Ping},
		},
	})
	if err != nil {
		return err
	}
	l.onStop("console", con.close)
	if err := l.start(ctx, adminComponent(cfg.AdminAddr, cfg.Pprof, metrics, healthy, con, log)); err != nil {
		return err
	}
	// In reverse on shutdown: leave etcd, report NOT_SERVING, finish the
	// batches in progress (their derived events included), which also ends
	// the WatchPlayer streams, stop serving reads, then deliver what the
	// producer holds.
	hs := grpcComponent("HuntService", cfg.GRPCAddr, srv)
	if err := l.start(ctx, hs); err != nil {
		return err
	}
	if err := l.start(ctx, workerComponent("worker", worker, app.Follow)); err != nil {
		return err
	}
	l.onStop("health", func(context.Context) error { healthSrv.Shutdown(); return nil })
	if err := l.start(ctx, registrationComponent(l, disc, log, "worker", "HuntService")); err != nil {
		return err
	}
	return l.wait(ctx)
}
