package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"

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

// adminComponent serves /metrics, /healthz and /readyz on addr, the
// console on every other path when one is given, and /debug/pprof/ when
// pprof is set.
func adminComponent(addr string, pprof bool, metrics prometheus.Gatherer, ready func(context.Context) error, console http.Handler, log *slog.Logger) component {
	adm := admin.New(admin.Config{Registry: metrics, Ready: ready, Logger: log, Console: console, Pprof: pprof})
	paths := "/metrics /healthz /readyz"
	if console != nil {
		paths = "/ (console) " + paths
	}
	if pprof {
		paths += " /debug/pprof/"
	}
	return component{
		name:   "admin",
		listen: addr,
		attrs:  []any{"paths", paths},
		serve:  adm.Serve,
		stop:   adm.Shutdown,
	}
}

// grpcComponent serves srv on addr and stops it gracefully, or at once
// when the shutdown budget runs out.
func grpcComponent(name, addr string, srv *grpc.Server) component {
	return component{
		name:   name,
		listen: addr,
		serve: func(lis net.Listener) error {
			if err := srv.Serve(lis); err != nil {
				return fmt.Errorf("%s: serve: %w", name, err)
			}
			return nil
		},
		stop: func(ctx context.Context) error {
			stopGRPC(ctx, srv)
			return nil
		},
	}
}

// registrationComponent registers the role's addresses in etcd, when
// discovery is enabled, and withdraws them first on shutdown.
// roleAddrs are role, component pairs: each role is registered at the
// address where that started component listens.
func registrationComponent(l *lifecycle, disc *discovery.Client, log *slog.Logger, roleAddrs ...string) component {
	var deregister func(context.Context)
	return component{
		name: "etcd registration",
		start: func(context.Context) (string, error) {
			pairs := slices.Clone(roleAddrs)
			for i := 1; i < len(pairs); i += 2 {
				if pairs[i] = l.addr(roleAddrs[i]); pairs[i] == "" {
					return "", fmt.Errorf("etcd: register %s: no component %q listens", roleAddrs[i-1], roleAddrs[i])
				}
			}
			var err error
			deregister, err = announce(disc, log, pairs...)
			return "", err
		},
		stop: func(ctx context.Context) error {
			deregister(ctx)
			return nil
		},
	}
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
