package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/admin"
	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/workers"
)

type gatewayConfig struct {
	GatewayAddr        string
	Pprof              bool // serve /debug/pprof/ on the admin address
	AdminAddr          string
	KafkaBrokers       string
	RegistryAddr       string
	RegistryToken      string
	AuthFile           string
	TLSCert, TLSKey    string
	ClientCA           string
	AllowUnknownFields bool
	RatePerSecond      float64
	RateBurst          int
	ReturnIdleMemory   bool // hand the heap's free pages back when quiet after a load; two malloc arenas
	ShutdownTimeout    time.Duration
	Log                logConfig
	Etcd               etcdConfig
}

func (c *gatewayConfig) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"gateway-addr", c.GatewayAddr}, {"admin-addr", c.AdminAddr}} {
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
	if c.AuthFile == "" {
		errs = append(errs, errors.New("--auth-file: required; the gateway does not run open outside cairn dev"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.ClientCA != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("--client-ca needs --tls-cert and --tls-key"))
	}
	if c.RatePerSecond < 0 || c.RateBurst < 0 {
		errs = append(errs, errors.New("--rate and --burst must not be negative"))
	}
	if err := checkPositive("shutdown-timeout", c.ShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := gatewayConfig{}
	fs := newFlagSet("gateway", "[flags]",
		"Runs the gateway alone, against a Kafka cluster and a schema registry (its gRPC\n"+
			"API, on the registry's address). Gateways keep no state: run as many as needed.\n"+
			"--auth-file says who may call and what each role may publish; see the README.",
		stderr)
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", "127.0.0.1:50051", "gRPC listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:9464", "admin HTTP listen address: the console on /, /metrics, /healthz, /readyz")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve Go profiles on the admin address under /debug/pprof/")
	fs.StringVar(&cfg.KafkaBrokers, "kafka-brokers", "", "Kafka bootstrap servers, host:port separated by commas")
	fs.StringVar(&cfg.RegistryAddr, "registry-addr", "127.0.0.1:8081", "schema registry address (its gRPC API), or etcd:///registry")
	fs.StringVar(&cfg.RegistryToken, "registry-token", "", "API key for the registry, when it protects reads")
	fs.StringVar(&cfg.AuthFile, "auth-file", "", "JSON file of JWT keys, API keys, certificate names and roles")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&cfg.ClientCA, "client-ca", "", "CA file (PEM) for services' client certificates")
	fs.BoolVar(&cfg.AllowUnknownFields, "allow-unknown-fields", false, "accept payload fields the registered schema does not declare")
	fs.Float64Var(&cfg.RatePerSecond, "rate", 0, "events per second allowed to each principal; 0 means no limit")
	fs.IntVar(&cfg.RateBurst, "burst", 0, "events a principal may send at once above --rate")
	fs.BoolVar(&cfg.ReturnIdleMemory, "return-idle-memory", true, "keep less memory after a load: give the Go heap's free memory back to the system when the gateway goes quiet, and keep the C allocator (Kafka's client) to two arenas")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to wait for calls in progress and unsent records on shutdown")
	cfg.Log.register(fs)
	cfg.Etcd.registerRole(fs)
	if err := parseConfig(fs, args, &cfg); err != nil {
		return err
	}
	authCfg, err := readAuthFile(cfg.AuthFile)
	if err != nil {
		return usageError{err}
	}
	var serverOpts []grpc.ServerOption
	if cfg.TLSCert != "" {
		creds, err := serverTLS(cfg.TLSCert, cfg.TLSKey, cfg.ClientCA)
		if err != nil {
			return usageError{err}
		}
		serverOpts = append(serverOpts, grpc.Creds(creds))
	}
	log := cfg.Log.logger(stderr)
	stopTracing, err := startTracing(ctx, "gateway", stdout, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	return gatewayRole(ctx, cfg, authCfg, serverOpts, log)
}

// gatewayRole runs the gateway until ctx ends or a part of it fails.
func gatewayRole(ctx context.Context, cfg gatewayConfig, authCfg auth.Config, serverOpts []grpc.ServerOption, log *slog.Logger) (err error) {
	authn, err := auth.New(authCfg)
	if err != nil {
		return err
	}
	l := newLifecycle(log, cfg.ShutdownTimeout)
	defer l.close(&err)
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
	if cfg.ReturnIdleMemory {
		// The C side's counterpart: fewer arenas keep less freed memory.
		kafkax.LimitMallocArenas(2)
	}
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: cfg.KafkaBrokers, Logger: log})
	if err != nil {
		return err
	}
	// Last to stop: it delivers what the gateway's finished calls produced.
	l.onStop("kafka producer", producer.Close)
	metrics := newMetrics()
	gw, err := gateway.New(gateway.Config{
		Registry:           types,
		Producer:           producer,
		Auth:               authn,
		Logger:             log,
		ServerOptions:      serverOpts,
		AllowUnknownFields: cfg.AllowUnknownFields,
		RateLimit:          gateway.RateLimit{PerSecond: cfg.RatePerSecond, Burst: cfg.RateBurst},
		Metrics:            metrics,
	})
	if err != nil {
		return err
	}
	con, err := newConsole(consoleConfig{
		title:       "cairn gateway",
		registry:    remoteRegistrySource{registryv1.NewRegistryServiceClient(conn), regclient.NewRemote(conn)},
		types:       types,
		brokers:     cfg.KafkaBrokers,
		deadLetters: workers.DefaultDeadLetterTopic,
		producer:    producer,
		metrics:     metrics,
		log:         log,
		checks: []namedCheck{
			{"gateway", gw.Ready}, {"registry", types.Ping}, {"kafka", producer.Ping},
		},
	})
	if err != nil {
		return err
	}
	l.onStop("console", con.close)
	if err := l.start(ctx, adminComponentWith(cfg.AdminAddr, admin.Config{
		Registry: metrics, Ready: gw.Ready, Detail: gw.ReadyDetail, Logger: log, Console: con, Pprof: cfg.Pprof,
	})); err != nil {
		return err
	}
	if err := l.start(ctx, component{
		name:   "gateway",
		listen: cfg.GatewayAddr,
		attrs:  []any{"kafka", cfg.KafkaBrokers, "registry", cfg.RegistryAddr, "tls", cfg.TLSCert != ""},
		serve:  gw.Serve,
		stop: func(ctx context.Context) error {
			gw.Shutdown(ctx)
			return nil
		},
	}); err != nil {
		return err
	}
	if err := l.start(ctx, registrationComponent(l, disc, log, "gateway", "gateway")); err != nil {
		return err
	}
	if cfg.ReturnIdleMemory {
		if err := l.start(ctx, newIdleMemory().component()); err != nil {
			return err
		}
	}
	return l.wait(ctx)
}
