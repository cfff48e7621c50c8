package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/workers"
)

type devConfig struct {
	GatewayAddr     string
	KafkaAddr       string
	Partitions      int
	ShutdownTimeout time.Duration
	Log             logConfig
}

func (c *devConfig) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"gateway-addr", c.GatewayAddr}, {"kafka-addr", c.KafkaAddr}} {
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: want host:port: %w", a.flag, a.addr, err))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: port must be a number from 0 to 65535", a.flag, a.addr))
		}
	}
	if c.Partitions < 1 || c.Partitions > 1000 {
		errs = append(errs, fmt.Errorf("--partitions %d: want 1 to 1000", c.Partitions))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: want a positive duration", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

func runDev(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := devConfig{}
	fs := newFlagSet("dev", "[flags]",
		"Runs the whole system in one process: an in-memory Kafka-protocol broker, the\n"+
			"schema registry holding the hunt schemas, the gateway and a worker that logs\n"+
			"every event it consumes. Nothing is kept after it stops. Ctrl-C stops it cleanly.",
		stderr)
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", "127.0.0.1:50051", "gateway gRPC listen address")
	fs.StringVar(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "embedded Kafka broker listen address")
	fs.IntVar(&cfg.Partitions, "partitions", 3, "partitions per topic")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to wait for calls in progress and unsent records on shutdown")
	cfg.Log.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	log := cfg.Log.logger(stderr)
	return dev(ctx, cfg, log)
}

func dev(ctx context.Context, cfg devConfig, log *slog.Logger) error {
	reg, err := registry.NewMemory(schemas.Hunt()...)
	if err != nil {
		return fmt.Errorf("load hunt schemas: %w", err)
	}
	topics := reg.Topics()

	broker, err := devbroker.Start(cfg.KafkaAddr, int32(cfg.Partitions), topics...)
	if err != nil {
		return err
	}
	defer broker.Close()
	log.Info("kafka broker listening", "addr", cfg.KafkaAddr, "topics", topics, "partitions", cfg.Partitions)

	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: cfg.KafkaAddr, Logger: log})
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{Registry: reg, Producer: producer, Logger: log})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	worker, err := workers.New(workers.Config{
		Brokers:  cfg.KafkaAddr,
		Group:    "cairn-dev",
		Topics:   topics,
		Registry: reg,
		Handler:  workers.LogHandler(log),
		Logger:   log,
	})
	if err != nil {
		return err
	}

	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(workerCtx) }()
	gatewayDone := make(chan error, 1)
	go func() { gatewayDone <- gw.Serve(lis) }()
	log.Info("gateway listening", "addr", lis.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-gatewayDone:
	case runErr = <-workerDone:
		workerDone <- runErr // leave it for the wait below
	}

	// Stop taking calls, finish the ones in progress, deliver what they
	// produced, then stop consuming.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	gw.Shutdown(shutdownCtx)
	errs := []error{runErr}
	if err := producer.Close(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	stopWorker()
	if err := <-workerDone; err != nil && err != runErr {
		errs = append(errs, err)
	}
	log.Info("stopped")
	return errors.Join(errs...)
}
