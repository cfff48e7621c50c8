package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"buf.build/go/protovalidate"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/admin"
	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/internal/sqldb"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/eventlog"
	"github.com/cairnhq/cairn/workers/huntapp"
)

type devConfig struct {
	GatewayAddr     string
	KafkaAddr       string
	RegistryAddr    string
	Pprof           bool // serve /debug/pprof/ on the admin address
	AdminAddr       string
	DatabaseURL     string
	Partitions      int
	ShutdownTimeout time.Duration
	Log             logConfig
	Etcd            etcdConfig
}

func (c *devConfig) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"gateway-addr", c.GatewayAddr}, {"kafka-addr", c.KafkaAddr}, {"registry-addr", c.RegistryAddr}, {"admin-addr", c.AdminAddr}} {
		if err := checkAddr(a.flag, a.addr); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Etcd.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url: want a SQLite path or a postgres:// URL"))
	}
	if c.Partitions < 1 || c.Partitions > 1000 {
		errs = append(errs, fmt.Errorf("--partitions %d: want 1 to 1000", c.Partitions))
	}
	if err := checkPositive("shutdown-timeout", c.ShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := devConfig{}
	fs := newFlagSet("dev", "[flags]",
		"Runs the whole system in one process: an in-memory Kafka-protocol broker, the\n"+
			"schema registry (its schemas kept in --database-url) holding the hunt schemas,\n"+
			"the gateway, the hunt worker and a worker that logs every event. Kafka's records\n"+
			"are gone when it stops. Ctrl-C stops it cleanly.",
		stderr)
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", "127.0.0.1:50051", "gateway gRPC listen address")
	fs.StringVar(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "embedded Kafka broker listen address")
	fs.StringVar(&cfg.RegistryAddr, "registry-addr", "127.0.0.1:8081", "schema registry REST and gRPC listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:9464", "admin HTTP listen address: the console on /, /metrics, /healthz, /readyz")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve Go profiles on the admin address under /debug/pprof/")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "sqlite:cairn-dev.db", "registry database: sqlite:PATH or postgres://…")
	fs.IntVar(&cfg.Partitions, "partitions", 3, "partitions per topic")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to wait for calls in progress and unsent records on shutdown")
	cfg.Log.register(fs)
	cfg.Etcd.registerRole(fs)
	if err := parseConfig(fs, args, &cfg); err != nil {
		return err
	}
	log := cfg.Log.logger(stderr)
	return dev(ctx, cfg, log, stdout)
}

// dev runs the whole system until ctx ends; once it is ready it writes where
// everything is to stdout.
func dev(ctx context.Context, cfg devConfig, log *slog.Logger, stdout io.Writer) error {
	reg, closeRegistry, err := openRegistry(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer closeRegistry()
	files, err := schemas.Hunt()
	if err != nil {
		return err
	}
	if err := regclient.RegisterFiles(ctx, reg, files...); err != nil {
		return fmt.Errorf("the hunt schemas cannot be registered in %s (to start afresh, remove that database): %w", cfg.DatabaseURL, err)
	}
	metrics := newMetrics()
	stopRegistry, err := serveRegistry(reg, registry.HandlerOptions{Logger: log}, cfg.RegistryAddr, log, metrics)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := stopRegistry(ctx); err != nil {
			log.Warn("registry shutdown", "error", err)
		}
	}()
	types := regclient.NewClient(reg, 0)
	inputs, err := huntapp.Topics(ctx, types)
	if err != nil {
		return err
	}
	eventTopics := schemas.Topics(files)
	topics := append(slices.Clone(eventTopics), workers.DefaultDeadLetterTopic)

	broker, err := devbroker.Start(cfg.KafkaAddr, int32(cfg.Partitions), topics...)
	if err != nil {
		return err
	}
	defer broker.Close()
	log.Info("kafka broker listening", "addr", cfg.KafkaAddr, "topics", topics, "partitions", cfg.Partitions)
	stopTopics, err := startTopicProvisioner(reg, broker.Addr(), int32(cfg.Partitions), log)
	if err != nil {
		return err
	}
	defer stopTopics()

	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: cfg.KafkaAddr, Logger: log})
	if err != nil {
		return err
	}
	// On the way out of a failed start; after a run, Close below comes first.
	defer producer.Close(context.Background())
	// The broker keeps nothing, so neither does the game: its state lives in
	// a database of its own, gone when dev stops.
	stateDir, err := os.MkdirTemp("", "cairn-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	stateDB, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(stateDir, "hunt.db"))
	if err != nil {
		return err
	}
	defer stateDB.Close()
	validator, err := protovalidate.New()
	if err != nil {
		return fmt.Errorf("build validator: %w", err)
	}
	hunts, err := huntapp.New(huntapp.Config{
		DB:        stateDB,
		Registry:  types,
		Brokers:   cfg.KafkaAddr,
		Group:     "cairn-dev",
		Validator: validator,
		Metrics:   metrics,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	worker, err := workers.New(ctx, workers.Config{
		Brokers:  cfg.KafkaAddr,
		Group:    "cairn-dev",
		Topics:   inputs,
		App:      hunts,
		Registry: types,
		DB:       stateDB,
		Producer: producer,
		Metrics:  metrics,
		Logger:   log,
	})
	if err != nil {
		return err
	}
	// A second worker logs every event of every registered type, on every
	// topic the schemas name, types registered later included.
	logger, err := workers.New(ctx, workers.Config{
		Brokers:  cfg.KafkaAddr,
		Group:    "cairn-dev-log",
		Topics:   eventTopics,
		App:      eventlog.New(log),
		Registry: types,
		// No producer: the log is an observer. The hunt worker dead-letters
		// a poison record once; the log only logs that it skipped it.
		Metrics: metrics,
		Logger:  log,
	})
	if err != nil {
		return err
	}
	authn, err := auth.New(auth.DevConfig())
	if err != nil {
		return err
	}
	rpcMetrics, err := admin.NewGRPCMetrics(metrics, &gatewayv1.EventGateway_ServiceDesc, &huntv1.HuntService_ServiceDesc)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{Registry: types, Producer: producer, Auth: authn, Metrics: metrics, Logger: log, ServerOptions: rpcMetrics.ServerOptions()})
	if err != nil {
		return err
	}
	huntv1.RegisterHuntServiceServer(gw, hunts.HuntService())
	lis, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	disc, err := cfg.Etcd.client(log)
	if err != nil {
		lis.Close()
		return err
	}
	defer disc.Close()
	// HuntService is served on the gateway's port: it is the worker role too.
	deregister, err := announce(disc, log, "gateway", lis.Addr().String(), "registry", cfg.RegistryAddr, "worker", lis.Addr().String())
	if err != nil {
		lis.Close()
		return err
	}
	ready := func(ctx context.Context) error {
		return errors.Join(gw.Ready(ctx), worker.Healthy(), logger.Healthy())
	}
	con, closeConsole, err := newDevConsole(devConsoleConfig{
		registry: reg, types: types, brokers: cfg.KafkaAddr, group: "cairn-dev", inputs: inputs,
		deadLetters: workers.DefaultDeadLetterTopic, producer: producer, metrics: metrics, log: log,
		checks: map[string]func(context.Context) error{
			"gateway": gw.Ready, "worker": func(context.Context) error { return worker.Healthy() },
			"registry": types.Ping, "kafka": producer.Ping,
		},
	})
	if err != nil {
		deregister(context.Background())
		lis.Close()
		return err
	}
	defer closeConsole()
	stopAdmin, err := startAdminWith(cfg.AdminAddr, admin.Config{
		Registry: metrics, Ready: ready, Detail: gw.ReadyDetail, Logger: log, Console: con, Pprof: cfg.Pprof,
	})
	if err != nil {
		deregister(context.Background())
		lis.Close()
		return err
	}

	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(workerCtx) }()
	loggerDone := make(chan error, 1)
	go func() { loggerDone <- logger.Run(workerCtx) }()
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		hunts.Follow(workerCtx)
	}()
	gatewayDone := make(chan error, 1)
	go func() { gatewayDone <- gw.Serve(lis) }()
	log.Info("gateway listening", "addr", lis.Addr().String())
	announceCtx, stopAnnounce := context.WithCancel(ctx)
	defer stopAnnounce()
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		announceReady(announceCtx, stdout, devAddrs{Gateway: lis.Addr().String(), Registry: cfg.RegistryAddr, Kafka: broker.Addr(), Admin: cfg.AdminAddr}, ready)
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-gatewayDone:
	case runErr = <-workerDone:
		workerDone <- runErr // leave it for the wait below
	case runErr = <-loggerDone:
		loggerDone <- runErr
	}

	// Stop the worker first: it finishes its batches and produces their
	// derived events, and its end closes the WatchPlayer streams, which the
	// gateway's port serves. Then the gateway stops taking calls and
	// finishes the ones in progress, and the producer delivers what it holds.
	stopAnnounce()
	<-announced
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	deregister(shutdownCtx)
	stopWorker()
	errs := []error{runErr}
	for _, done := range []chan error{workerDone, loggerDone} {
		if err := <-done; err != nil && err != runErr {
			errs = append(errs, err)
		}
	}
	<-feedDone
	gw.Shutdown(shutdownCtx)
	errs = append(errs, stopAdmin(shutdownCtx))
	if err := producer.Close(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	log.Info("stopped")
	return errors.Join(errs...)
}
