// Package gateway is Cairn's gRPC edge: it takes events from clients,
// checks each against its registered schema, and produces it to Kafka,
// answering only once Kafka has it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry"
)

// Registry resolves a payload's message type to its registered schema.
type Registry interface {
	Resolve(ctx context.Context, name protoreflect.FullName) (*registry.Type, error)
}

// Producer hands a record to Kafka and waits for its acknowledgement.
type Producer interface {
	Produce(ctx context.Context, r kafkax.Record) (kafkax.Position, error)
}

// Config holds what a gateway needs. Registry and Producer are required.
type Config struct {
	Registry Registry
	Producer Producer
	// Logger receives one line per rejected or failed call; nil means
	// slog.Default(). Payloads are never logged.
	Logger *slog.Logger
	// ServerOptions are added to the gRPC server's.
	ServerOptions []grpc.ServerOption
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports what is missing from c.
func (c *Config) Validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("gateway: no registry"))
	}
	if c.Producer == nil {
		errs = append(errs, errors.New("gateway: no producer"))
	}
	return errors.Join(errs...)
}

// Server serves the EventGateway service with the standard health service
// and server reflection beside it.
//
// Server is safe for concurrent use.
type Server struct {
	gatewayv1.UnimplementedEventGatewayServer

	cfg       Config
	validator protovalidate.Validator
	grpc      *grpc.Server
	health    *health.Server
}

// New builds a server. It does not listen until Serve.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("gateway: build validator: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		validator: validator,
		grpc:      grpc.NewServer(cfg.ServerOptions...),
		health:    health.NewServer(),
	}
	gatewayv1.RegisterEventGatewayServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s, nil
}

// RegisterService serves another gRPC service on the gateway's port, such
// as the workers' HuntService in `cairn dev`. Call it before Serve.
func (s *Server) RegisterService(sd *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(sd, impl)
}

// Serve accepts connections on lis until Shutdown. It returns nil after a
// Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(gatewayv1.EventGateway_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// Shutdown stops taking new calls and waits for calls in progress to finish,
// until ctx ends; then it cancels what is left.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown() // report NOT_SERVING so balancers move away
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
}
