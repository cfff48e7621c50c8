package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/cairnhq/cairn/internal/admin"
	"github.com/cairnhq/cairn/internal/sqldb"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
)

type registryConfig struct {
	Addr            string
	AdminAddr       string
	DatabaseURL     string
	CredentialsFile string
	ProtectReads    bool
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	Log             logConfig
	Etcd            etcdConfig
}

func (c *registryConfig) Validate() error {
	var errs []error
	if err := checkAddr("registry-addr", c.Addr); err != nil {
		errs = append(errs, err)
	}
	if err := checkAddr("admin-addr", c.AdminAddr); err != nil {
		errs = append(errs, err)
	}
	if err := c.Etcd.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url: want a SQLite path or a postgres:// URL"))
	} else if err := sqldb.CheckURL(c.DatabaseURL); err != nil {
		errs = append(errs, fmt.Errorf("--database-url: %w", err))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("--max-body-bytes %d: want at least 1024", c.MaxBodyBytes))
	}
	if c.ProtectReads && c.CredentialsFile == "" {
		errs = append(errs, errors.New("--protect-reads needs --credentials-file"))
	}
	if err := checkPositive("shutdown-timeout", c.ShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func runRegistry(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := registryConfig{}
	fs := newFlagSet("registry", "[flags]",
		"Runs the schema registry alone: Confluent's REST API and Cairn's gRPC API\n"+
			"(cairn.registry.v1.RegistryService) on one address, schemas in --database-url.\n"+
			"Several instances may share one PostgreSQL database.\n\n"+
			"Without --credentials-file anyone may read and write. The file is a JSON list of\n"+
			"principals; writes need the schema-owner role:\n"+
			"  [{\"name\": \"ci\", \"username\": \"ci\", \"password\": \"…\", \"role\": \"schema-owner\"},\n"+
			"   {\"name\": \"gateway\", \"api_key\": \"…\", \"role\": \"reader\"}]",
		stderr)
	fs.StringVar(&cfg.Addr, "registry-addr", "127.0.0.1:8081", "REST and gRPC listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:9466", "admin HTTP listen address: the console on /, /metrics, /healthz, /readyz")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "sqlite:cairn-registry.db", "database: sqlite:PATH or postgres://…")
	fs.StringVar(&cfg.CredentialsFile, "credentials-file", "", "JSON file of principals allowed to use the API")
	fs.BoolVar(&cfg.ProtectReads, "protect-reads", false, "require credentials for reads too")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", registry.DefaultMaxBodyBytes, "largest request body accepted")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to wait for requests in progress on shutdown")
	cfg.Log.register(fs)
	cfg.Etcd.registerRole(fs)
	if err := parseConfig(fs, args, &cfg); err != nil {
		return err
	}
	opts := registry.HandlerOptions{MaxBodyBytes: cfg.MaxBodyBytes, ProtectReads: cfg.ProtectReads}
	if cfg.CredentialsFile != "" {
		principals, err := readPrincipals(cfg.CredentialsFile)
		if err != nil {
			return usageError{err}
		}
		opts.Principals = principals
	}
	log := cfg.Log.logger(stderr)
	opts.Logger = log
	return registryRole(ctx, cfg, opts, log)
}

// registryRole runs the registry until ctx ends or a part of it fails.
func registryRole(ctx context.Context, cfg registryConfig, opts registry.HandlerOptions, log *slog.Logger) (err error) {
	l := newLifecycle(log, cfg.ShutdownTimeout)
	defer l.close(&err)
	db, err := sqldb.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	l.onStop("registry database", func(context.Context) error { return db.Close() })
	reg, err := registry.Open(ctx, registry.Options{DB: db, Logger: log})
	if err != nil {
		return err
	}
	l.onStop("registry store", func(context.Context) error { reg.Close(); return nil })
	disc, err := cfg.Etcd.client(log)
	if err != nil {
		return err
	}
	l.onStop("etcd client", func(context.Context) error { return disc.Close() })
	metrics := newMetrics()
	con, err := newConsole(consoleConfig{
		title:    "cairn registry",
		registry: registrySource{reg},
		metrics:  metrics,
		log:      log,
		checks: []namedCheck{
			{"database", db.PingContext},
		},
	})
	if err != nil {
		return err
	}
	l.onStop("console", con.close)
	if err := l.start(ctx, adminComponent(cfg.AdminAddr, false, metrics, nil, con, log)); err != nil {
		return err
	}
	regComp, err := registryComponent(reg, opts, cfg.Addr, log, metrics)
	if err != nil {
		return err
	}
	if err := l.start(ctx, regComp); err != nil {
		return err
	}
	if err := l.start(ctx, registrationComponent(l, disc, log, "registry", "registry")); err != nil {
		return err
	}
	return l.wait(ctx)
}

// registryComponent serves the registry's REST and gRPC APIs on addr.
// Its gRPC calls are counted in metrics, when not nil.
func registryComponent(reg *registry.Registry, opts registry.HandlerOptions, addr string, log *slog.Logger, metrics prometheus.Registerer) (component, error) {
	var grpcOpts []grpc.ServerOption
	if metrics != nil {
		gm, err := admin.NewGRPCMetrics(metrics, &registryv1.RegistryService_ServiceDesc)
		if err != nil {
			return component{}, err
		}
		grpcOpts = gm.ServerOptions()
	}
	srv, err := registry.NewServer(reg, opts, grpcOpts...)
	if err != nil {
		return component{}, err
	}
	return component{
		name:   "registry",
		listen: addr,
		attrs:  []any{"auth", len(opts.Principals) > 0},
		serve:  srv.Serve,
		stop:   srv.Shutdown,
	}, nil
}

// readPrincipals reads a credentials file: a JSON list of principals.
func readPrincipals(path string) ([]registry.Principal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--credentials-file: %w", err)
	}
	var entries []struct {
		Name     string `json:"name"`
		Username string `json:"username"`
		Password string `json:"password"`
		APIKey   string `json:"api_key"`
		Role     string `json:"role"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("--credentials-file %s: %w", path, err)
	}
	principals := make([]registry.Principal, 0, len(entries))
	for _, e := range entries {
		principals = append(principals, registry.Principal{Name: e.Name, Username: e.Username, Password: e.Password, APIKey: e.APIKey, Role: registry.Role(e.Role)})
	}
	if err := (registry.HandlerOptions{Principals: principals}).Validate(); err != nil {
		return nil, fmt.Errorf("--credentials-file %s: %w", path, err)
	}
	return principals, nil
}
