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
	"sync"
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
	NoWorkers       bool // the broker, registry and gateway alone
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
	} else if err := sqldb.CheckURL(c.DatabaseURL); err != nil {
		errs = append(errs, fmt.Errorf("--database-url: %w", err))
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
	fs.BoolVar(&cfg.NoWorkers, "no-workers", false, "run neither the hunt worker nor the event log: the broker, registry and gateway alone, to measure the gateway with cairn bench")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to wait for calls in progress and unsent records on shutdown")
	cfg.Log.register(fs)
	cfg.Etcd.registerRole(fs)
	if err := parseConfig(fs, args, &cfg); err != nil {
		return err
	}
	log := cfg.Log.logger(stderr)
	stopTracing, err := startTracing(ctx, "dev", stdout, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	return dev(ctx, cfg, log, stdout)
}

// dev runs the whole system until ctx ends; once it is ready it writes where
// everything is to stdout.
func dev(ctx context.Context, cfg devConfig, log *slog.Logger, stdout io.Writer) (err error) {
	l := newLifecycle(log, cfg.ShutdownTimeout)
	defer l.close(&err)
	reg, closeRegistry, err := openRegistry(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	l.onStop("registry database", func(context.Context) error { closeRegistry(); return nil })
	files, err := schemas.Hunt()
	if err != nil {
		return err
	}
	if err := regclient.RegisterFiles(ctx, reg, files...); err != nil {
		return fmt.Errorf("the hunt schemas cannot be registered in %s (to start afresh, remove that database): %w", cfg.DatabaseURL, err)
	}
	metrics := newMetrics()
	regComp, err := registryComponent(reg, registry.HandlerOptions{Logger: log}, cfg.RegistryAddr, log, metrics)
	if err != nil {
		return err
	}
	if err := l.start(ctx, regComp); err != nil {
		return err
	}
	types := regclient.NewClient(reg, 0)
	inputs, err := huntapp.Topics(ctx, types)
	if err != nil {
		return err
	}
	eventTopics := schemas.Topics(files)
	topics := append(slices.Clone(eventTopics), workers.DefaultDeadLetterTopic)

	var broker *devbroker.Broker
	if err := l.start(ctx, component{
		name:  "kafka broker",
		attrs: []any{"topics", topics, "partitions", cfg.Partitions},
		start: func(context.Context) (addr string, err error) {
			if broker, err = devbroker.Start(cfg.KafkaAddr, int32(cfg.Partitions), topics...); err != nil {
				return "", err
			}
			return broker.Addr(), nil
		},
		stop: func(context.Context) error { broker.Close(); return nil },
	}); err != nil {
		return err
	}
	var stopTopics func()
	if err := l.start(ctx, component{
		name: "topic provisioner",
		start: func(context.Context) (_ string, err error) {
			stopTopics, err = startTopicProvisioner(reg, broker.Addr(), int32(cfg.Partitions), log)
			return "", err
		},
		stop: func(context.Context) error { stopTopics(); return nil },
	}); err != nil {
		return err
	}

	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: cfg.KafkaAddr, Logger: log})
	if err != nil {
		return err
	}
	// It stops after the gateway and the workers: it delivers what they
	// produced.
	l.onStop("kafka producer", producer.Close)
	// The broker keeps nothing, so neither does the game: its state lives in
	// a database of its own, gone when dev stops.
	stateDir, err := os.MkdirTemp("", "cairn-dev-")
	if err != nil {
		return err
	}
	l.onStop("state directory", func(context.Context) error { return os.RemoveAll(stateDir) })
	stateDB, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(stateDir, "hunt.db"))
	if err != nil {
		return err
	}
	l.onStop("state database", func(context.Context) error { return stateDB.Close() })
	// One validator for the process: the gateway's checks and the hunt
	// app's requests share its compiled rules.
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
	// The hunt worker, and a second worker that logs every event of every
	// registered type, on every topic: a team's event on a topic created
	// while dev runs (by schema push, or by the provisioner below) is
	// logged within a second or so, with no restart.
	var worker, logger *workers.Worker
	if !cfg.NoWorkers {
		worker, err = workers.New(ctx, workers.Config{
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
		logger, err = workers.New(ctx, workers.Config{
			Brokers:      cfg.KafkaAddr,
			Group:        "cairn-dev-log",
			Topics:       []string{workers.AllTopics},
			TopicRefresh: 500 * time.Millisecond,
			App:          eventlog.New(log),
			Registry:     types,
			// No producer: the log is an observer. The hunt worker
			// dead-letters a poison record once; the log only logs that it
			// skipped it.
			Metrics: metrics,
			Logger:  log,
		})
		if err != nil {
			return err
		}
	}
	authn, err := auth.New(auth.DevConfig())
	if err != nil {
		return err
	}
	rpcMetrics, err := admin.NewGRPCMetrics(metrics, &gatewayv1.EventGateway_ServiceDesc, &huntv1.HuntService_ServiceDesc)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{Registry: types, Producer: producer, Auth: authn, Validator: validator, Metrics: metrics, Logger: log, ServerOptions: rpcMetrics.ServerOptions()})
	if err != nil {
		return err
	}
	// HuntService comes with the hunt worker: without one nothing follows
	// the derived events, and a WatchPlayer would wait for good; a client
	// of dev --no-workers is told the service is not here.
	if worker != nil {
		huntv1.RegisterHuntServiceServer(gw, hunts.HuntService())
	}
	disc, err := cfg.Etcd.client(log)
	if err != nil {
		return err
	}
	l.onStop("etcd client", func(context.Context) error { return disc.Close() })
	checks := []namedCheck{{"gateway", gw.Ready}}
	if worker != nil {
		checks = append(checks,
			namedCheck{"worker", func(context.Context) error { return worker.Healthy() }},
			namedCheck{"event log", func(context.Context) error { return logger.Healthy() }})
	}
	ready := func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			errs = append(errs, c.check(ctx))
		}
		return errors.Join(errs...)
	}
	con, err := newConsole(consoleConfig{
		title: "cairn dev", registry: registrySource{reg}, types: types,
		brokers: cfg.KafkaAddr, group: "cairn-dev", inputs: inputs,
		deadLetters: workers.DefaultDeadLetterTopic, producer: producer, metrics: metrics, log: log,
		checks: append(slices.Clone(checks), namedCheck{"registry", types.Ping}, namedCheck{"kafka", producer.Ping}),
	})
	if err != nil {
		return err
	}
	l.onStop("console", con.close)
	if err := l.start(ctx, adminComponentWith(cfg.AdminAddr, admin.Config{
		Registry: metrics, Ready: ready, Detail: gw.ReadyDetail, Logger: log, Console: con, Pprof: cfg.Pprof,
	})); err != nil {
		return err
	}
	// The gateway stops after the workers: their end closes the WatchPlayer
	// streams its port serves, and they finish their batches, derived
	// events included, first.
	if err := l.start(ctx, component{
		name:   "gateway",
		listen: cfg.GatewayAddr,
		serve:  gw.Serve,
		stop: func(ctx context.Context) error {
			gw.Shutdown(ctx)
			return nil
		},
	}); err != nil {
		return err
	}
	if worker != nil {
		if err := l.start(ctx, workerComponent("hunt worker", worker, hunts.Follow)); err != nil {
			return err
		}
		if err := l.start(ctx, workerComponent("event log", logger, nil)); err != nil {
			return err
		}
	}
	// With the hunt worker, HuntService is served on the gateway's port:
	// it is the worker role too.
	roles := []string{"gateway", "gateway", "registry", "registry"}
	if worker != nil {
		roles = append(roles, "worker", "gateway")
	}
	if err := l.start(ctx, registrationComponent(l, disc, log, roles...)); err != nil {
		return err
	}
	addrs := devAddrs{Gateway: l.addr("gateway"), Registry: l.addr("registry"), Kafka: broker.Addr(), Admin: l.addr("admin"), NoHuntService: worker == nil}
	// Its own context: it ends when the lifecycle stops it, not before.
	announceCtx, stopAnnounce := context.WithCancel(context.Background())
	defer stopAnnounce()
	if err := l.start(ctx, component{
		name: "ready announcement",
		serve: func(net.Listener) error {
			announceReady(announceCtx, stdout, addrs, ready)
			<-announceCtx.Done()
			return nil
		},
		stop: func(context.Context) error { stopAnnounce(); return nil },
	}); err != nil {
		return err
	}
	return l.wait(ctx)
}

// workerComponent runs a worker, and follow (the WatchPlayer feed) beside
// it when not nil, until stopped; the worker finishes its batches in
// progress first, and follow ends with it.
func workerComponent(name string, w *workers.Worker, follow func(context.Context)) component {
	ctx, cancel := context.WithCancel(context.Background())
	return component{
		name: name,
		serve: func(net.Listener) error {
			defer cancel()
			var feed sync.WaitGroup
			if follow != nil {
				feed.Go(func() { follow(ctx) })
			}
			err := w.Run(ctx)
			cancel() // the feed ends with the worker
			feed.Wait()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		},
		stop: func(context.Context) error { cancel(); return nil },
	}
}
