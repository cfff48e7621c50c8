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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

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

// NewServer serves r's REST API, configured by opts, and its gRPC API,
// which checks the same credentials: registering needs a schema owner, and
// reads need a principal when opts.ProtectReads. Its gRPC server takes
// grpcOpts too (interceptors chain after the credentials check).
func NewServer(r *Registry, opts HandlerOptions, grpcOpts ...grpc.ServerOption) (*Server, error) {
	rest, err := NewHandler(r, opts)
	if err != nil {
		return nil, err
	}
	svc, err := NewGRPCService(r)
	if err != nil {
		return nil, err
	}
	auth := newAuthenticator(opts.Principals, opts.ProtectReads)
	// Schemas may be up to 4 MiB of text; leave room for the envelope.
	g := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(5 << 20), grpc.MaxSendMsgSize(16 << 20),
		grpc.UnaryInterceptor(svc.authorize(auth)), grpc.StreamInterceptor(svc.authorizeStream(auth))}, grpcOpts...)...)
	registryv1.RegisterRegistryServiceServer(g, svc)
	// Server reflection lets grpcurl and similar tools list and describe the
	// API; it is a read, so it needs a principal when reads are protected.
	reflection.Register(g)
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

// authorizeStream checks a streaming call's credentials (only server
// reflection streams) as a read, as authorize does for unary calls.
func (s *GRPCService) authorizeStream(auth *authenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if e := auth.authorize(&http.Request{Header: authHeader(ss.Context())}, read); e != nil {
			return s.status(ss.Context(), e)
		}
		return handler(srv, ss)
	}
}

// authHeader carries a call's "authorization" metadata as an HTTP header.
func authHeader(ctx context.Context) http.Header {
	h := http.Header{}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for _, v := range md.Get("authorization") {
			h.Add("Authorization", v)
		}
	}
	return h
}

// authorize checks a gRPC call's credentials (the "authorization" metadata,
// HTTP basic or bearer, as the REST API takes them) before it runs.
func (s *GRPCService) authorize(auth *authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		need := read
		if info.FullMethod == registryv1.RegistryService_Register_FullMethodName {
			need = write
		}
		if e := auth.authorize(&http.Request{Header: authHeader(ctx)}, need); e != nil {
			return nil, s.status(ctx, e)
		}
		return handler(ctx, req)
	}
}
