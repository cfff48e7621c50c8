package gateway

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/gateway/auth"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// serviceGuard authenticates the calls of services registered beside
// EventGateway (which authenticates its own). Health and reflection stay
// open, for load balancers and grpcurl.
type serviceGuard struct {
	auth *auth.Authenticator // nil: authentication is off
}

// open reports whether a method needs no credentials here.
func (g *serviceGuard) open(method string) bool {
	return g.auth == nil ||
		strings.HasPrefix(method, "/"+gatewayv1.EventGateway_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(method, "/grpc.health.v1.") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

func (g *serviceGuard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if g.open(info.FullMethod) {
		return handler(ctx, req)
	}
	p, err := g.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if err := ownRequest(p, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g *serviceGuard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if g.open(info.FullMethod) {
		return handler(srv, ss)
	}
	p, err := g.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &guardedStream{ServerStream: ss, p: p})
}

func (g *serviceGuard) authenticate(ctx context.Context) (*auth.Principal, error) {
	p, err := g.auth.Authenticate(ctx)
	if err != nil {
		msg := "unauthenticated"
		if errors.Is(err, auth.ErrUnauthenticated) {
			msg = err.Error()
		}
		return nil, status.Error(codes.Unauthenticated, msg)
	}
	return p, nil
}

// guardedStream checks each message the client sends.
type guardedStream struct {
	grpc.ServerStream
	p *auth.Principal
}

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return ownRequest(s.p, m)
}

// ownRequest refuses a player's request about another player: its
// player_id field, when set, must be the player's own id.
func ownRequest(p *auth.Principal, req any) error {
	m, ok := req.(proto.Message)
	if !ok || p.Kind != auth.Player {
		return nil
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("player_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return nil
	}
	if id := r.Get(fd).String(); id != "" && id != p.Subject {
		return status.Errorf(codes.PermissionDenied, "a player may ask only about themselves: player_id is not the token's subject")
	}
	return nil
}
