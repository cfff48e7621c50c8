package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
)

// Server serves the registry's REST API and, on the same address, its gRPC
// API: HTTP/2 requests (cleartext, prior knowledge, as gRPC clients send
// them) with content type application/grpc go to gRPC, every other request
// to REST.
//
// Server is safe for concurrent use.
type Server struct {
	http *http.Server
	grpc *grpc.Server
}

// NewServer serves r's gRPC API beside rest, the REST handler.
func NewServer(r *Registry, rest http.Handler) (*Server, error) {
	svc, err := NewGRPCService(r)
	if err != nil {
		return nil, err
	}
	// Schemas may be up to 4 MiB of text; leave room for the envelope.
	g := grpc.NewServer(grpc.MaxRecvMsgSize(5<<20), grpc.MaxSendMsgSize(16<<20))
	registryv1.RegisterRegistryServiceServer(g, svc)
	mux := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.ProtoMajor == 2 && strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc") {
			g.ServeHTTP(w, req)
			return
		}
		rest.ServeHTTP(w, req)
	})
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &Server{
		http: &http.Server{
			Handler:           mux,
			Protocols:         &protocols,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		grpc: g,
	}, nil
}

// Serve answers requests on lis until Shutdown; then it returns nil.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("registry: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests and waits for those in progress until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.grpc.Stop() // its calls ran inside the HTTP server, now drained
	return err
}
