package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/cairnhq/cairn/internal/admin"
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

func runRegistry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:9466", "admin HTTP listen address: /metrics, /healthz, /readyz")
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
	stopTracing, err := startTracing(ctx, "registry", stdout, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	reg, closeRegistry, err := openRegistry(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer closeRegistry()
	disc, err := cfg.Etcd.client(log)
	if err != nil {
		return err
	}
	defer disc.Close()
	metrics := newMetrics()
	stop, err := serveRegistry(reg, opts, cfg.Addr, log, metrics)
	if err != nil {
		return err
	}
	stopAdmin, err := startAdmin(cfg.AdminAddr, false, metrics, nil, log)
	if err != nil {
		return errors.Join(err, stop(ctx))
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := stopAdmin(ctx); err != nil {
			log.Warn("admin shutdown", "error", err)
		}
	}()
	deregister, err := announce(disc, log, "registry", cfg.Addr)
	if err != nil {
		return errors.Join(err, stop(ctx))
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	deregister(shutdownCtx)
	return stop(shutdownCtx)
}

// serveRegistry serves the registry's REST and gRPC APIs on addr until the
// returned stop is called.
// Its gRPC calls are counted in metrics, when not nil.
func serveRegistry(reg *registry.Registry, opts registry.HandlerOptions, addr string, log *slog.Logger, metrics prometheus.Registerer) (stop func(context.Context) error, err error) {
	var grpcOpts []grpc.ServerOption
	if metrics != nil {
		gm, err := admin.NewGRPCMetrics(metrics, &registryv1.RegistryService_ServiceDesc)
		if err != nil {
			return nil, err
		}
		grpcOpts = gm.ServerOptions()
	}
	srv, err := registry.NewServer(reg, opts, grpcOpts...)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	log.Info("registry listening", "addr", lis.Addr().String(), "auth", len(opts.Principals) > 0)
	return func(ctx context.Context) error {
		return errors.Join(srv.Shutdown(ctx), <-done)
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
