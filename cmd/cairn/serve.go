package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnhq/cairn/internal/admin"
	"github.com/cairnhq/cairn/internal/buildinfo"
	"github.com/cairnhq/cairn/internal/discovery"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// newMetrics returns a metrics registry with the process's own metrics and
// cairn_build_info.
func newMetrics() *prometheus.Registry {
	return admin.NewRegistry(buildinfo.Read())
}

// startAdmin serves /metrics, /healthz and /readyz on addr, and
// /debug/pprof/ when pprof is set, until the returned stop is called.
func startAdmin(addr string, pprof bool, metrics prometheus.Gatherer, ready func(context.Context) error, log *slog.Logger) (stop func(context.Context) error, err error) {
	return startAdminWith(addr, admin.Config{Registry: metrics, Ready: ready, Logger: log, Pprof: pprof})
}

// startAdminWith serves the admin endpoints cfg describes on addr, until
// the returned stop is called.
func startAdminWith(addr string, cfg admin.Config) (stop func(context.Context) error, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	adm := admin.New(cfg)
	done := make(chan error, 1)
	go func() { done <- adm.Serve(lis) }()
	paths := "/metrics /healthz /readyz"
	if cfg.Console != nil {
		paths = "/ (console) " + paths
	}
	if cfg.Pprof {
		paths += " /debug/pprof/"
	}
	cfg.Logger.Info("admin listening", "addr", lis.Addr().String(), "paths", paths)
	return func(ctx context.Context) error {
		return errors.Join(adm.Shutdown(ctx), <-done)
	}, nil
}

// registryClient reads the registry at addr (host:port or etcd:///registry)
// over its gRPC API, sending token, if any, as a bearer credential.
func registryClient(disc *discovery.Client, addr, token string) (*regclient.Client, *grpc.ClientConn, error) {
	conn, err := dialRegistry(disc, addr, token)
	if err != nil {
		return nil, nil, err
	}
	return regclient.NewClient(regclient.NewRemote(conn), 0), conn, nil
}

// dialRegistry connects to the registry's gRPC API at addr.
func dialRegistry(disc *discovery.Client, addr, token string) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := disc.Dial(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", addr, err)
	}
	return conn, nil
}

// bearer sends a token as "authorization: Bearer …" on every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the registry is reached on a private
// network, as the README says; put TLS in front of it otherwise.
func (bearer) RequireTransportSecurity() bool { return false }

// serverTLS builds the gateway's TLS settings: its certificate, and, with a
// client CA, verification of the client certificates services present.
func serverTLS(certFile, keyFile, clientCAFile string) (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--client-ca %s: no certificates in it", clientCAFile)
		}
		cfg.ClientCAs = pool
		// Players come without certificates; services may bring one.
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return credentials.NewTLS(cfg), nil
}

// stopGRPC stops srv gracefully, or at once when ctx ends first.
func stopGRPC(ctx context.Context, srv *grpc.Server) {
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		srv.Stop()
		<-stopped
	}
}

// openRegistry opens the registry whose schemas the database at url holds.
// close closes both.
func openRegistry(ctx context.Context, url string, log *slog.Logger) (reg *registry.Registry, close func(), err error) {
	db, err := sqldb.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	reg, err = registry.Open(ctx, registry.Options{DB: db, Logger: log})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return reg, func() { reg.Close(); db.Close() }, nil
}
